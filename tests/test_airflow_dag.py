"""DAG integrity: every DAG file imports, and ``spotify_elt`` mirrors the dbt graph."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from airflow_support import DAGS, ROOT

# Airflow reads its configuration at import: an isolated home before anything imports it.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="spotify-elt-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "false")
os.environ.setdefault("AIRFLOW__DATAHUB__ENABLED", "false")
# Cosmos caches `dbt ls` output in an Airflow Variable (the fallback test): no metadata DB here.
os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_CACHE_DBT_LS", "false")

# Every test parses the DAG folder (a DagBag over a `dbt parse` manifest, or `dbt ls`).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    """``dbt parse`` of the project into a temporary target (as `spotify-elt airflow up` does)."""
    from spotify_elt.dbt_runner import dbt_parse

    return dbt_parse(Path(tempfile.mkdtemp(prefix="spotify-elt-dbt-target-")))


def _parse(env: dict[str, str], *, warm: bool = True) -> tuple[Any, float, float]:
    """DagBag of airflow/dags under ``env``: (bag, first parse seconds, warm parse seconds)."""
    from airflow.dag_processing.dagbag import DagBag

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        started = time.monotonic()
        bag = DagBag(dag_folder=str(DAGS), include_examples=False)
        first = time.monotonic() - started
        started = time.monotonic()
        if warm:
            DagBag(dag_folder=str(DAGS), include_examples=False)
        second = time.monotonic() - started
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return bag, first, second


@pytest.fixture(scope="module")
def parsed(dbt_manifest: Path) -> tuple[Any, float, float]:
    return _parse({"SPOTIFY_ELT_DBT_MANIFEST": str(dbt_manifest)})


def test_every_dag_file_imports(parsed: tuple[Any, float, float]) -> None:
    bag, first, warm = parsed
    assert not bag.import_errors, bag.import_errors
    assert set(bag.dag_ids) == {"spotify_elt"}
    assert not (ROOT / "airflow" / "__init__.py").exists()
    assert not list((ROOT / "airflow").rglob("__init__.py"))
    print(f"\nDAG parse: {first:.2f} s first (plugins, Cosmos import), {warm:.2f} s warm")
    assert warm < 1.5


def test_schedule_retries_tags_docs(parsed: tuple[Any, float, float]) -> None:
    dag = parsed[0].dags["spotify_elt"]
    assert dag.schedule == "@hourly" or str(dag.timetable.summary) == "@hourly"
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert {"spotify-elt", "dbt", "datahub"} <= set(dag.tags)
    assert dag.doc_md and "spotify_elt" in dag.doc_md
    for task in dag.tasks:
        assert task.retries == 2, task.task_id
        assert task.retry_exponential_backoff, task.task_id


def _dbt_expectation(manifest: dict[str, Any]) -> tuple[set[str], dict[str, set[str]]]:
    """The run tasks Cosmos must render (models and snapshots) and each one's dbt parents."""
    nodes = {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "snapshot")
    }
    parents = {
        node["name"]: {
            manifest["nodes"][p]["name"]
            for p in node["depends_on"]["nodes"]
            if p in nodes and nodes[p].get("config", {}).get("materialized") != "ephemeral"
        }
        for uid, node in nodes.items()
        if node.get("config", {}).get("materialized") != "ephemeral"
    }
    return set(parents), parents


def test_dbt_tasks_mirror_the_dbt_graph(
    parsed: tuple[Any, float, float], dbt_manifest: Path
) -> None:
    dag = parsed[0].dags["spotify_elt"]
    manifest = json.loads(dbt_manifest.read_text())
    expected, parents = _dbt_expectation(manifest)
    tasks = {t.task_id: t for t in dag.tasks}
    run_tasks = {
        tid.split(".")[1]: t
        for tid, t in tasks.items()
        if tid.startswith("dbt.") and tid.endswith((".run", ".snapshot"))
    }
    assert set(run_tasks) == expected
    tested = {
        manifest["nodes"][p]["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test"
        for p in node["depends_on"]["nodes"]
        if p in manifest["nodes"] and len(node["depends_on"]["nodes"]) == 1
    }
    assert expected & tested
    for name in expected & tested:
        assert f"dbt.{name}.test" in tasks, name
    # Every dbt parent is upstream of the child's run task (through the parent's test task).
    assert any(parents.values())
    for name, ups in parents.items():
        upstream = run_tasks[name].get_flat_relative_ids(upstream=True)
        for parent in ups:
            kind = "snapshot" if f"dbt.{parent}.snapshot" in tasks else "run"
            assert f"dbt.{parent}.{kind}" in upstream, (name, parent)
            if f"dbt.{parent}.test" in tasks:
                assert f"dbt.{parent}.test" in upstream, (name, parent)
    dbt_count = sum(1 for tid in tasks if tid.startswith("dbt."))
    print(f"\n{len(expected)} dbt models/snapshots -> {dbt_count} dbt tasks (runs + tests)")


def test_pipeline_order(parsed: tuple[Any, float, float]) -> None:
    dag = parsed[0].dags["spotify_elt"]
    tasks = {t.task_id: t for t in dag.tasks}
    # One mapped extract task: a shard per group of bronze tables, expanded at run time.
    shards = tasks["extract.user_data"]
    groups = shards.op_kwargs_expand_input.value
    assert groups == {"group": ["plays", "top_lists", "library", "playlists"]}
    stg_upstream = tasks["dbt.stg_spotify__tracks.run"].get_flat_relative_ids(upstream=True)
    assert {"extract.catalog_objects", "extract.user_data"} <= stg_upstream
    report_upstream = tasks["report"].get_flat_relative_ids(upstream=True)
    assert {"datahub", "docs", "gold_ready", "extract.user_data"} <= report_upstream
    assert any(t.startswith("dbt.") for t in report_upstream)
    outlets = {a.uri for t in dag.tasks for a in t.outlets}
    assert {"spotify-elt://warehouse/bronze", "spotify-elt://warehouse/gold"} <= outlets


def test_missing_manifest_falls_back_with_one_log_line(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Without a manifest the DAG still renders (dbt ls) and says so once."""
    import logging

    caplog.set_level(logging.WARNING)
    env = {
        "SPOTIFY_ELT_DBT_MANIFEST": str(tmp_path / "missing.json"),
        # `dbt ls` on a loaded 2-core machine can outlast the default 30 s import timeout.
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "300",
    }
    bag, _, _ = _parse(env, warm=False)
    assert not bag.import_errors
    # Once Airflow has configured logging, records go through structlog to stderr, not caplog.
    captured = capfd.readouterr()
    messages = [r.getMessage() for r in caplog.records]
    messages += (captured.out + captured.err).splitlines()
    lines = [m for m in messages if "dbt manifest" in m and "not found" in m]  # not dbt's own
    assert len(lines) == 1, lines
    assert any(t.task_id.startswith("dbt.") for t in bag.dags["spotify_elt"].tasks)
