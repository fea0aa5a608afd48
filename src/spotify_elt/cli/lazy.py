"""Command groups whose commands are imported from their modules only when used."""

from __future__ import annotations

import importlib
from typing import Any


class LazyCommands(dict[str, Any]):
    """A group's commands, each imported from its module only when that command is used.

    ``spotify-elt emulator serve`` then imports the emulator alone, not dbt, dlt and Airflow
    (seconds of start-up); listing names imports nothing, ``--help`` imports them all.
    """

    def __init__(self, where: dict[str, tuple[str, str]]) -> None:
        super().__init__(dict.fromkeys(where))
        self._where = where

    def _load(self, name: str) -> Any:
        command = dict.__getitem__(self, name)
        if command is None:
            module, attribute = self._where[name]
            command = getattr(importlib.import_module(module, __package__), attribute)
            dict.__setitem__(self, name, command)
        return command

    def __getitem__(self, name: str) -> Any:
        return self._load(name)

    def get(self, name: str, default: Any = None) -> Any:
        return self._load(name) if name in self else default

    def values(self) -> Any:
        return [self._load(name) for name in self]

    def items(self) -> Any:
        return [(name, self._load(name)) for name in self]
