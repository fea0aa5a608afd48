"""Shared fixtures: an isolated per-user environment and real PostgreSQL servers.

Database tests run against the embedded PostgreSQL (always: the project starts one of its own in a
temporary directory) and, when ``SPOTIFY_ELT_DATABASE_URL`` (or ``SPOTIFY_ELT_TEST_DATABASE_URL``)
names a server, against that one too, in a fresh database created for the session.

``scripts/check`` runs the suite in two pytest-xdist workers (``--dist loadgroup``): a worker
runs a group of modules whole (:func:`worker_groups`, scheduled by the scheduler of
:func:`pytest_xdist_make_scheduler`), so a module's and a session's fixtures are built once.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

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

# Fixtures of the dbt suites (session-scoped builds shared by several modules), and the
# reliability suite's counting (marker `reliability`, fixture `reliability`).
pytest.register_assert_rewrite("dbt_support", "reliability_support")
pytest_plugins = ["dbt_support", "reliability_support"]

# Captured before any test changes the environment.
EXTERNAL_URL = os.environ.get("SPOTIFY_ELT_TEST_DATABASE_URL") or os.environ.get(
    "SPOTIFY_ELT_DATABASE_URL"
)
BACKENDS = ["embedded"] + (["external"] if EXTERNAL_URL else [])

#: Session fixtures cheap enough to build in each worker (every other one ties its users together).
PER_WORKER_FIXTURES = frozenset({"embedded_server", "tmp_path_factory", "worker_id", "testrun_uid"})
#: The group of the reliability suite and of the tests on the machine's server.
RELIABILITY_GROUP = "reliability"


def worker_groups(items: Sequence[pytest.Item]) -> dict[str, str]:
    """Each test module's group: the modules one pytest-xdist worker runs together.

    A module is a group of its own, except that modules sharing a session fixture (the dbt
    builds of ``dbt_support``, the session's bronze database) share a group, so the fixture is
    built once; and every module with a reliability case, or using the machine's server
    (``pg_server``), is in the reliability group: ``test_reliability_doc`` counts the cases its
    own process ran, and the PostgreSQL restart case restarts the machine's server.
    """
    parent: dict[str, str] = {}

    def find(name: str) -> str:
        while parent.setdefault(name, name) != name:
            name = parent[name]
        return name

    def union(a: str, b: str) -> None:
        parent[find(a)] = find(b)

    for item in items:
        module = item.nodeid.split("::", 1)[0]
        find(module)
        if item.get_closest_marker("reliability") or "pg_server" in item.fixturenames:
            union(module, RELIABILITY_GROUP)
        for name, defs in item._fixtureinfo.name2fixturedefs.items():
            if name not in PER_WORKER_FIXTURES and defs and defs[-1].scope == "session":
                union(module, f"fixture:{name}")
    reliability = find(RELIABILITY_GROUP)
    labels: dict[str, str] = {reliability: RELIABILITY_GROUP}
    modules = [name for name in parent if not name.startswith("fixture:")]
    # A group is named after its first module (or is the reliability group).
    return {m: labels.setdefault(find(m), m) for m in modules if m != RELIABILITY_GROUP}


#: The key of the groups file in a worker's ``workerinput``; controller side, its path.
GROUPS_FILE = "spotify_elt_worker_groups"
_GROUPS_PATH = pytest.StashKey[Path]()


def _groups_path(config: pytest.Config) -> Path:
    if _GROUPS_PATH not in config.stash:
        folder = Path(tempfile.mkdtemp(prefix="spotify-elt-xdist-"))
        config.stash[_GROUPS_PATH] = folder / "groups.json"
    return config.stash[_GROUPS_PATH]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: tell each worker where to write its groups."""
    node.workerinput[GROUPS_FILE] = str(_groups_path(node.config))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """xdist worker: write :func:`worker_groups` for the controller's scheduler."""
    target = getattr(config, "workerinput", {}).get(GROUPS_FILE)
    if target:
        path = Path(target)
        partial = path.with_name(f"{path.name}.{os.getpid()}")
        partial.write_text(json.dumps(worker_groups(items)))
        partial.replace(path)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` with :func:`worker_groups` as the groups.

    xdist's own loadgroup reads a group from a suffix it writes into each node id, which pytest
    9.2 no longer lets a plugin change: every test became a group of its own, and a module's
    fixtures were built once per worker that ran one of its tests.
    """
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    path = _groups_path(config)

    class GroupScheduling(LoadScopeScheduling):
        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:
                # The workers wrote it while collecting, before the first call (scheduling
                # starts once every worker has collected).
                self.groups = json.loads(path.read_text()) if path.exists() else {}
            module = nodeid.split("::", 1)[0]
            return self.groups.get(module, module)

    return GroupScheduling(config, log)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _GROUPS_PATH in config.stash:
        shutil.rmtree(config.stash[_GROUPS_PATH].parent, ignore_errors=True)


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
