"""Fixtures and helpers for the dbt tests: builds on the session bronze databases, copies of them.

dbt runs in-process (``dbtRunner``), one invocation at a time, each with its own target path.
Role passwords are cluster-wide while every stack has its own vault: :func:`sync_roles` makes a
stack's vault the current truth before dbt connects as its transformer role.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from stack_support import SMALL_LIBRARY, SpotifyStack, make_stack, outside_pytest_tmp

from extract.emulator import EmulatorConfig, EmulatorServer
from spotify_elt.db import EmbeddedPostgres, init_database, with_credentials
from spotify_elt.dbt_runner import TransformResult, dbt_env, run_dbt

GOLD_TABLES = (
    "dim_albums",
    "dim_artists",
    "dim_date",
    "dim_playlists",
    "dim_tracks",
    "fct_playlist_tracks",
    "fct_plays",
    "fct_saved_tracks",
    "fct_top_rank_history",
    "rpt_discovery_rate",
    "rpt_genre_mix_by_month",
    "rpt_listening_by_hour_weekday",
    "rpt_listening_habits",
    "rpt_listening_sessions",
    "rpt_playlist_composition",
    "rpt_release_decade_profile",
    "rpt_top_artists_by_period",
    "rpt_top_tracks_by_period",
)
INCREMENTAL_MODELS = (
    "stg_spotify__recently_played",
    "stg_spotify__streaming_history",
    "stg_spotify__top_artists",
    "stg_spotify__top_tracks",
)


def sync_roles(stack: SpotifyStack) -> None:
    """Set the roles' passwords to the ones in this stack's vault (another stack may have
    initialised the same cluster since)."""
    init_database(stack.admin_url, stack.vault)


def dbt(
    stack: SpotifyStack, args: Sequence[str], target: Path, *, database_url: str | None = None
) -> TransformResult:
    """Run a dbt command against ``stack`` (or a copy of its database) as the transformer."""
    sync_roles(stack)
    env = dbt_env(stack.settings, stack.vault)
    if database_url is not None:
        env["SPOTIFY_ELT_DBT_DBNAME"] = database_name(database_url)
    return run_dbt(list(args), env=env, in_process=True, target_path=target, quiet=True)


def statuses(result: TransformResult) -> dict[str, str]:
    """Node name (last part of the unique id) -> status."""
    return {node.name: node.status for node in result.nodes}


def failed_names(result: TransformResult) -> set[str]:
    return {node.name for node in result.failed}


def database_name(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path.lstrip("/")


def copy_database(admin_url: str) -> str:
    """A copy (``CREATE DATABASE ... TEMPLATE``) of the database of ``admin_url``; its admin URL."""
    source = database_name(admin_url)
    name = f"{source}_copy_{secrets.token_hex(3)}"
    maintenance = with_credentials(admin_url, "postgres", None, "postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        for attempt in range(20):
            # A template must have no other sessions (dbt's pool may close a moment late).
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (source,),
            )
            try:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                        sql.Identifier(name), sql.Identifier(source)
                    )
                )
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 19:
                    raise
                time.sleep(0.2)
    return with_credentials(admin_url, "postgres", None, name)


def adopt_copy(stack: SpotifyStack, copy_url: str) -> None:
    """Give the copy ``copy_url`` of ``stack``'s database roles of its own, as an installation.

    Roles are per database: the copy's objects still belong to the source's roles. ``db init``
    creates the copy's roles; its objects are then handed over to them.
    """
    from spotify_elt.db import ROLES, role_name

    init_database(copy_url, stack.vault)
    source, target = database_name(stack.admin_url), database_name(copy_url)
    with psycopg.connect(copy_url, autocommit=True) as conn:
        for kind in ROLES:
            conn.execute(
                sql.SQL("REASSIGN OWNED BY {} TO {}").format(
                    sql.Identifier(role_name(kind, source)), sql.Identifier(role_name(kind, target))
                )
            )


def drop_database(url: str) -> None:
    maintenance = with_credentials(url, "postgres", None, "postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(database_name(url))
            )
        )


def query(url: str, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


@dataclass
class Build:
    """A finished ``dbt build`` of a stack's database."""

    stack: SpotifyStack
    result: TransformResult
    target: Path


def _extended_stack(bronze_stack: SpotifyStack, root: Path, server_url: str) -> Iterator[Any]:
    # Reuse the session vault's role passwords so both stacks can use the cluster's roles.
    for src, dst in (
        (bronze_stack.vault.path, root / "config" / "vault.json"),
        (bronze_stack.settings.effective_vault_key_file, root / "state" / "vault.key"),
    ):
        dst.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copy2(src, dst)
    with EmulatorServer(
        EmulatorConfig(**SMALL_LIBRARY, mode="extended")  # type: ignore[arg-type]
    ) as server:
        stack = make_stack(root, server_url, server, api_mode="extended")
        stack.extract()
        server.advance_clock(6 * 3600)
        stack.extract()
        yield stack


@pytest.fixture(scope="session")
def extended_stack(
    bronze_stack: SpotifyStack, embedded_server: EmbeddedPostgres
) -> Iterator[SpotifyStack]:
    """A second bronze database, loaded by the extractor from an extended-quota emulator."""
    from stack_support import PgServer

    root = outside_pytest_tmp("spotify-elt-bronze-ext-")
    admin = PgServer("embedded", embedded_server.admin_url()).fresh_database()
    yield from _extended_stack(bronze_stack, root, admin)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def dbt_targets() -> Iterator[Path]:
    root = outside_pytest_tmp("spotify-elt-dbt-targets-")
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def dev_build(bronze_stack: SpotifyStack, dbt_targets: Path) -> Build:
    """``dbt build`` of the session bronze database (Development Mode shape)."""
    target = dbt_targets / "dev"
    return Build(bronze_stack, dbt(bronze_stack, ["build"], target), target)


@pytest.fixture(scope="session")
def extended_build(extended_stack: SpotifyStack, dbt_targets: Path) -> Build:
    """``dbt build`` of the extended-quota bronze database."""
    target = dbt_targets / "extended"
    return Build(extended_stack, dbt(extended_stack, ["build"], target), target)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed ``spotify-elt`` console script."""
    exe = Path(sys.executable).with_name("spotify-elt")
    return subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def docs_target(dev_build: Build, dbt_targets: Path) -> Path:
    """``spotify-elt docs generate`` (the CLI, end to end) on the built session database."""
    target = dbt_targets / "docs"
    sync_roles(dev_build.stack)
    proc = cli(dev_build.stack.env(), "docs", "generate", "--target-path", str(target))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return target
