"""Helpers shared by the test suites: PostgreSQL servers and a configured project stack.

Fixtures live in ``conftest.py``; the classes and functions they are built from live here so
that test modules can import them (``from stack_support import ...``).
"""

from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from extract.emulator import EmulatorServer
from spotify_elt.config import Settings, load_settings
from spotify_elt.db import with_credentials
from spotify_elt.extraction import (
    Credentials,
    ExtractSummary,
    credentials_from_vault,
    run_extract,
)
from spotify_elt.vault import CLIENT_SECRET, Vault

#: Chromium's switches for a headless run on a CI machine (no sandbox, GPU or network chatter).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)

#: The charts of the listening report (one PNG each).
REPORT_CHARTS = {
    "listening_clock",
    "top_artists",
    "top_tracks",
    "genre_mix",
    "discovery_rate",
    "release_decades",
    "session_lengths",
    "top_rank_history",
    "listening_habits",
}


def outside_pytest_tmp(prefix: str) -> Path:
    """A fresh directory that is not under pytest's basetemp.

    pgserver runs PostgreSQL as another OS user (when root) that must traverse every parent of
    its data directory, while every pytest session (a concurrent one, too) resets
    /tmp/pytest-of-<user> to mode 0700. Embedded servers of the tests therefore live elsewhere.
    """
    return Path(tempfile.mkdtemp(prefix=prefix))


@dataclass
class PgServer:
    """A server for tests: ``admin_url`` points at a database of this test session."""

    kind: str
    admin_url: str

    def fresh_database(self) -> str:
        """Create an empty database on this server and return its admin URL."""
        name = f"spotify_elt_t_{secrets.token_hex(4)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return with_credentials_keep(self.admin_url, name)


def with_credentials_keep(url: str, database: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return with_credentials(url, parts.username or "postgres", parts.password, database)


def assert_real_image(path: Path, min_size: tuple[int, int] = (400, 250)) -> Any:
    """Assert ``path`` is a PNG of at least ``min_size`` that is not blank; return its pixels."""
    import numpy as np
    from matplotlib import image as mpimg

    pixels = mpimg.imread(path)
    height, width = pixels.shape[:2]
    assert width >= min_size[0] and height >= min_size[1], (path, width, height)
    # Not blank: a real picture has many distinct colours and visible contrast.
    assert float(pixels[..., :3].std()) > 0.02, path
    assert len(np.unique(pixels[..., :3].reshape(-1, 3), axis=0)) > 20, path
    return pixels


def headless_chromium(url: str, profile: Path, *args: str, timeout: int = 120) -> str:
    """Run Debian's chromium headless on ``url`` with ``args`` (``--screenshot=...``,
    ``--dump-dom``); return its stdout. Fails the test when chromium is missing."""
    import shutil
    import subprocess

    import pytest

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("Debian's chromium is needed (.ci/run installs it)")
    proc = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, url],
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc.stdout


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SMALL_LIBRARY = {
    "seed": 7,
    "scale": 5_000,
    "saved_tracks": 120,
    "saved_albums": 12,
    "followed_artists": 20,
    "owned_playlists": 3,
    "collaborative_playlists": 1,
    "followed_playlists": 3,
}

#: The bronze tables an extraction loads and their natural keys (the sources' primary keys).
SPOTIFY_BRONZE_KEYS: dict[str, tuple[str, ...]] = {
    "recently_played": ("played_at", "track_id"),
    "top_artists": ("snapshot_date", "time_range", "rank"),
    "top_tracks": ("snapshot_date", "time_range", "rank"),
    "saved_tracks": ("track_id",),
    "saved_albums": ("album_id",),
    "followed_artists": ("artist_id",),
    "playlists": ("playlist_id",),
    "playlist_items": ("playlist_id", "position"),
    "albums": ("album_id",),
    "album_tracks": ("album_id", "track_id"),
    "artists": ("artist_id",),
    "tracks": ("track_id",),
}
#: What orders and identifies the rows of those tables when two runs are compared, as SQL
#: column lists: the natural key and, for the top lists, the artist or track holding the rank.
BRONZE_SORT_KEYS: dict[str, str] = {
    table: ", ".join(
        keys + {"top_artists": ("artist_id",), "top_tracks": ("track_id",)}.get(table, ())
    )
    for table, keys in SPOTIFY_BRONZE_KEYS.items()
}


@dataclass
class SpotifyStack:
    """A configured project: settings, an initialised database and vault, a logged-in user."""

    settings: Settings
    vault: Vault
    emulator: EmulatorServer
    admin_url: str

    def env(self) -> dict[str, str]:
        """Environment variables that configure a CLI subprocess exactly like ``settings``."""
        return home_env(self.settings, self.admin_url)

    def credentials(self) -> Credentials:
        return credentials_from_vault(self.settings, self.vault)

    def extract(self, **kwargs: Any) -> ExtractSummary:
        return run_extract(self.settings, self.vault, self.credentials(), **kwargs)

    def count(self, table: str, where: str = "true") -> int:
        with psycopg.connect(self.admin_url) as conn:
            row = conn.execute(f"SELECT count(*) FROM bronze.{table} WHERE {where}").fetchone()
        return int(row[0]) if row else 0


def make_home(
    root: Path,
    admin_url: str,
    *,
    client_secret: str | None = None,
    login: bool = False,
    **overrides: Any,
) -> tuple[Settings, Vault]:
    """A project in ``root`` (``config/``, ``data/``, ``state/``) on the database ``admin_url``:
    its vault (holding ``client_secret`` when given) and its database initialised; with
    ``login``, logged in headlessly at the accounts service of the settings (the emulator's).

    Shared with the bench (``bench/run.py``), which configures its projects the same way.
    """
    import requests

    from spotify_elt.db import init_database
    from spotify_elt.login import login as do_login

    values: dict[str, Any] = {
        "config_dir": root / "config",
        "data_dir": root / "data",
        "state_dir": root / "state",
        "database_url": admin_url,
        **overrides,
    }
    settings = load_settings(environ={}, **values)
    vault = Vault.from_settings(settings)
    vault.init()
    if client_secret is not None:
        vault.set(CLIENT_SECRET, client_secret)
    # Every database has roles of its own: initialising one project never locks out another.
    init_database(admin_url, vault)
    if login:
        do_login(
            settings,
            vault,
            client_id=str(settings.client_id),
            show_url=lambda url: None,
            open_browser=lambda url: requests.get(url, timeout=30),
        )
    return settings, vault


def home_env(settings: Settings, admin_url: str) -> dict[str, str]:
    """Environment variables that configure a CLI subprocess exactly like ``settings``."""
    s = settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOTIFY_ELT_")}
    env.update(
        SPOTIFY_ELT_CONFIG_DIR=str(s.config_dir),
        SPOTIFY_ELT_DATA_DIR=str(s.data_dir),
        SPOTIFY_ELT_STATE_DIR=str(s.state_dir),
        SPOTIFY_ELT_DATABASE_URL=admin_url,
        SPOTIFY_ELT_ACCOUNTS_URL=s.accounts_url,
        SPOTIFY_ELT_API_URL=s.api_url,
        SPOTIFY_ELT_CLIENT_ID=s.client_id or "",
        SPOTIFY_ELT_REDIRECT_URI=s.redirect_uri,
        SPOTIFY_ELT_RATE_BUDGET=str(s.rate_budget),
        SPOTIFY_ELT_API_MODE=s.api_mode,
        SPOTIFY_ELT_BACKOFF_SECONDS=str(s.backoff_seconds),
    )
    return env


def make_stack(
    root: Path,
    admin_url: str,
    emulator: EmulatorServer,
    *,
    login: bool = True,
    **overrides: Any,
) -> SpotifyStack:
    """Configure, initialise and (headlessly) log in a project against ``emulator``."""
    values: dict[str, Any] = {
        "accounts_url": emulator.accounts_url,
        "api_url": emulator.api_url,
        "client_id": emulator.state.config.client_id,
        "redirect_uri": f"http://127.0.0.1:{free_port()}/callback",
        "rate_budget": 100_000,
        "backoff_seconds": 0.05,
    }
    values.update(overrides)
    settings, vault = make_home(
        root, admin_url, client_secret=emulator.state.config.client_secret, login=login, **values
    )
    return SpotifyStack(settings, vault, emulator, admin_url)
