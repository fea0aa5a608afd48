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

import psycopg
import pytest
from psycopg import sql

from spotify_elt.db import EmbeddedPostgres, with_credentials

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
