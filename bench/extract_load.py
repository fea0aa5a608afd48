"""Benchmark: loading bronze rows through dlt (the extractor's path) against a plain COPY.

The extractor hands dlt rows of ``{key, payload (dict), endpoint, requested_at}`` with
``max_table_nesting=0`` and the CSV loader (PostgreSQL COPY, uncompressed files). This measures,
in one run on the same rows and server, seconds per method and the ratio to psycopg's COPY of the
same JSON into a ``jsonb`` column (the physical floor):

* ``copy``: psycopg 3 ``COPY ... FROM STDIN`` (baseline, 1.0)
* ``dlt_csv``: dlt, csv loader (the extractor's configuration)
* ``dlt_insert_values``: dlt, its default INSERT loader

Usage: ``uv run python bench/extract_load.py [--rows 20000] [--repeat 3]``. It starts an embedded
PostgreSQL in a temporary directory (or uses ``--database-url``). Payloads are track objects from
the project's emulator (realistic shape and size).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("PROVIDERS__ENABLE_AIRFLOW_SECRETS", "false")
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("DATA_WRITER__DISABLE_COMPRESSION", "true")

import dlt
import psycopg

from extract.spotify import COMMON_COLUMNS
from spotify_elt.db import EmbeddedPostgres, with_credentials
from spotify_elt.extraction import dlt_credentials


def track_payloads(n: int) -> list[dict[str, Any]]:
    """``n`` track objects as the emulator serves them (development mode)."""
    import requests

    from extract.emulator import EmulatorConfig, EmulatorServer

    out: list[dict[str, Any]] = []
    with EmulatorServer(EmulatorConfig(seed=1, scale=max(n * 2, 1000))) as emu:
        token = requests.post(
            f"{emu.accounts_url}/api/token",
            data={"grant_type": "client_credentials"},
            auth=(emu.state.config.client_id, emu.state.config.client_secret),
            timeout=10,
        ).json()["access_token"]
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        # Album pages hand out many tracks per request; full tracks are then fetched one by one
        # only for a sample, and the rest are cloned with new ids to keep set-up fast.
        sample = []
        q = 0
        while len(sample) < min(n, 200):
            body = session.get(
                f"{emu.api_url}/search",
                params={"q": f"q{q}", "type": "track", "limit": 10},
                timeout=10,
            ).json()
            sample += body["tracks"]["items"]
            q += 1
    for i in range(n):
        obj = dict(sample[i % len(sample)])
        obj["id"] = f"{i:022d}"
        out.append(obj)
    return out


def rows_of(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [
        {"track_id": p["id"], "payload": p, "endpoint": "/tracks/{id}", "requested_at": now}
        for p in payloads
    ]


def bench_copy(url: str, payloads: list[dict[str, Any]]) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_copy")
        conn.execute(
            "CREATE TABLE bench_copy (track_id text, payload jsonb, endpoint text, "
            "requested_at timestamptz)"
        )
        with conn.cursor().copy(
            "COPY bench_copy (track_id, payload, endpoint, requested_at) FROM STDIN"
        ) as copy:
            for p in payloads:
                copy.write_row((p["id"], json.dumps(p), "/tracks/{id}", now))


def bench_dlt(url: str, payloads: list[dict[str, Any]], fmt: str, work: Path) -> None:
    @dlt.resource(name="tracks", write_disposition="replace", columns=COMMON_COLUMNS)
    def tracks() -> Any:
        yield rows_of(payloads)

    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{fmt}",
        destination=dlt.destinations.postgres(credentials=dlt_credentials(url)),
        dataset_name=f"bench_{fmt}",
        pipelines_dir=str(work),
    )
    pipeline.run(tracks().with_name("tracks"), loader_file_format=fmt)  # type: ignore[arg-type]


def measure(fn: Callable[[], None], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="spotify-elt-bench-"))
    server = None
    try:
        if args.database_url:
            url = args.database_url
        else:
            server = EmbeddedPostgres(tmp / "pgdata", database="bench")
            url = with_credentials(server.up(), "postgres", "unused")
        payloads = track_payloads(args.rows)
        size_mb = sum(len(json.dumps(p)) for p in payloads) / 1e6
        results = {
            "copy": measure(lambda: bench_copy(url, payloads), args.repeat),
            "dlt_csv": measure(lambda: bench_dlt(url, payloads, "csv", tmp / "dlt"), args.repeat),
            "dlt_insert_values": measure(
                lambda: bench_dlt(url, payloads, "insert_values", tmp / "dlt"), args.repeat
            ),
        }
        base = results["copy"]
        print(f"{args.rows} rows, {size_mb:.1f} MB of JSON, median of {args.repeat}")
        print(f"{'method':<20} {'seconds':>8} {'rows/s':>9} {'vs COPY':>8}")
        for name, seconds in results.items():
            print(f"{name:<20} {seconds:8.2f} {args.rows / seconds:9.0f} {seconds / base:8.2f}")
    finally:
        if server is not None:
            server.down()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
