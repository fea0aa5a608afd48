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


# --------------------------------------------------------------------------- a running Airflow


class AirflowApi:
    """Airflow 3's REST API as the admin of the simple auth manager (a JWT from /auth/token)."""

    def __init__(self, base: str, password: str) -> None:
        import requests

        self.base = base.rstrip("/")
        self.password = password
        token = requests.post(
            f"{self.base}/auth/token",
            json={"username": "admin", "password": password},
            timeout=30,
        )
        token.raise_for_status()
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def get(self, path: str, **params: Any) -> Any:
        response = self.session.get(f"{self.base}/api/v2/{path}", params=params, timeout=30)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        response = self.session.post(f"{self.base}/api/v2/{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def runs(self, dag_id: str = "spotify_elt") -> list[dict[str, Any]]:
        """The DAG's runs; none while the DAG processor has not registered the DAG yet (404)."""
        response = self.session.get(
            f"{self.base}/api/v2/dags/{dag_id}/dagRuns", params={"limit": 100}, timeout=30
        )
        if response.status_code == 404:
            return []
        response.raise_for_status()
        return list(response.json()["dag_runs"])

    def trigger(self, dag_id: str = "spotify_elt") -> str:
        return str(self.post(f"dags/{dag_id}/dagRuns", {"logical_date": None})["dag_run_id"])

    def task_instances(self, run_id: str, dag_id: str = "spotify_elt") -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            page = self.get(
                f"dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100, offset=len(found)
            )["task_instances"]
            found += page
            if len(page) < 100:
                return found

    def xcom(self, run_id: str, task_id: str, map_index: int = -1) -> Any:
        entry = self.get(
            f"dags/spotify_elt/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
            map_index=map_index,
        )
        value = entry["value"]
        return json.loads(value) if isinstance(value, str) else value

    def wait_for_run(
        self, *, run_id: str | None = None, run_type: str | None = None, timeout: float = 900
    ) -> dict[str, Any]:
        """Wait (bounded) until the run ends; its JSON. By id, or the earliest run of a type.

        The earliest, not the latest: an hourly DAG whose first run crosses the hour gets a
        second scheduled run queued behind it, and that one (incremental) is not the first.
        """
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            runs = self.runs()
            if not run_id and run_type:
                typed = [r for r in runs if r["run_type"] == run_type]
                if typed:
                    run_id = str(min(typed, key=_run_order)["dag_run_id"])
            last = next((r for r in runs if run_id and r["dag_run_id"] == run_id), last)
            if last and last["state"] in ("success", "failed"):
                return last
            time.sleep(5)
        states = (
            {t["task_id"]: t["state"] for t in self.task_instances(last["dag_run_id"])}
            if last
            else {}
        )
        raise AssertionError(f"the DAG run did not finish in {timeout:.0f} s: {last} {states}")

    def wait_idle(self, timeout: float = 900) -> list[dict[str, Any]]:
        """Wait (bounded) until no run is queued or running (a scheduled one may be): the runs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.runs()
            if all(r["state"] in ("success", "failed") for r in runs):
                return runs
            time.sleep(5)
        raise AssertionError(f"runs still active after {timeout:.0f} s: {self.runs()}")


def _run_order(run: Mapping[str, Any]) -> str:
    """Runs in the order the scheduler made them (ISO timestamps sort as strings)."""
    return str(run.get("run_after") or run.get("logical_date") or run.get("queued_at") or "")


def stop_airflow(home: Path, env: Mapping[str, str]) -> None:
    """``spotify-elt airflow down``, then end by PID whatever a PID file still names."""
    import signal

    subprocess.run(
        [sys.executable, "-m", "spotify_elt", "airflow", "down"],
        env=dict(env),
        capture_output=True,
        timeout=120,
        check=False,
    )
    for pid_file in home.glob("*.pid"):
        try:
            pid = int(pid_file.read_text().strip())
            os.killpg(pid, signal.SIGKILL)
        except (ValueError, ProcessLookupError, PermissionError):
            pass
