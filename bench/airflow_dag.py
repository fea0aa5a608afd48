"""Benchmark: wall time of the ``spotify_elt`` DAG per Cosmos execution mode.

Cosmos' ``ExecutionMode.LOCAL`` runs one dbt command per model and per test task (each parses
the project and opens connections: ~6 s a node under ``dag.test()``); ``ExecutionMode.WATCHER``
runs one ``dbt build`` with dbt's threads and turns every model task into a sensor of that build,
keeping per-model task status. This runs the whole DAG (extract, dbt, docs, DataHub offline,
report) with ``dag.test()`` in a fresh database against the emulator's small library, and prints
the wall time and the task count.

``dag.test()`` runs one task at a time, so the watcher's sensors would wait for a producer that
never runs beside them: the watcher mode is measured through the real scheduler instead (the run
of ``tests/test_airflow_scheduler.py``; see bench/README.md).

Usage: ``uv run python bench/airflow_dag.py [--behavior after_all]``.
It uses an embedded PostgreSQL in a temporary directory (or ``--database-url``), and the set-up
of the end-to-end tests (``tests/airflow_support.py``, ``tests/stack_support.py``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from airflow_support import airflow_env, migrate, run_dag_test  # noqa: E402
from stack_support import SMALL_LIBRARY, PgServer, make_stack  # noqa: E402

from extract.emulator import EmulatorConfig, EmulatorServer  # noqa: E402
from spotify_elt.db import EmbeddedPostgres  # noqa: E402
from spotify_elt.dbt_runner import dbt_parse  # noqa: E402


def run_mode(server_url: str, home: Path, manifest: Path, mode: str, behavior: str) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"spotify-elt-bench-dag-{mode}-"))
    admin = PgServer("bench", server_url).fresh_database()
    try:
        with EmulatorServer(EmulatorConfig(**SMALL_LIBRARY)) as emulator:  # type: ignore[arg-type]
            stack = make_stack(root, admin, emulator)
            env = airflow_env(home, stack.env())
            env.update(
                SPOTIFY_ELT_DBT_MANIFEST=str(manifest),
                SPOTIFY_ELT_DBT_TEST_BEHAVIOR=behavior,
                SPOTIFY_ELT_DBT_EXECUTION_MODE=mode,
                SPOTIFY_ELT_AIRFLOW_RETRIES="0",
            )
            started = time.monotonic()
            states, _ = run_dag_test(env, timeout=3600)
            wall = time.monotonic() - started
    finally:
        shutil.rmtree(root, ignore_errors=True)
    tasks = {k: v for k, v in states.items() if not k.startswith("__")}
    return {
        "mode": mode,
        "behavior": behavior,
        "state": states["__run__"],
        "dag_test_seconds": float(states["__seconds__"]),
        "wall_seconds": round(wall, 1),
        "tasks": len(tasks),
        "dbt_tasks": sum(1 for k in tasks if k.startswith("dbt.")),
        "not_success": {k: v for k, v in tasks.items() if v != "success"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=["local"], choices=["local"])
    parser.add_argument("--behavior", default="after_each", help="Cosmos TestBehavior value")
    parser.add_argument("--database-url", help="an admin DSN (default: embedded PostgreSQL)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="spotify-elt-bench-dag-"))
    server: EmbeddedPostgres | None = None
    try:
        if args.database_url:
            url = args.database_url
        else:
            server = EmbeddedPostgres(work / "pgdata", database="spotify_elt")
            url = server.up()
        home = work / "airflow"
        migrate(home)
        manifest = dbt_parse(work / "dbt-target")
        results = [run_mode(url, home, manifest, m, args.behavior) for m in args.modes]
    finally:
        if server is not None:
            server.down()
        shutil.rmtree(work, ignore_errors=True)
    print("| execution mode | test behaviour | DAG run (s) | tasks | dbt tasks | state |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(
            f"| {r['mode']} | {r['behavior']} | {r['dag_test_seconds']:.0f} | {r['tasks']} "
            f"| {r['dbt_tasks']} | {r['state']} |"
        )
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
