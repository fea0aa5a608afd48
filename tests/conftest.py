"""Shared fixtures: an isolated per-user environment and real PostgreSQL servers.

Database tests run against the embedded PostgreSQL (always: the project starts one of its own in a
temporary directory) and, when ``SPOTIFY_ELT_DATABASE_URL`` (or ``SPOTIFY_ELT_TEST_DATABASE_URL``)
names a server, against that one too, in a fresh database created for the session.

``scripts/check`` runs the suite in two pytest-xdist workers; ``xdist_support`` says which tests
one worker runs together.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from stack_support import (
    SMALL_LIBRARY,
    PgServer,
    SpotifyStack,
    make_stack,
    outside_pytest_tmp,
    with_credentials_keep,
)

from extract.emulator import EmulatorConfig, EmulatorServer
from spotify_elt.db import EmbeddedPostgres

# Fixtures of the dbt suites (session-scoped builds shared by several modules), the
# reliability suite's counting (marker `reliability`, fixture `reliability`), and the grouping of
# tests into xdist workers.
pytest.register_assert_rewrite("dbt_support", "reliability_support", "xdist_support")
pytest_plugins = ["dbt_support", "reliability_support", "xdist_support"]

# Captured before any test changes the environment.
EXTERNAL_URL = os.environ.get("SPOTIFY_ELT_TEST_DATABASE_URL") or os.environ.get(
    "SPOTIFY_ELT_DATABASE_URL"
)
BACKENDS = ["embedded"] + (["external"] if EXTERNAL_URL else [])


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


@pytest.fixture
def home(isolated_env: Path) -> Path:
    """The test's home: ``config/`` and ``state/`` below it are the config and state dirs."""
    isolated_env.mkdir(parents=True, exist_ok=True)
    return isolated_env


@pytest.fixture(scope="session")
def embedded_server() -> Iterator[EmbeddedPostgres]:
    root = outside_pytest_tmp("spotify-elt-test-pg-")
    server = EmbeddedPostgres(root / "pgdata", database="spotify_elt")
    server.up()
    # A throwaway server, removed at the end of the session: no test needs it to survive an OS
    # crash, and without fsync the many per-test databases cost little to create and to remove.
    with psycopg.connect(server.admin_url(), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET fsync = off")
        conn.execute("SELECT pg_reload_conf()")
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
