"""End to end: ``dag.test()`` of ``spotify_elt`` against the emulator and a real PostgreSQL.

Each run is a child process (see ``airflow_support``). dbt renders with ``TestBehavior.AFTER_ALL``
here (one task per model, then one task for every test: a third of AFTER_EACH's ~120 tasks at
~6 s each under dag.test) in Cosmos' local mode (the watcher mode needs a scheduler running its
sensors beside the producer: tests/test_airflow_scheduler.py); the failing-test run uses
AFTER_EACH on two models.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from airflow_support import airflow_env, migrate, run_dag_test
from stack_support import SMALL_LIBRARY, SpotifyStack, make_stack, outside_pytest_tmp

from extract.emulator import EmulatorConfig, EmulatorServer
from spotify_elt.db import EmbeddedPostgres

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def airflow_home() -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="spotify-elt-airflow-home-"))
    migrate(home)
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def manifest() -> Path:
    from spotify_elt.dbt_runner import dbt_parse

    return dbt_parse(Path(tempfile.mkdtemp(prefix="spotify-elt-dbt-target-")))


@pytest.fixture(scope="module")
def e2e(
    embedded_server: EmbeddedPostgres, airflow_home: Path, manifest: Path
) -> Iterator[dict[str, Any]]:
    """A configured project whose DAG ran once with dag.test()."""
    from stack_support import PgServer

    root = outside_pytest_tmp("spotify-elt-airflow-e2e-")
    admin = PgServer("embedded", embedded_server.admin_url()).fresh_database()
    with EmulatorServer(EmulatorConfig(**SMALL_LIBRARY)) as server:  # type: ignore[arg-type]
        stack = make_stack(root, admin, server)
        env = airflow_env(airflow_home, stack.env())
        env.update(
            SPOTIFY_ELT_DBT_MANIFEST=str(manifest),
            SPOTIFY_ELT_DBT_TEST_BEHAVIOR="after_all",
            # dag.test() runs one task at a time: the watcher's sensors would wait for a
            # producer that never runs beside them. One dbt command per task here.
            SPOTIFY_ELT_DBT_EXECUTION_MODE="local",
            SPOTIFY_ELT_AIRFLOW_RETRIES="0",
        )
        states, output = run_dag_test(env)
        yield {"stack": stack, "env": env, "states": states, "output": output}
    shutil.rmtree(root, ignore_errors=True)


def _secrets(stack: SpotifyStack) -> list[str]:
    from spotify_elt.vault import KEY_ENV_VAR

    values = [stack.vault.get(name) or "" for name in stack.vault.names()]
    key_file = stack.settings.effective_vault_key_file
    if key_file.exists():
        values += [line for line in key_file.read_text().splitlines() if line.strip()]
    values.append(stack.env().get(KEY_ENV_VAR, ""))
    return [v for v in values if len(v) >= 6]


def test_dag_run_succeeds_and_fills_every_layer(e2e: dict[str, Any]) -> None:
    states = e2e["states"]
    print(f"\ndag.test(): {states['__seconds__']} s for {len(states) - 2} tasks")
    assert states["__run__"] == "success", {k: v for k, v in states.items() if v != "success"}
    failed = {k: v for k, v in states.items() if not k.startswith("__") and v != "success"}
    assert failed == {}
    stack: SpotifyStack = e2e["stack"]
    with psycopg.connect(stack.admin_url) as conn:
        counts = dict(
            conn.execute(
                "SELECT table_schema, count(*) FROM information_schema.tables "
                "WHERE table_schema IN ('bronze', 'silver', 'gold') GROUP BY 1"
            ).fetchall()
        )
        plays = conn.execute("SELECT count(*) FROM gold.fct_plays").fetchone()
    assert (
        counts.get("bronze", 0) >= 8 and counts.get("silver", 0) > 5 and counts.get("gold", 0) > 5
    )
    assert plays and plays[0] > 0


def test_datahub_output_and_artifacts_are_written(e2e: dict[str, Any]) -> None:
    stack: SpotifyStack = e2e["stack"]
    out = stack.settings.data_dir / "datahub"
    for name in ("dbt", "postgres"):
        records = json.loads((out / f"{name}.json").read_text())
        assert len(records) > 10, name
    latest = stack.settings.data_dir / "dbt_artifacts" / "latest"
    results = json.loads((latest / "target" / "run_results.json").read_text())["results"]
    assert any(r["unique_id"].startswith("test.") for r in results)
    assert all(r["status"] in ("success", "pass", "warn") for r in results)
    assert len(list((latest / "catalog" / "gold").glob("*.md"))) >= 5


def test_no_secret_in_logs_templates_or_xcoms(e2e: dict[str, Any]) -> None:
    stack: SpotifyStack = e2e["stack"]
    output = e2e["output"]
    secrets = _secrets(stack)
    assert secrets
    haystacks = {"task output": output}
    log_dir = Path(e2e["env"]["AIRFLOW_HOME"]) / "logs"
    for path in log_dir.rglob("*.log"):
        haystacks[str(path)] = path.read_text(errors="replace")
    datahub = list((stack.settings.data_dir / "datahub").glob("*.json"))
    assert datahub
    for path in datahub:
        haystacks[str(path)] = path.read_text()
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"a secret leaked into {where}"
    assert "RENDERED " in output and "XCOMS " in output


def test_failing_dbt_test_fails_the_run_and_skips_the_report(
    e2e: dict[str, Any],
) -> None:
    """A row breaking a staging test: its test task fails; what depends on it never runs."""
    stack: SpotifyStack = e2e["stack"]
    # bronze.albums is merged on album_id by the extractor, so the broken row survives extraction.
    with psycopg.connect(stack.admin_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO bronze.albums (album_id, payload, endpoint, requested_at, "
            "_dlt_load_id, _dlt_id) SELECT 'not a spotify id!', payload, endpoint, now(), "
            "_dlt_load_id, 'broken' FROM bronze.albums LIMIT 1"
        )
    env = dict(e2e["env"])
    env.update(
        SPOTIFY_ELT_DBT_SELECT="stg_spotify__albums int_albums_merged",
        SPOTIFY_ELT_DBT_TEST_BEHAVIOR="after_each",
    )
    try:
        states, output = run_dag_test(env)
    finally:
        with psycopg.connect(stack.admin_url, autocommit=True) as conn:
            conn.execute("DELETE FROM bronze.albums WHERE _dlt_id = 'broken'")
    assert states["__run__"] == "failed", states
    assert states["dbt.stg_spotify__albums.run"] == "success"
    assert states["dbt.stg_spotify__albums.test"] == "failed"
    assert states["dbt.int_albums_merged.run"] == "upstream_failed"
    for downstream in ("gold_ready", "docs", "datahub", "report"):
        assert states[downstream] == "upstream_failed", downstream
    assert "is_spotify_id_stg_spotify__albums_album_id" in output
