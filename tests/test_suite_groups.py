"""The grouping of the suite into xdist workers (``xdist_support``) keeps together what must be.

Checked on the whole collection of this run (kept before ``-m`` deselects anything), so the fast
loop checks it too; a run of a few files collects too little to say anything and skips.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from xdist_support import (
    COLLECTED,
    RELIABILITY_GROUP,
    module_of,
    needs_reliability_worker,
    shared_session_fixtures,
    worker_groups,
)


def _collection(config: pytest.Config) -> list[pytest.Item]:
    items = config.stash.get(COLLECTED, [])
    modules = {module_of(item.nodeid) for item in items}
    if "tests/reliability/test_reliability_doc.py" not in modules or len(modules) < 20:
        pytest.skip("only part of the suite was collected: the groups are checked on all of it")
    return items


def test_session_fixtures_are_built_in_one_worker(request: pytest.FixtureRequest) -> None:
    """Every module using a session fixture (but those built per worker) shares a group."""
    items = _collection(request.config)
    groups = worker_groups(items)
    users: dict[str, set[str]] = defaultdict(set)
    for item in items:
        for name in shared_session_fixtures(item):
            users[name].add(groups[module_of(item.nodeid)])
    assert users["dev_build"] and users["bronze_stack"], "the dbt builds are session fixtures"
    split = {name: found for name, found in users.items() if len(found) > 1}
    assert split == {}
    # The builds tie the dbt, docs, report and export modules into one group: they are many.
    dbt_group = next(iter(users["dev_build"]))
    assert sum(1 for group in groups.values() if group == dbt_group) >= 5


def test_reliability_suite_and_the_machine_server_share_one_worker(
    request: pytest.FixtureRequest,
) -> None:
    """The document's check counts its own process's cases; one case restarts that server."""
    items = _collection(request.config)
    groups = worker_groups(items)
    for item in items:
        if needs_reliability_worker(item):
            assert groups[module_of(item.nodeid)] == RELIABILITY_GROUP, module_of(item.nodeid)
    assert groups["tests/test_db.py"] == RELIABILITY_GROUP
    assert groups["tests/test_dsn.py"] == "tests/test_dsn.py"  # nothing shared: its own group
