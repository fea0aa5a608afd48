"""Airflow as users run it: ``spotify-elt airflow up``, the real scheduler, API server and workers.

Not ``dag.test()``: each module fixture starts a whole local Airflow (its metadata DB on the
session's embedded PostgreSQL) against an emulator of this process, and ends every process by
PID. With the LocalExecutor the scheduled run completes, a triggered second run is incremental,
and the UI shows the DAG's graph in headless Chromium; with the CeleryExecutor a worker started
here (broker: the local Redis) runs every task, and bronze and gold equal the LocalExecutor's.

dbt renders with ``TestBehavior.AFTER_ALL`` and Cosmos' watcher mode (one ``dbt build``) to keep
the runs short on two cores.

Tasks get one retry, and a retry is allowed only where Airflow itself explains it: Airflow 3.2's
scheduler can fail a deferred sensor whose resumed attempt is already running when the stale
"success" of its defer-exit arrives ("state mismatch", apache/airflow#72716; seen with the Celery
executor, whose events arrive late). The DAG's default of two retries absorbs it in production;
any other retry fails the test.
"""

from __future__ import annotations

import re
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from airflow_support import ROOT, AirflowApi, stop_airflow
from reliability_support import CaseLog, assert_no_secret, searched_files
from stack_support import (
    BRONZE_SORT_KEYS,
    SMALL_LIBRARY,
    PgServer,
    SpotifyStack,
    free_port,
    make_stack,
)
from stack_support import outside_pytest_tmp as fresh_dir

from extract.emulator import EmulatorConfig, EmulatorServer
from spotify_elt.db import EmbeddedPostgres, database_of, role_names
from spotify_elt.vault import CLIENT_SECRET, REFRESH_TOKEN, db_password_name

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

ARTIFACTS = ROOT / "test-artifacts"


@dataclass
class Deployment:
    """A running ``spotify-elt airflow up`` and what its first run left behind."""

    stack: SpotifyStack
    env: dict[str, str]
    home: Path
    api: AirflowApi
    executor: str
    first_run: dict[str, Any] = field(default_factory=dict)
    snapshot: dict[str, Any] = field(default_factory=dict)


def _snapshot(admin_url: str) -> dict[str, Any]:
    """Bronze's natural keys per table and gold's row counts: what two executors must agree on."""
    with psycopg.connect(admin_url) as conn:
        present = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'bronze'"
            ).fetchall()
        }
        bronze = {
            table: conn.execute(f"SELECT {keys} FROM bronze.{table} ORDER BY {keys}").fetchall()
            for table, keys in BRONZE_SORT_KEYS.items()
            if table in present
        }
        gold_tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'gold' "
                "ORDER BY 1"
            ).fetchall()
        ]
        gold = {
            t: int(conn.execute(f'SELECT count(*) FROM gold."{t}"').fetchone()[0])  # type: ignore[index]
            for t in gold_tables
        }
    return {"bronze": bronze, "gold": gold}


def _up(
    embedded_server: EmbeddedPostgres, executor: str, extra_env: dict[str, str]
) -> Iterator[Deployment]:
    root = fresh_dir(f"spotify-elt-airflow-{executor}-")
    admin = PgServer("embedded", embedded_server.admin_url()).fresh_database()
    with EmulatorServer(EmulatorConfig(**SMALL_LIBRARY)) as emulator:  # type: ignore[arg-type]
        stack = make_stack(root, admin, emulator)
        home = stack.settings.data_dir / "airflow"
        env = stack.env()
        env.update(
            SPOTIFY_ELT_DBT_MANIFEST=str(root / "dbt-target" / "manifest.json"),
            SPOTIFY_ELT_DBT_TEST_BEHAVIOR="after_all",
            SPOTIFY_ELT_DBT_EXECUTION_MODE="watcher",
            SPOTIFY_ELT_AIRFLOW_RETRIES="1",
            AIRFLOW__CORE__PARALLELISM="6",
            AIRFLOW__COSMOS__CACHE_DIR=str(root / "cosmos"),
            AIRFLOW__COSMOS__ENABLE_TELEMETRY="false",
            AIRFLOW__OPENLINEAGE__DISABLED="true",
            DO_NOT_TRACK="1",
            **extra_env,
        )
        env.pop("AIRFLOW_HOME", None)
        env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
        port = free_port()
        try:
            up = subprocess.run(
                [
                    *(sys.executable, "-m", "spotify_elt", "airflow", "up", "--spotify"),
                    *("--port", str(port), "--executor", executor),
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert up.returncode == 0, up.stdout + up.stderr[-4000:]
            assert f"({executor} executor)" in up.stdout
            password = re.search(r"password: (\S+)", up.stdout)
            assert password, up.stdout
            deployment = Deployment(
                stack=stack,
                env=env,
                home=home,
                api=AirflowApi(f"http://127.0.0.1:{port}", password.group(1)),
                executor=executor,
            )
            # The DAG starts unpaused: the scheduler creates the latest interval's run at once.
            deployment.first_run = deployment.api.wait_for_run(run_type="scheduled", timeout=1200)
            # A run crossing the hour queues the next interval's: bronze settles once it ends.
            deployment.api.wait_idle()
            deployment.snapshot = _snapshot(stack.admin_url)
            yield deployment
        finally:
            stop_airflow(home, env)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def local(embedded_server: EmbeddedPostgres) -> Iterator[Deployment]:
    yield from _up(embedded_server, "local", {})


def _broker_answers(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), 3).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def celery(embedded_server: EmbeddedPostgres, local: Deployment) -> Iterator[Deployment]:
    if not _broker_answers("127.0.0.1", 6379):
        pytest.skip("no Redis at 127.0.0.1:6379 (.ci/run starts one): the Celery broker")
    # A queue of this test's own, so no other worker on the broker takes its tasks.
    queue = f"spotify_elt_test_{secrets.token_hex(4)}"
    yield from _up(
        embedded_server,
        "celery",
        {
            "SPOTIFY_ELT_AIRFLOW_BROKER_URL": "redis://127.0.0.1:6379/0",
            "SPOTIFY_ELT_AIRFLOW_WORKER_CONCURRENCY": "4",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
        },
    )


def _failures(deployment: Deployment, run_id: str) -> str:
    """The failed tasks and the end of each one's log (and the dbt build's): for the message."""
    import json

    out = []
    for ti in deployment.api.task_instances(run_id):
        if ti["state"] == "success" and ti["task_id"] != "dbt.dbt_producer_watcher":
            continue
        out.append(f"== {ti['task_id']}[{ti['map_index']}]: {ti['state']}")
        folder = deployment.home / "logs" / "dag_id=spotify_elt" / f"run_id={run_id}"
        task_folder = folder / f"task_id={ti['task_id']}"
        if ti["map_index"] >= 0:
            task_folder /= f"map_index={ti['map_index']}"
        if ti["state"] == "failed":
            scheduler = (deployment.home / "scheduler.log").read_text(errors="replace")
            out += [
                line[:600]
                for line in scheduler.splitlines()
                if f"task_id={ti['task_id']}," in line
                and f"map_index={ti['map_index']}," in line
                and "state=failed" in line
            ][-5:]
        for path in sorted(task_folder.glob("*.log")):
            for line in path.read_text(errors="replace").splitlines()[-25:]:
                try:
                    event = json.loads(line)
                except ValueError:
                    out.append(line[:300])
                    continue
                if event.get("level") in ("info", "warning", "error"):
                    out.append(f"{event.get('level')}: {str(event.get('event'))[:300]}")
                    if event.get("error_detail"):
                        out.append(str(event["error_detail"])[:1500])
    return "\n".join(out)


def _unexplained_retries(deployment: Deployment, run_id: str) -> list[str]:
    """Tasks that needed a second try for any reason but the scheduler's known "state mismatch"."""
    unexplained = []
    for ti in deployment.api.task_instances(run_id):
        if ti["try_number"] <= 1:
            continue
        mismatches = deployment.api.get(
            "eventLogs",
            dag_id="spotify_elt",
            run_id=run_id,
            task_id=ti["task_id"],
            map_index=ti["map_index"],
            event="state mismatch",
        )["event_logs"]
        if not mismatches:
            unexplained.append(f"{ti['task_id']}[{ti['map_index']}] try {ti['try_number']}")
    return unexplained


def _states(deployment: Deployment, run_id: str) -> dict[str, str]:
    return {
        f"{t['task_id']}[{t['map_index']}]": str(t["state"])
        for t in deployment.api.task_instances(run_id)
    }


def test_scheduled_run_succeeds_through_the_scheduler(local: Deployment) -> None:
    run = local.first_run
    states = _states(local, run["dag_run_id"])
    assert run["state"] == "success", _failures(local, run["dag_run_id"])
    assert set(states.values()) == {"success"}
    assert _unexplained_retries(local, run["dag_run_id"]) == []
    # Four mapped extract shards, the watcher's one dbt build, a sensor per model.
    assert {f"extract.user_data[{i}]" for i in range(4)} <= set(states)
    assert "dbt.dbt_producer_watcher[-1]" in states
    assert sum(1 for k in states if k.startswith("dbt.")) > 20
    names = {
        t["rendered_map_index"]
        for t in local.api.task_instances(run["dag_run_id"])
        if t["task_id"] == "extract.user_data"
    }
    assert names == {"plays", "top_lists", "library", "playlists"}
    snapshot = local.snapshot
    assert len(snapshot["bronze"]["recently_played"]) == 50
    assert snapshot["gold"]["fct_plays"] > 0 and snapshot["gold"]["dim_tracks"] > 0
    # The whole pipeline's artifacts: the report and DataHub's offline output.
    data = local.stack.settings.data_dir
    assert (data / "datahub" / "dbt.json").exists()
    assert list(data.rglob("*.html"))


def test_second_run_is_incremental(local: Deployment) -> None:
    """Three hours later a triggered run loads only the new plays and no known catalog object."""
    emulator = local.stack.emulator
    first = local.first_run["dag_run_id"]
    local.api.wait_idle()  # an hourly run the scheduler queued meanwhile would take the plays
    with psycopg.connect(local.stack.admin_url) as conn:
        before = conn.execute("SELECT count(*) FROM bronze.recently_played").fetchone()
    assert before is not None and before[0] >= 50
    emulator.advance_clock(3 * 3600)
    run_id = local.api.trigger()
    run = local.api.wait_for_run(run_id=run_id, timeout=900)
    assert run["state"] == "success", _failures(local, run_id)
    assert _unexplained_retries(local, run_id) == []
    with psycopg.connect(local.stack.admin_url) as conn:
        plays = conn.execute(
            "SELECT count(*), count(DISTINCT (played_at, track_id)) FROM bronze.recently_played"
        ).fetchone()
    assert plays is not None and plays[0] == plays[1]  # appended, never twice
    maps = {
        t["rendered_map_index"]: t["map_index"]
        for t in local.api.task_instances(run_id)
        if t["task_id"] == "extract.user_data"
    }
    new_plays = local.api.xcom(run_id, "extract.user_data", maps["plays"])
    assert 0 < new_plays["recently_played"] <= 50
    assert plays[0] == before[0] + new_plays["recently_played"]
    # The catalog fetches only what bronze lacks: far less than the first run.
    first_catalog = local.api.xcom(first, "extract.catalog_objects")
    second_catalog = local.api.xcom(run_id, "extract.catalog_objects")
    assert sum(second_catalog.values()) < sum(first_catalog.values()) / 2


def test_ui_shows_the_graph_in_headless_chromium(local: Deployment) -> None:
    """Log in (the simple auth manager's password file), open the graph: the groups are there."""
    from browser_support import chromium
    from test_report import assert_real_image

    password_file = local.home / "simple_auth_manager_passwords.json.generated"
    assert local.api.password in password_file.read_text()
    shot = ARTIFACTS / "airflow-graph.png"
    with chromium(fresh_dir("spotify-elt-chromium-")) as page:
        page.goto(f"{local.api.base}/")
        page.wait_for("!!document.querySelector('input[name=password]')")
        page.type_into("input[name=username]", "admin")
        page.type_into("input[name=password]", local.api.password)
        page.wait_for("!document.querySelector('button[type=submit]').disabled")
        page.evaluate("document.querySelector('button[type=submit]').click()")
        page.wait_for("!location.pathname.startsWith('/auth')")
        page.goto(f"{local.api.base}/dags/spotify_elt")
        page.wait_for("!!document.querySelector('button[aria-label^=\"Show Graph\"]')")
        page.evaluate("document.querySelector('button[aria-label^=\"Show Graph\"]').click()")
        page.wait_for("document.querySelectorAll('.react-flow__node').length >= 6")
        groups = page.evaluate(
            "Array.from(document.querySelectorAll('.react-flow__node')).map(n => n.innerText)"
        )
        labels = " ".join(groups)
        # The extract group (the mapped shards and the catalog) and Cosmos' dbt group.
        assert re.search(r"extract\s+Task Group\s+\+ 2 Tasks", labels), labels
        dbt = re.search(r"dbt\s+Task Group\s+\+ (\d+) Tasks", labels)
        assert dbt and int(dbt.group(1)) > 20, labels
        for name in ("gold_ready", "docs", "datahub", "report"):
            assert name in labels, name
        page.screenshot(shot)
    print(f"\nscreenshot: {shot}")
    assert_real_image(shot, min_size=(1200, 700))


@pytest.mark.reliability("Secrets")
def test_airflow_logs_hold_no_secret(local: Deployment, reliability: CaseLog) -> None:
    """What the real scheduler, API server and task processes wrote holds no secret value.

    Searched after both runs: every file of the Airflow home (task logs, the scheduler's, API
    server's and DAG processor's logs, airflow.cfg) and of the data directory beside it, the
    vault and its key excepted. The values: the client secret, the refresh token now in the
    vault, every access and refresh token the emulator issued, the roles' passwords.
    """
    stack = local.stack
    vault = stack.vault
    accounts = stack.emulator.state.accounts
    tokens = [*accounts._access, *accounts._refresh]  # the emulator's token store (private)
    secrets_by_kind = {
        "client secret": [vault.require(CLIENT_SECRET)],
        "refresh token": [vault.require(REFRESH_TOKEN)],
        "access and refresh tokens issued": tokens,
        "role passwords": [
            vault.require(db_password_name(role))
            for role in role_names(database_of(stack.admin_url)).values()
        ],
    }
    assert all(secrets_by_kind.values()) and len(tokens) > 1
    roots = (local.home, stack.settings.data_dir, ROOT / "dbt_project" / "logs")
    files = [p for p in searched_files(stack.settings, roots) if "pgdata" not in p.parts]
    task_logs = [p for p in files if "task_id=" in str(p) and p.suffix == ".log"]
    assert len(task_logs) > 20, task_logs
    haystacks = [(str(p), p.read_bytes()) for p in files]
    assert_no_secret(reliability, secrets_by_kind, haystacks)


def test_celery_worker_runs_every_task_with_the_same_results(
    celery: Deployment, local: Deployment
) -> None:
    run = celery.first_run
    tis = celery.api.task_instances(run["dag_run_id"])
    assert run["state"] == "success", _failures(celery, run["dag_run_id"])
    assert _unexplained_retries(celery, run["dag_run_id"]) == []
    queue = celery.env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"]
    assert {t["queue"] for t in tis} == {queue}
    # Every task went through the broker to the worker: one Celery result per task instance.
    with psycopg.connect(_metadata_url(celery)) as conn:
        results = conn.execute(
            "SELECT status, count(*) FROM celery_taskmeta GROUP BY status"
        ).fetchall()
    assert dict(results).get("SUCCESS", 0) >= len(tis), results
    worker_log = (celery.home / "celery-worker.log").read_text(errors="replace")
    assert "spotify_elt" in worker_log and "celery@" in worker_log
    # Same emulator data, same code, another executor: the same bronze and gold.
    assert celery.snapshot["gold"] == local.snapshot["gold"]
    assert celery.snapshot["bronze"].keys() == local.snapshot["bronze"].keys()
    for table, keys in local.snapshot["bronze"].items():
        assert celery.snapshot["bronze"][table] == keys, table


def _metadata_url(deployment: Deployment) -> str:
    """The metadata DB ``airflow up`` created: ``<database>_airflow`` beside the warehouse."""
    from spotify_elt.db import database_of

    admin = deployment.stack.admin_url
    return admin.replace(f"/{database_of(admin)}?", f"/{database_of(admin)}_airflow?")
