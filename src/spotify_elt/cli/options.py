"""Click options shared by the ``emulator`` commands (``serve`` and ``export-history``).

Each command states what the option means to it (``help``); the name, type and default are the
same everywhere, so an export generated with the options of a served emulator matches it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


class _Timestamp(click.DateTime):
    """``click.DateTime`` whose value is always timezone-aware: UTC when it has no offset."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        moment = super().convert(value, param, ctx)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


#: A moment on the command line: UTC when it has no offset.
TIMESTAMP = _Timestamp(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"])


def seed_option(help: str) -> Callable[[F], F]:
    return click.option("--seed", default=0, show_default=True, type=int, help=help)


def scale_option(help: str) -> Callable[[F], F]:
    return click.option(
        "--scale", default=20_000, show_default=True, type=click.IntRange(min=1), help=help
    )


def plays_per_hour_option(help: str) -> Callable[[F], F]:
    return click.option(
        "--plays-per-hour",
        type=click.FloatRange(min=0),
        default=12.0,
        show_default=True,
        help=help,
    )
