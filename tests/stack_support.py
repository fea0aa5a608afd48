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
from spotify_elt.db import ROLES, with_credentials
from spotify_elt.extraction import (
    Credentials,
    ExtractSummary,
    credentials_from_vault,
    run_extract,
)
from spotify_elt.vault import CLIENT_SECRET, Vault

ROLE_PASSWORDS = {role: secrets.token_urlsafe(24) for role in ROLES}

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


@dataclass
class SpotifyStack:
    """A configured project: settings, an initialised database and vault, a logged-in user."""

    settings: Settings
    vault: Vault
    emulator: EmulatorServer
    admin_url: str

    def env(self) -> dict[str, str]:
        """Environment variables that configure a CLI subprocess exactly like ``settings``."""
        s = self.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPOTIFY_ELT_")}
        env.update(
            SPOTIFY_ELT_CONFIG_DIR=str(s.config_dir),
            SPOTIFY_ELT_DATA_DIR=str(s.data_dir),
            SPOTIFY_ELT_STATE_DIR=str(s.state_dir),
            SPOTIFY_ELT_DATABASE_URL=self.admin_url,
            SPOTIFY_ELT_ACCOUNTS_URL=s.accounts_url,
            SPOTIFY_ELT_API_URL=s.api_url,
            SPOTIFY_ELT_CLIENT_ID=s.client_id or "",
            SPOTIFY_ELT_REDIRECT_URI=s.redirect_uri,
            SPOTIFY_ELT_RATE_BUDGET=str(s.rate_budget),
            SPOTIFY_ELT_API_MODE=s.api_mode,
            SPOTIFY_ELT_BACKOFF_SECONDS=str(s.backoff_seconds),
        )
        return env

    def credentials(self) -> Credentials:
        return credentials_from_vault(self.settings, self.vault)

    def extract(self, **kwargs: Any) -> ExtractSummary:
        return run_extract(self.settings, self.vault, self.credentials(), **kwargs)

    def count(self, table: str, where: str = "true") -> int:
        with psycopg.connect(self.admin_url) as conn:
            row = conn.execute(f"SELECT count(*) FROM bronze.{table} WHERE {where}").fetchone()
        return int(row[0]) if row else 0


def make_stack(
    root: Path,
    admin_url: str,
    emulator: EmulatorServer,
    *,
    login: bool = True,
    **overrides: Any,
) -> SpotifyStack:
    """Configure, initialise and (headlessly) log in a project against ``emulator``."""
    import requests

    from spotify_elt.db import init_database
    from spotify_elt.login import login as do_login

    values: dict[str, Any] = {
        "config_dir": root / "config",
        "data_dir": root / "data",
        "state_dir": root / "state",
        "database_url": admin_url,
        "accounts_url": emulator.accounts_url,
        "api_url": emulator.api_url,
        "client_id": emulator.state.config.client_id,
        "redirect_uri": f"http://127.0.0.1:{free_port()}/callback",
        "rate_budget": 100_000,
        "backoff_seconds": 0.05,
    }
    values.update(overrides)
    settings = load_settings(environ={}, **values)
    vault = Vault.from_settings(settings)
    vault.init()
    vault.set(CLIENT_SECRET, emulator.state.config.client_secret)
    # Roles are cluster-wide while every stack has its own vault: all stacks of a test session
    # share one set of role passwords (conftest's shared_role_passwords), so that initialising
    # one stack never locks out another.
    init_database(admin_url, vault)
    if login:
        do_login(
            settings,
            vault,
            client_id=str(settings.client_id),
            show_url=lambda url: None,
            open_browser=lambda url: requests.get(url, timeout=10),
        )
    return SpotifyStack(settings, vault, emulator, admin_url)
