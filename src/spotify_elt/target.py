"""The current target: whose data the commands work on, the emulator's (demo) or Spotify's.

The demo keeps its data apart from a real account's (on the embedded server, its own database
``spotify_elt_demo``). Every command that reads or builds data (``transform``, ``report``,
``docs``, ``catalog``, ``db``, ``export``) works on one target, chosen, highest first, by:

1. the command's ``--emulator`` / ``--spotify`` flag;
2. the ``target`` setting (``SPOTIFY_ELT_TARGET`` or ``config.toml``), unless ``auto``;
3. the target of the last ``spotify-elt run``, remembered in ``<state_dir>/current_target``;
4. Spotify when a client id is configured, else the emulator (what ``run`` itself picks).

``run`` uses 1, 2 and 4 only (the last run must not decide the next one once a client id is
configured), and remembers the target it used for the commands after it.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from .config import Settings

EMULATOR = "emulator"
SPOTIFY = "spotify"
TARGETS = (EMULATOR, SPOTIFY)
#: The demo's database on the embedded server (``spotify_elt.demo`` uses it too).
DEMO_DATABASE = "spotify_elt_demo"
_STATE_FILE = "current_target"


@dataclass(frozen=True)
class Target:
    """A resolved target: its name, why it was chosen, and the settings of its database."""

    name: str
    reason: str
    settings: Settings

    @property
    def database(self) -> str:
        """The database name, for messages (an external DSN names its own)."""
        if self.settings.database_url:
            from .dsn import Dsn

            return Dsn.parse(self.settings.database_url).database or "(none)"
        return self.settings.database_name

    @property
    def is_emulator(self) -> bool:
        return self.name == EMULATOR

    def describe(self) -> str:
        """``emulator (database 'spotify_elt_demo'; from the last `spotify-elt run`)``."""
        return f"{self.name} (database {self.database!r}; {self.reason})"


def settings_for(settings: Settings, name: str) -> Settings:
    """The settings whose database holds ``name``'s data.

    On the embedded server the demo has its own database; an external DSN names one database,
    which both targets then share (its own pipeline state keeps the demo's loads apart).
    """
    if name == EMULATOR and not settings.database_url:
        return dataclasses.replace(settings, database_name=DEMO_DATABASE)
    return settings


def state_file(settings: Settings) -> Path:
    return Path(settings.state_dir) / _STATE_FILE


def remembered(settings: Settings) -> str | None:
    """The target of the last ``spotify-elt run``, if any (an unreadable file counts as none)."""
    try:
        value = state_file(settings).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return value if value in TARGETS else None


def remember(settings: Settings, name: str) -> None:
    """Record ``name`` as the current target (after a ``run`` built its data)."""
    if name not in TARGETS:
        raise ValueError(name)
    path = state_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(name + "\n", encoding="utf-8")
    os.replace(tmp, path)


def choose(settings: Settings, explicit: str | None = None, *, use_last_run: bool = True) -> Target:
    """Resolve the target (see the module docstring for the order)."""
    if explicit is not None:
        if explicit not in TARGETS:
            raise ValueError(explicit)
        name, reason = explicit, f"--{explicit}"
    elif settings.target != "auto":
        name, reason = settings.target, "the target setting"
    elif use_last_run and (last := remembered(settings)) is not None:
        name, reason = last, "the last `spotify-elt run`"
    elif settings.client_id:
        name, reason = SPOTIFY, "a client id is configured"
    else:
        name, reason = EMULATOR, "no client id is configured"
    return Target(name, reason, settings_for(settings, name))
