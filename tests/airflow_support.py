"""Helpers for the Airflow tests: an isolated AIRFLOW_HOME, and ``dag.test()`` in a subprocess.

Airflow reads its configuration once, at import; running ``dag.test()`` in a child process keeps
each run's AIRFLOW_HOME, environment and in-process dbt state away from the pytest process.
``python tests/airflow_support.py test`` is that child: it runs the DAG and prints the state of
every task as one JSON line prefixed by ``RESULT``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DAGS = ROOT / "airflow" / "dags"
RESULT = "RESULT "


def airflow_env(home: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for an isolated Airflow: its own home and SQLite DB, no examples, no DataHub."""
    env = dict(os.environ if base is None else base)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="false",
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__UNIT_TEST_MODE="false",
        AIRFLOW__DATAHUB__ENABLED="false",
        AIRFLOW__OPENLINEAGE__DISABLED="true",
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
        PROVIDERS__ENABLE_AIRFLOW_SECRETS="false",
        DATAHUB_TELEMETRY_ENABLED="false",
        AIRFLOW__COSMOS__ENABLE_TELEMETRY="false",
        AIRFLOW__COSMOS__CACHE_DIR=str(home / "cosmos"),
        DO_NOT_TRACK="1",
    )
    env.pop("DATAHUB_GMS_URL", None)
    return env


def migrate(home: Path) -> None:
    """``airflow db migrate`` into ``home`` (SQLite), once per session."""
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=airflow_env(home),
        check=True,
        capture_output=True,
        timeout=300,
    )


def run_dag_test(env: Mapping[str, str], *, timeout: float = 600) -> tuple[dict[str, str], str]:
    """Run ``dag.test()`` of ``spotify_elt`` in a child; (task states, the child's whole output)."""
    proc = subprocess.run(
        [sys.executable, __file__, "test"],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = proc.stdout + proc.stderr
    keep = os.environ.get("SPOTIFY_ELT_TEST_KEEP_DAG_OUTPUT_DIR") or os.environ.get(
        "KEEP_DAG_OUTPUT"
    )
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / f"dag_test_{int(time.time())}.log").write_text(output)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT) :]), output
    raise AssertionError(f"dag.test() gave no result (exit {proc.returncode}):\n{output[-6000:]}")


def _child() -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    bag = DagBag(dag_folder=str(DAGS), include_examples=False)
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags["spotify_elt"]
    started = time.monotonic()
    run = dag.test()
    seconds = time.monotonic() - started
    with create_session() as session:
        tis = session.query(TaskInstance).filter(
            TaskInstance.dag_id == dag.dag_id, TaskInstance.run_id == run.run_id
        )
        states: dict[str, Any] = {ti.task_id: str(ti.state) for ti in tis}
        from airflow.models.renderedtifields import RenderedTaskInstanceFields as Rtif

        rendered = [
            json.dumps(r.rendered_fields, default=str)
            for r in session.query(Rtif).filter(Rtif.dag_id == dag.dag_id)
        ]
        from airflow.models.xcom import XComModel

        xcoms = [
            json.dumps(x.value, default=str)
            for x in session.query(XComModel).filter(XComModel.dag_id == dag.dag_id)
        ]
    states["__run__"] = str(run.state)
    states["__seconds__"] = f"{seconds:.1f}"
    print("RENDERED " + json.dumps(rendered))
    print("XCOMS " + json.dumps(xcoms))
    print(RESULT + json.dumps(states), flush=True)


if __name__ == "__main__" and sys.argv[1:] == ["test"]:
    _child()
