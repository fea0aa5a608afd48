"""The suite in pytest-xdist workers: which tests one worker runs together, and the scheduler.

``scripts/check`` runs ``pytest -n 2 --dist loadgroup``. A worker runs a group of modules whole
(:func:`worker_groups`), so a module's and a session's fixtures are built once, not once per
worker that happens to run one of their tests. The workers compute the groups from their
collection and write them to a file the controller's scheduler reads
(:func:`pytest_xdist_make_scheduler`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

#: Session fixtures cheap enough to build in each worker (every other one ties its users together).
PER_WORKER_FIXTURES = frozenset({"embedded_server", "tmp_path_factory", "worker_id", "testrun_uid"})
#: The group of the reliability suite and of the tests on the machine's server.
RELIABILITY_GROUP = "reliability"


def module_of(nodeid: str) -> str:
    """The test module a node id names (``tests/test_db.py``)."""
    return nodeid.split("::", 1)[0]


def shared_session_fixtures(item: pytest.Item) -> list[str]:
    """The session fixtures ``item`` uses that tie it to their other users (see
    :data:`PER_WORKER_FIXTURES`)."""
    return [
        name
        for name, defs in item._fixtureinfo.name2fixturedefs.items()
        if name not in PER_WORKER_FIXTURES and defs and defs[-1].scope == "session"
    ]


def needs_reliability_worker(item: pytest.Item) -> bool:
    """A reliability case, or a test on the machine's server (``pg_server``)."""
    return item.get_closest_marker("reliability") is not None or "pg_server" in item.fixturenames


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
        module = module_of(item.nodeid)
        find(module)
        if needs_reliability_worker(item):
            union(module, RELIABILITY_GROUP)
        for name in shared_session_fixtures(item):
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


#: The whole collection, before ``-m``/``-k`` deselect anything (for ``test_suite_groups``).
COLLECTED = pytest.StashKey[list[pytest.Item]]()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the whole collection; in an xdist worker, write :func:`worker_groups` for the
    controller's scheduler."""
    config.stash[COLLECTED] = list(items)
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
            module = module_of(nodeid)
            return self.groups.get(module, module)

    return GroupScheduling(config, log)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _GROUPS_PATH in config.stash:
        shutil.rmtree(config.stash[_GROUPS_PATH].parent, ignore_errors=True)
