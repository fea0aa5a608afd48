"""Shared fixtures: an isolated per-user environment and real PostgreSQL servers.

Database tests run against the embedded PostgreSQL (always: the project starts one of its own in a
temporary directory) and, when ``SPOTIFY_ELT_DATABASE_URL`` (or ``SPOTIFY_ELT_TEST_DATABASE_URL``)
names a server, against that one too, in a fresh database created for the session.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from extract.emulator import EmulatorConfig, EmulatorServer
from spotify_elt.config import Settings, load_settings
from spotify_elt.db import EmbeddedPostgres, with_credentials
from spotify_elt.extraction import (
    Credentials,
    ExtractSummary,
    credentials_from_vault,
    run_extract,
)
from spotify_elt.vault import CLIENT_SECRET, Vault

# Captured before any test changes the environment.
EXTERNAL_URL = os.environ.get("SPOTIFY_ELT_TEST_DATABASE_URL") or os.environ.get(
    "SPOTIFY_ELT_DATABASE_URL"
)
BACKENDS = ["embedded"] + (["external"] if EXTERNAL_URL else [])


def outside_pytest_tmp(prefix: str) -> Path:
    """A fresh directory that is not under pytest's basetemp.

    pgserver runs PostgreSQL as another OS user (when root) that must traverse every parent of
    its data directory, while every pytest session (a concurrent one, too) resets
    /tmp/pytest-of-<user> to mode 0700. Embedded servers of the tests therefore live elsewhere.
    """
    return Path(tempfile.mkdtemp(prefix=prefix))


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own config, data and state directories, and no inherited settings."""
    for name in list(os.environ):
        if name.startswith("SPOTIFY_ELT_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    data = outside_pytest_tmp("spotify-elt-test-data-")
    monkeypatch.setenv("SPOTIFY_ELT_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("SPOTIFY_ELT_DATA_DIR", str(data))
    monkeypatch.setenv("SPOTIFY_ELT_STATE_DIR", str(home / "state"))
    yield home
    if (data / "pgdata").exists():
        EmbeddedPostgres(data / "pgdata").down()
    shutil.rmtree(data, ignore_errors=True)


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


@pytest.fixture(scope="session")
def embedded_server() -> Iterator[EmbeddedPostgres]:
    root = outside_pytest_tmp("spotify-elt-test-pg-")
    server = EmbeddedPostgres(root / "pgdata", database="spotify_elt")
    server.up()
    yield server
    server.down()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session", params=BACKENDS)
def pg_server(request: pytest.FixtureRequest) -> Iterator[PgServer]:
    """Each available PostgreSQL backend, with a database of its own for this session."""
    if request.param == "embedded":
        server: EmbeddedPostgres = request.getfixturevalue("embedded_server")
        yield PgServer("embedded", server.admin_url())
        return
    assert EXTERNAL_URL
    name = f"spotify_elt_test_{secrets.token_hex(4)}"
    with psycopg.connect(EXTERNAL_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield PgServer("external", with_credentials_keep(EXTERNAL_URL, name))
    finally:
        with psycopg.connect(EXTERNAL_URL, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# ---------------------------------------------------------------------------- Spotify stack


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


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(**SMALL_LIBRARY)) as server:  # type: ignore[arg-type]
        yield server


@pytest.fixture
def fresh_db(embedded_server: EmbeddedPostgres) -> str:
    """Admin URL of a new, empty database on the embedded server."""
    return PgServer("embedded", embedded_server.admin_url()).fresh_database()


@pytest.fixture
def stack(fresh_db: str, emulator: EmulatorServer) -> SpotifyStack:
    root = outside_pytest_tmp("spotify-elt-stack-")
    return make_stack(root, fresh_db, emulator)


@pytest.fixture(scope="session")
def bronze_stack(embedded_server: EmbeddedPostgres) -> Iterator[SpotifyStack]:
    """A database whose bronze holds two extractions (development mode), for dbt and reports.

    The emulator's clock advances six hours between the runs, so plays accumulate beyond the
    50-play window. The emulator keeps serving for the session.
    """
    root = outside_pytest_tmp("spotify-elt-bronze-")
    admin = PgServer("embedded", embedded_server.admin_url()).fresh_database()
    with EmulatorServer(EmulatorConfig(**SMALL_LIBRARY)) as server:  # type: ignore[arg-type]
        stack = make_stack(root, admin, server)
        stack.extract()
        server.advance_clock(6 * 3600)
        stack.extract()
        yield stack
    shutil.rmtree(root, ignore_errors=True)
