"""The ``--emulator/--spotify`` option shared by the commands that work on a target's data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..config import Settings, load_settings
from ..target import EMULATOR, SPOTIFY, Target, choose

F = TypeVar("F", bound=Callable[..., Any])


def target_option(func: F) -> F:
    """Add ``--emulator/--spotify`` (parameter ``use_emulator``, None when not given)."""
    return click.option(
        "--emulator/--spotify",
        "use_emulator",
        default=None,
        help="Work on the demo's data (the local emulator's) or on your Spotify data. Default: "
        "the target setting, else the last `spotify-elt run`'s (see `spotify-elt config show`).",
    )(func)


def resolve_target(
    use_emulator: bool | None, settings: Settings | None = None, *, announce: bool = True
) -> Target:
    """The target of this invocation: the flag if given, else the configured or last one.

    With ``announce`` the command's output starts by saying which data it works on (stderr
    stays for errors: one sentence each).
    """
    explicit = None if use_emulator is None else (EMULATOR if use_emulator else SPOTIFY)
    target = choose(settings or load_settings(), explicit)
    if announce:
        click.echo(f"target: {target.describe()}")
    return target
