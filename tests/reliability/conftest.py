"""Fixtures of the reliability suite: the fault-free reference run, stacks on custom emulators.

Every comparison is with ``reference``: one uninterrupted extraction from an emulator with the
suite's library and seed (``SMALL_LIBRARY``), fingerprinted table by table (keys and a hash of
each row, see ``reliability_support.bronze_fingerprint``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from reliability_support import Fingerprint
from stack_support import SMALL_LIBRARY, PgServer, SpotifyStack, make_stack, outside_pytest_tmp
from suite_support import (
    CANARY,
    CLIENT_SECRET,
    HOSTILE_DATABASE,
    HOSTILE_PLAYLISTS,
    HOSTILE_QUERIES,
    PII_SALT,
    fingerprint,
    toml_strings,
)

from extract.emulator import EmulatorConfig, EmulatorServer
from spotify_elt.db import EmbeddedPostgres


@pytest.fixture(scope="session")
def reference(embedded_server: EmbeddedPostgres) -> Iterator[Fingerprint]:
    """Bronze after one fault-free extraction of the suite's library."""
    root = outside_pytest_tmp("spotify-elt-reliability-ref-")
    admin = PgServer("embedded", embedded_server.admin_url()).fresh_database()
    with EmulatorServer(EmulatorConfig(**SMALL_LIBRARY)) as server:  # type: ignore[arg-type]
        stack = make_stack(root, admin, server)
        stack.extract()
        found = fingerprint(stack)
    assert sum(len(rows) for rows in found.values()) > 500
    yield found
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def stack_on(
    embedded_server: EmbeddedPostgres,
) -> Iterator[Callable[..., SpotifyStack]]:
    """A factory: a logged-in stack on a fresh database and an emulator with ``faults``."""
    servers: list[EmulatorServer] = []
    roots: list[Path] = []

    def make(faults: dict[str, Any] | None = None, **settings: Any) -> SpotifyStack:
        config = EmulatorConfig(**{**SMALL_LIBRARY, **(faults or {})})  # type: ignore[arg-type]
        server = EmulatorServer(config).start()
        servers.append(server)
        root = outside_pytest_tmp("spotify-elt-reliability-")
        roots.append(root)
        admin = PgServer("embedded", embedded_server.admin_url()).fresh_database()
        return make_stack(root, admin, server, **settings)

    yield make
    for server in servers:
        server.stop()
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class PipelineRun:
    """The whole pipeline, run once through the CLI with hostile names and distinctive secrets."""

    stack: SpotifyStack
    env: dict[str, str]
    outputs: dict[str, subprocess.CompletedProcess[str]]
    tokens: list[str]
    """Every access and refresh token the emulator issued during the run."""


@pytest.fixture(scope="session")
def pipeline() -> Iterator[PipelineRun]:
    """History import, extraction, dbt, report, docs and the DataHub catalog, via the CLI.

    On the project's own embedded server with a hostile ``database_name``, hostile playlist
    names on the emulator and hostile search queries and seed ids in config.toml; the client
    secret and the PII salt are distinctive values.
    """
    from spotify_elt.cli import main
    from spotify_elt.history import SALT_NAME

    root = outside_pytest_tmp("spotify-elt-reliability-pipeline-")
    server = EmbeddedPostgres(root / "data" / "pgdata", HOSTILE_DATABASE)
    admin = server.up()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE public.{CANARY} (note text)")
        conn.execute(f"INSERT INTO public.{CANARY} VALUES ('still here')")
    config = EmulatorConfig(
        **SMALL_LIBRARY,  # type: ignore[arg-type]
        client_secret=CLIENT_SECRET,
        playlist_names=HOSTILE_PLAYLISTS,
        mode="extended",  # batch catalog requests: a shorter run
    )
    emulator = EmulatorServer(config).start()
    try:
        (root / "config").mkdir(parents=True)
        (root / "config" / "config.toml").write_text(
            f"search_queries = {toml_strings(HOSTILE_QUERIES)}\n"
            'history_pii = "hash"\n'
            f"database_name = {toml_strings((HOSTILE_DATABASE,))[1:-1]}\n"
        )
        stack = make_stack(root, admin, emulator, database_url=None, database_name=HOSTILE_DATABASE)
        stack.vault.set(SALT_NAME, PII_SALT)
        env = stack.env()
        del env["SPOTIFY_ELT_DATABASE_URL"]
        export = root / "export" / "my_spotify_data.zip"
        history = ["--seed", "7", "--scale", "5000", "--days", "2", "--end", "2026-11-24T12:00:00"]
        assert main(["emulator", "export-history", "--out", str(export), *history]) == 0
        outputs: dict[str, subprocess.CompletedProcess[str]] = {}
        for name, args in (
            ("import-history", ("import-history", str(export), "--quiet")),
            ("run", ("run", "--spotify", "--quiet")),
            ("catalog", ("catalog",)),
        ):
            outputs[name] = subprocess.run(
                [sys.executable, "-m", "spotify_elt", *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
        accounts = emulator.state.accounts
        # The emulator's token store (private: the Accounts API only counts tokens).
        tokens = list(accounts._access) + list(accounts._refresh)
        yield PipelineRun(stack, env, outputs, tokens)
    finally:
        emulator.stop()
        server.down()
        shutil.rmtree(root, ignore_errors=True)
