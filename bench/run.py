"""The performance bench: every figure of the project's targets, each against a baseline of the
same run, on generated data, in one command.

    uv run python bench/run.py                       # the default scale (< 10 min on 2 cores)
    uv run python bench/run.py --scale small         # seconds: what the test suite runs
    uv run python bench/run.py --scale large         # 1M plays for dbt, 1M catalog tracks
    uv run python bench/run.py --tracks 200000 --plays 300000 --dbt-plays 1000000

Rows (see bench/README.md for what each compares and the targets):

* ``bronze_load``: N track objects through the extractor's dlt path (``catalog_resource``: the
  catalog's staged CSV, ``with_file_import``, merge on ``track_id``) vs psycopg ``COPY`` of the
  same JSON into a ``jsonb`` column.
* ``history_import``: ``import_history`` of an N-play export vs ``COPY`` of the CSV it stages;
  and its peak RSS at N/10 vs N plays (each import in a process of its own).
* ``extract_requests``: requests of a first extraction vs the paging minimum for the same emulator
  state; catalog requests of a no-change re-run.
* ``dbt_incremental``: ``dbt build`` after 1 % new plays (incremental, and only what depends on
  the plays) vs a full build.
* ``dag_parse``: parsing the Airflow DAG folder, warm (second parse in one process).
* ``extractor_rss``, ``emulator``: peak RSS of ``spotify-elt extract`` against catalogs of N/10
  and N tracks; the emulator's RSS at N tracks and its start time.

Each timed figure is a ratio to a baseline measured in the same run on the same server, so that
a busy machine slows both sides. Writes the results as JSON (``--json``) and, with ``--readme``,
replaces the results section of that markdown file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))  # stack_support: the test suite's project builder

import history_import as hist  # noqa: E402
import psycopg  # noqa: E402

SCALES: dict[str, dict[str, int]] = {
    "small": {
        "tracks": 2_000,
        "plays": 3_000,
        "dbt_plays": 3_000,
        "catalog_small": 2_000,
        "catalog_large": 20_000,
    },
    "default": {
        "tracks": 200_000,
        "plays": 300_000,
        "dbt_plays": 300_000,
        "catalog_small": 100_000,
        "catalog_large": 1_000_000,
    },
    "large": {
        "tracks": 200_000,
        "plays": 300_000,
        "dbt_plays": 1_000_000,
        "catalog_small": 100_000,
        "catalog_large": 1_000_000,
    },
}

GROUPS = ("bronze", "extract", "history", "dbt", "dag", "memory")

README_START = "<!-- bench/run.py results: start -->"
README_END = "<!-- bench/run.py results: end -->"


@dataclass
class Row:
    """One figure: measured against its baseline, and the target it must meet."""

    key: str
    figure: str
    scale: str
    baseline: str
    baseline_value: float | None
    measured: str
    value: float
    unit: str
    ratio: float | None
    target: str
    met: bool
    notes: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def _ratio(value: float, base: float) -> float:
    return value / base if base else float("inf")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


# ---------------------------------------------------------------------------- projects


@dataclass
class Project:
    settings: Any
    vault: Any
    admin_url: str
    loader_url: str

    def env(self) -> dict[str, str]:
        from stack_support import home_env

        return home_env(self.settings, self.admin_url)


def make_project(
    root: Path,
    admin_url: str,
    *,
    accounts_url: str | None = None,
    api_url: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> Project:
    """A configured project on ``admin_url``; logged in to the emulator when one is given."""
    from stack_support import free_port, make_home

    from spotify_elt.db import role_urls

    if api_url:
        settings, vault = make_home(
            root,
            admin_url,
            client_secret=client_secret or "",
            login=True,
            accounts_url=accounts_url,
            api_url=api_url,
            client_id=client_id,
            redirect_uri=f"http://127.0.0.1:{free_port()}/callback",
            rate_budget=1_000_000,
        )
    else:
        settings, vault = make_home(root, admin_url)
    return Project(settings, vault, admin_url, role_urls(admin_url, vault).loader)


def _one(url: str, query: str) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
    return row[0] if row else None


# ---------------------------------------------------------------------------- bronze load


def track_payloads(n: int) -> list[dict[str, Any]]:
    """``n`` full track objects: a sample served by the emulator, cloned under new ids."""
    import requests

    from extract.emulator import EmulatorConfig, EmulatorServer

    sample: list[dict[str, Any]] = []
    with EmulatorServer(EmulatorConfig(seed=1, scale=20_000)) as emu:
        token = requests.post(
            f"{emu.accounts_url}/api/token",
            data={"grant_type": "client_credentials"},
            auth=(emu.state.config.client_id, emu.state.config.client_secret),
            timeout=10,
        ).json()["access_token"]
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        q = 0
        while len(sample) < min(n, 200):
            body = session.get(
                f"{emu.api_url}/search",
                params={"q": f"q{q}", "type": "track", "limit": 10},
                timeout=10,
            ).json()
            for item in body["tracks"]["items"]:
                sample.append(session.get(item["href"], timeout=10).json())
            q += 1
    out = []
    for i in range(n):
        obj = dict(sample[i % len(sample)])
        obj["id"] = f"{i:022d}"
        obj["uri"] = f"spotify:track:{obj['id']}"
        out.append(obj)
    return out


def copy_tracks(url: str, payloads: list[dict[str, Any]]) -> int:
    import orjson

    at = datetime.now(UTC)
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TABLE bronze.bench_copy_tracks (track_id text NOT NULL, "
            "payload jsonb NOT NULL, endpoint text NOT NULL, requested_at timestamptz NOT NULL)"
        )
        with conn.cursor().copy(
            "COPY bronze.bench_copy_tracks (track_id, payload, endpoint, requested_at) FROM STDIN"
        ) as copy:
            for p in payloads:
                copy.write_row((p["id"], orjson.dumps(p).decode(), "/tracks/{id}", at))
    return len(payloads)


def dlt_tracks(project: Project, payloads: list[dict[str, Any]]) -> Any:
    """The extractor's load path: its pipeline, its catalog resource, fed from memory."""
    import dlt

    from extract.spotify import CatalogRow, catalog_resource
    from spotify_elt.loading import make_pipeline

    def rows() -> Iterator[CatalogRow]:
        for p in payloads:
            yield "tracks", (p["id"],), p, "/tracks/{id}", datetime.now(UTC).isoformat()

    pipeline = make_pipeline(project.settings, project.loader_url, "bench_bronze")

    @dlt.source(name="spotify_catalog", max_table_nesting=0)
    def source() -> Any:
        return (catalog_resource(rows),)

    return pipeline.run(source(), loader_file_format="csv")


def bench_bronze(server: hist.Server, root: Path, n: int) -> Row:
    payloads = track_payloads(n)
    size = sum(len(json.dumps(p)) for p in payloads[: min(n, 1000)]) / min(n, 1000) * n
    base_project = make_project(root / "bronze-copy", server.fresh())
    copy_s, _ = timed(lambda: copy_tracks(base_project.loader_url, payloads))
    # Warm: dlt imports its destination and loader modules on a first load (seconds, once per
    # process); an untimed load of one track pays that before the timed one.
    dlt_tracks(make_project(root / "bronze-warm", server.fresh()), payloads[:1])
    project = make_project(root / "bronze-dlt", server.fresh())
    dlt_s, info = timed(lambda: dlt_tracks(project, payloads))
    loaded = _one(project.admin_url, "SELECT count(*) FROM bronze.tracks")
    # The payloads must land identical to what COPY stored (compared as jsonb, all rows).
    identical = _identical_payloads(base_project.admin_url, project.admin_url, n)
    if loaded != n or not identical:
        raise SystemExit(f"bronze_load: {loaded} rows of {n}, payloads identical: {identical}")
    ratio = _ratio(dlt_s, copy_s)
    steps = _steps(info.pipeline)
    return Row(
        "bronze_load",
        "bronze load of track objects (the extractor's dlt path)",
        f"{n:,} tracks, {size / 1e6:,.0f} MB of JSON",
        "psycopg COPY of the same JSON into jsonb",
        round(copy_s, 2),
        "dlt: staged CSV, with_file_import, merge on track_id",
        round(dlt_s, 2),
        "s",
        round(ratio, 2),
        "≤ 1.2x COPY",
        ratio <= 1.2,
        notes=f"dlt's steps: extract {steps.get('extract', 0):g} s (rows staged as CSV), "
        f"normalize {steps.get('normalize', 0):g} s, load {steps.get('load', 0):g} s (parallel "
        "COPY into the staging table, then the merge's DELETE + INSERT into bronze.tracks)",
        details={"rows": n, "payloads_identical": identical, "steps": steps},
    )


def _steps(pipeline: Any) -> dict[str, float]:
    """Seconds of each dlt step of the pipeline's last run."""
    return {
        step.step: round((step.finished_at - step.started_at).total_seconds(), 2)
        for step in pipeline.last_trace.steps
    }


def _identical_payloads(copy_url: str, dlt_url: str, n: int) -> bool:
    """Every dlt-loaded payload equals the COPY-loaded one (md5 of the jsonb text, ordered)."""
    query = "SELECT md5(string_agg(md5(payload::text), '' ORDER BY track_id)) FROM {}"
    a = _one(copy_url, query.format("bronze.bench_copy_tracks"))
    b = _one(dlt_url, query.format("bronze.tracks"))
    return bool(a) and a == b


# ---------------------------------------------------------------------------- history


def child_history(args: list[str]) -> None:
    """In a process of its own: import one export, print seconds and peak RSS as JSON."""
    root, admin, export = Path(args[0]), args[1], Path(args[2])
    from spotify_elt.config import load_settings
    from spotify_elt.history import import_history
    from spotify_elt.vault import Vault

    settings = load_settings(
        environ={},
        config_dir=root / "config",
        data_dir=root / "data",
        state_dir=root / "state",
        database_url=admin,
    )
    vault = Vault.from_settings(settings)
    import dlt

    from spotify_elt.db import role_urls
    from spotify_elt.history import PIPELINE_NAME
    from spotify_elt.loading import make_pipeline

    # Warm: what dlt imports on its first run in a process, paid before the timer (read-only).
    make_pipeline(settings, role_urls(admin, vault).loader, PIPELINE_NAME).sync_destination()
    started = time.perf_counter()
    summary = import_history(settings, vault, export)
    seconds = time.perf_counter() - started
    pipeline = dlt.pipeline(PIPELINE_NAME, pipelines_dir=str(Path(settings.data_dir) / "dlt"))
    # ru_maxrss of children: the parsing workers (forked after this process's exec).
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        json.dumps(
            {
                "seconds": seconds,
                "plays": summary.plays_total,
                "rss_mb": peak_rss_mb(),
                "worker_rss_mb": children / 1024,
                "steps": _steps(pipeline),
            }
        )
    )


def peak_rss_mb(pid: int | str = "self") -> float:
    """The peak RSS of a process (``VmHWM``).

    Not ``ru_maxrss``: Linux carries that over from the forking parent across ``exec``, so a
    child of a big process reports the parent's size.
    """
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def import_in_child(project: Project, export: Path) -> dict[str, Any]:
    s = project.settings
    root = Path(s.config_dir).parent
    done = subprocess.run(
        [sys.executable, __file__, "--child-history", str(root), project.admin_url, str(export)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"},
    )
    if done.returncode != 0:
        raise SystemExit(f"history import failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def bench_history(server: hist.Server, root: Path, plays: int, stack: Project) -> list[Row]:
    export = root / "history" / "my_spotify_data.zip"
    export.parent.mkdir(parents=True)
    found = hist.generate(export, plays)
    small_export = root / "history" / "small.zip"
    found_small = hist.generate(small_export, max(plays // 10, 100))
    csv_files = hist.stage_csv(export, root / "history" / "csv")
    base = make_project(root / "history-copy", server.fresh())
    copy_s, copied = timed(lambda: hist.copy_csv(base.loader_url, csv_files))
    # The import lands in the extraction's database: dbt builds on it next.
    big = import_in_child(stack, export)
    small = import_in_child(make_project(root / "history-small", server.fresh()), small_export)
    if big["plays"] != found or copied != found:
        raise SystemExit(f"history: {big['plays']} imported, {copied} copied, {found} expected")
    ratio = _ratio(big["seconds"], copy_s)
    peak_small = small["rss_mb"]
    peak_big = big["rss_mb"]
    rss_ratio = _ratio(peak_big, peak_small)
    steps = big["steps"]
    return [
        Row(
            "history_import",
            "history import of a privacy export",
            f"{found:,} plays, {export.stat().st_size / 1e6:.0f} MB zip",
            "psycopg COPY of the CSV the import stages",
            round(copy_s, 2),
            "spotify-elt import-history (parse in 2 processes, stage, dlt)",
            round(big["seconds"], 2),
            "s",
            round(ratio, 2),
            "≤ 1.3x COPY",
            ratio <= 1.3,
            notes="dlt's steps: extract {extract:g} s (parse, validate, stage in 2 processes), "
            "normalize {normalize:g} s, load {load:g} s (COPY into the staging table, then the "
            "insert-only MERGE)".format(**{"extract": 0, "normalize": 0, "load": 0, **steps}),
            details={"steps": big["steps"]},
        ),
        Row(
            "history_rss",
            "history import peak RSS (the importing process)",
            f"{found_small:,} vs {found:,} plays",
            f"{found_small:,} plays",
            round(peak_small, 1),
            f"{found:,} plays",
            round(peak_big, 1),
            "MB",
            round(rss_ratio, 2),
            "flat (≤ 1.2x)",
            rss_ratio <= 1.2,
            notes=f"parsing workers peak at {small['worker_rss_mb']:.0f} and "
            f"{big['worker_rss_mb']:.0f} MB (forked: mostly pages shared with the importer)",
            details={"small": small, "big": big},
        ),
    ]


# ---------------------------------------------------------------------------- extraction


def _pages(n: int, limit: int = 50) -> int:
    return max(1, -(-n // limit))


def paging_minimum(project: Project) -> dict[str, int]:
    """The fewest requests that read what bronze now holds (maximum page sizes, no retries)."""
    url = project.admin_url

    def count(table: str) -> int:
        if _one(url, f"SELECT to_regclass('bronze.{table}')") is None:
            return 0
        return int(_one(url, f"SELECT count(*) FROM bronze.{table}") or 0)

    with psycopg.connect(url) as conn:
        top = conn.execute(
            "SELECT 'artists', time_range, count(*) FROM bronze.top_artists GROUP BY 1, 2 "
            "UNION ALL SELECT 'tracks', time_range, count(*) FROM bronze.top_tracks GROUP BY 1, 2"
        ).fetchall()
        readable = conn.execute(
            "SELECT coalesce(payload->'items', payload->'tracks')->>'total' FROM bronze.playlists"
            " WHERE payload->'owner'->>'id' = 'emulator-user' OR (payload->>'collaborative')::bool"
        ).fetchall()
        long_albums = conn.execute(
            "SELECT (payload->'tracks'->>'total')::int, "
            "jsonb_array_length(payload->'tracks'->'items') FROM bronze.albums"
        ).fetchall()
    time_ranges = project.settings.time_ranges
    minimum = {
        "/me/tracks": _pages(count("saved_tracks")),
        "/me/albums": _pages(count("saved_albums")),
        "/me/following": _pages(count("followed_artists")),
        "/me/playlists": _pages(count("playlists")),
        "/me/player/recently-played": 1,
        "/me/top": sum(
            _pages(sum(n for kind, r, n in top if (kind, r) == (k, tr)))
            for k in ("artists", "tracks")
            for tr in time_ranges
        ),
        "/me": 1,
        "/playlists/{id}/items": sum(_pages(int(t)) for (t,) in readable),
        "/albums/{id}/tracks": sum(
            _pages(total - first) for total, first in long_albums if total > first
        ),
        "/tracks/{id}": count("tracks"),
        "/albums/{id}": count("albums"),
        "/artists/{id}": count("artists"),
    }
    return minimum


def bench_extract(server: hist.Server, root: Path) -> tuple[list[Row], Project, Any]:
    from extract.emulator import EmulatorConfig, EmulatorServer
    from spotify_elt.extraction import credentials_from_vault, run_extract

    emu = EmulatorServer(EmulatorConfig(seed=0, scale=20_000))
    emu.start()
    project = make_project(
        root / "stack",
        server.fresh(),
        accounts_url=emu.accounts_url,
        api_url=emu.api_url,
        client_id=emu.state.config.client_id,
        client_secret=emu.state.config.client_secret,
    )
    creds = credentials_from_vault(project.settings, project.vault)
    first = run_extract(project.settings, project.vault, creds)
    minimum = paging_minimum(project)
    needed = sum(minimum.values())
    made = first.total_requests
    emu.reset_stats()
    second = run_extract(project.settings, project.vault, creds)
    catalog = {e: n for e, n in second.requests.items() if not e.startswith(("/me", "/playlists"))}
    ratio = _ratio(made, needed)
    rows = [
        Row(
            "extract_requests",
            "extraction requests",
            "emulator seed 0, 20,000 tracks, Development Mode",
            "the paging minimum for the same state",
            needed,
            "a first extraction",
            made,
            "requests",
            round(ratio, 3),
            "≤ 1.05x",
            ratio <= 1.05,
            notes="the excess is the one batch probe that answers 403 in Development Mode",
            details={"made": dict(first.requests), "minimum": minimum},
        ),
        Row(
            "rerun_catalog_requests",
            "catalog requests of a no-change re-run",
            "same state, second run",
            "—",
            None,
            "catalog requests",
            sum(catalog.values()),
            "requests",
            None,
            "0",
            not catalog,
            details={"total_requests": second.total_requests, "catalog": catalog},
        ),
    ]
    return rows, project, emu


# ---------------------------------------------------------------------------- dbt


# Copies of the newest plays, later in time, keyed anew per load (bronze is insert-only on
# play_key: a second batch copying some of the first's rows must not reuse their keys).
NEW_PLAYS_SQL = """
INSERT INTO bronze.streaming_history
    (play_key, played_at, track_id, kind, ms_played, export_format, source_file, payload,
     imported_at, _dlt_load_id)
SELECT md5(play_key || '{load_id}'), played_at + interval '{days} days', track_id, kind,
       ms_played, export_format, source_file,
       jsonb_set(payload, '{{ts}}', to_jsonb(to_char((played_at + interval '{days} days')
           AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))),
       now(), '{load_id}'
FROM bronze.streaming_history
ORDER BY played_at DESC
LIMIT {n}
"""


def _dbt_profile(target: Path) -> dict[str, Any]:
    """Seconds per node type and the slowest nodes of the last dbt run in ``target``."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    by_type: dict[str, float] = {}
    for r in results:
        kind = r["unique_id"].split(".")[0]
        by_type[kind] = by_type.get(kind, 0.0) + r["execution_time"]
    slowest = sorted(results, key=lambda r: -r["execution_time"])[:6]
    return {
        "seconds_by_type": {k: round(v, 1) for k, v in by_type.items()},
        "slowest": {r["unique_id"].split(".")[-1]: round(r["execution_time"], 1) for r in slowest},
    }


def bench_dbt(project: Project, plays: int) -> list[Row]:
    from spotify_elt.transform import run_transform

    target = Path(project.settings.data_dir) / "dbt-target"
    full = run_transform(
        project.settings, project.vault, full_refresh=True, target_path=target, quiet=True
    )
    profiles = {"full": _dbt_profile(target)}
    total = int(_one(project.admin_url, "SELECT count(*) FROM bronze.streaming_history"))
    span = _one(
        project.admin_url,
        "SELECT extract(day FROM max(played_at) - min(played_at))::int + 1 "
        "FROM bronze.streaming_history",
    )
    new = max(1, total // 100)
    load_id = f"{time.time():.6f}"
    with psycopg.connect(project.admin_url) as conn:
        conn.execute(NEW_PLAYS_SQL.format(days=int(span or 1), load_id=load_id, n=new))
    everything = run_transform(project.settings, project.vault, target_path=target, quiet=True)
    profiles["dbt_incremental"] = _dbt_profile(target)
    # What the DAG's state-based selection builds: the models (and tests) the plays feed.
    with psycopg.connect(project.admin_url) as conn:
        conn.execute(
            NEW_PLAYS_SQL.format(days=2 * int(span or 1), load_id=f"{time.time():.6f}", n=new)
        )
    selected = run_transform(
        project.settings,
        project.vault,
        select=["source:spotify.streaming_history+"],
        target_path=target,
        quiet=True,
    )
    profiles["dbt_incremental_selected"] = _dbt_profile(target)
    rows = []
    for key, label, result in (
        ("dbt_incremental", "incremental dbt build after 1 % new plays", everything),
        (
            "dbt_incremental_selected",
            "incremental dbt build of what the plays feed, after 1 % new plays",
            selected,
        ),
    ):
        ratio = _ratio(result.seconds, full.seconds)
        rows.append(
            Row(
                key,
                label,
                f"{total:,} plays + {new:,}",
                "full build (--full-refresh)",
                round(full.seconds, 2),
                "dbt build"
                + (
                    " --select source:spotify.streaming_history+"
                    if key.endswith("selected")
                    else ""
                ),
                round(result.seconds, 2),
                "s",
                round(ratio, 2),
                "≤ 25 % of the full build",
                ratio <= 0.25,
                details={
                    "nodes": len(result.nodes),
                    "profile": profiles[key],
                    "full": profiles["full"],
                },
            )
        )
    del plays
    return rows


# ---------------------------------------------------------------------------- DAG parse


DAG_PARSE = """
import json, os, sys, time
from airflow.dag_processing.dagbag import DagBag
started = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
cold = time.perf_counter() - started
times = []
for _ in range(3):
    started = time.perf_counter()
    DagBag(dag_folder=sys.argv[1], include_examples=False)
    times.append(time.perf_counter() - started)
print(json.dumps({"cold": cold, "warm": sorted(times)[1], "errors": len(bag.import_errors),
                  "dags": len(bag.dags)}))
"""


def bench_dag_parse(root: Path) -> Row:
    from spotify_elt.dbt_runner import dbt_parse
    from spotify_elt.orchestration import dags_folder

    manifest = dbt_parse(root / "dag-parse" / "target")
    home = root / "dag-parse" / "airflow"
    home.mkdir(parents=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
        "AIRFLOW__DATAHUB__ENABLED": "false",
        "AIRFLOW__COSMOS__ENABLE_CACHE_DBT_LS": "false",
        "SPOTIFY_ELT_DBT_MANIFEST": str(manifest),
        "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}",
    }
    done = subprocess.run(
        [sys.executable, "-c", DAG_PARSE, str(dags_folder())],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"DAG parse failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    if out["errors"] or not out["dags"]:
        raise SystemExit(f"DAG parse: {out}")
    return Row(
        "dag_parse",
        "DAG parse, warm",
        "airflow/dags, Cosmos over the dbt manifest",
        "—",
        None,
        "DagBag of the folder (median of 3 after a first parse)",
        round(out["warm"], 3),
        "s",
        None,
        "< 0.5 s",
        out["warm"] < 0.5,
        details=out,
    )


# ---------------------------------------------------------------------------- memory


@dataclass
class Emulator:
    proc: subprocess.Popen[str]
    port: int
    start_seconds: float

    @property
    def accounts_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.accounts_url}/v1"

    def rss_mb(self) -> float:
        return peak_rss_mb(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_emulator(scale: int) -> Emulator:
    import requests
    from stack_support import free_port

    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "spotify_elt",
            "emulator",
            "serve",
            "--port",
            str(port),
            "--scale",
            str(scale),
            "--seed",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = started + 60
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}/_emulator/health", timeout=1).ok:
                break
        except requests.ConnectionError:
            pass
        if proc.poll() is not None or time.perf_counter() > deadline:
            proc.kill()
            raise SystemExit(
                f"the emulator did not start: {proc.stderr.read() if proc.stderr else ''}"
            )
        time.sleep(0.01)
    return Emulator(proc, port, time.perf_counter() - started)


def extract_rss(server: hist.Server, root: Path, emu: Emulator, name: str) -> float:
    from extract.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    project = make_project(
        root / name,
        server.fresh(),
        accounts_url=emu.accounts_url,
        api_url=emu.api_url,
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
    )
    report = root / name / "rss"
    done = subprocess.run(
        [sys.executable, "-c", EXTRACT_WITH_RSS, str(report)],
        env=project.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"extract failed: {done.stderr[-3000:]}")
    return float(report.read_text())


# `spotify-elt extract`, reporting its peak RSS (VmHWM) at exit.
EXTRACT_WITH_RSS = """
import atexit, sys
from pathlib import Path

out = Path(sys.argv[1])

def report():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            out.write_text(str(int(line.split()[1]) / 1024))

atexit.register(report)
sys.argv = ["spotify-elt", "extract"]
from spotify_elt.cli import entry_point
entry_point()
"""


def bench_memory(server: hist.Server, root: Path, small: int, large: int) -> list[Row]:
    emu_small = start_emulator(small)
    try:
        rss_small = extract_rss(server, root, emu_small, "rss-small")
    finally:
        emu_small.stop()
    emu_large = start_emulator(large)
    try:
        rss_large = extract_rss(server, root, emu_large, "rss-large")
        emu_rss = emu_large.rss_mb()
    finally:
        emu_large.stop()
    ratio = _ratio(rss_large, rss_small)
    return [
        Row(
            "extractor_rss",
            "extractor peak RSS (spotify-elt extract)",
            f"catalog of {small:,} vs {large:,} tracks",
            f"{small:,} tracks",
            round(rss_small, 1),
            f"{large:,} tracks",
            round(rss_large, 1),
            "MB",
            round(ratio, 2),
            "flat (≤ 1.2x)",
            ratio <= 1.2,
        ),
        Row(
            "emulator_rss",
            "emulator peak RSS after serving an extraction",
            f"{large:,} tracks",
            "—",
            None,
            "VmHWM of spotify-elt emulator serve",
            round(emu_rss, 1),
            "MB",
            None,
            "< 300 MB",
            emu_rss < 300,
        ),
        Row(
            "emulator_start",
            "emulator start (process start to a health answer)",
            f"{large:,} tracks",
            "—",
            None,
            "spotify-elt emulator serve",
            round(emu_large.start_seconds, 2),
            "s",
            None,
            "< 2 s",
            emu_large.start_seconds < 2,
            details={"small_start": round(emu_small.start_seconds, 2)},
        ),
    ]


# ---------------------------------------------------------------------------- report


def machine(admin_url: str) -> dict[str, Any]:
    from importlib.metadata import version

    cpu = ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GB"
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": _one(admin_url, "SHOW server_version"),
        "dlt": version("dlt"),
        "dbt-core": version("dbt-core"),
        "commit": commit,
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }


def markdown(rows: list[Row], info: dict[str, Any], scale: dict[str, int], seconds: float) -> str:
    lines = [
        README_START,
        "",
        f"Run of {info['date']} (commit {info['commit']}), {seconds / 60:.1f} min: "
        f"{info['cpu']}, {info['cores']} cores, {info['memory']}, {info['os']}, "
        f"Python {info['python']}, PostgreSQL {info['postgresql']} (embedded), "
        f"dlt {info['dlt']}, dbt-core {info['dbt-core']}; load average "
        f"{info['load_average_start'][0]} at the start, {info['load_average_end'][0]} at the end "
        "(the machine is shared: ratios, not seconds, are the figures).",
        "",
        "Scale: " + ", ".join(f"{k} {v:,}" for k, v in scale.items()) + ".",
        "",
        "| figure | scale | baseline | measured | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        base = (
            r.baseline
            if r.baseline_value is None
            else f"{r.baseline}: {r.baseline_value:g} {r.unit}"
        )
        ratio = "—" if r.ratio is None else f"{r.ratio:g}x"
        lines.append(
            f"| {r.figure} | {r.scale} | {base} | {r.measured}: {r.value:g} {r.unit} | {ratio} "
            f"| {r.target} | {'yes' if r.met else '**no**'} |"
        )
    noted = [r for r in rows if r.notes]
    if noted:
        lines += [""] + [f"- {r.figure}: {r.notes}." for r in noted]
    lines += ["", README_END]
    return "\n".join(lines)


def write_readme(path: Path, block: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if README_START in text and README_END in text:
        head, rest = text.split(README_START, 1)
        _, tail = rest.split(README_END, 1)
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="default")
    for name in SCALES["default"]:
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=None)
    parser.add_argument("--database-url", default=None, help="admin DSN (default: embedded)")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp folder")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--readme", type=Path, default=None, help="update this markdown file")
    parser.add_argument(
        "--only",
        default=",".join(GROUPS),
        help=f"comma-separated groups of rows to run (default: all of {','.join(GROUPS)}; "
        "dbt needs extract and history, which it then runs too)",
    )
    parser.add_argument("--child-history", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_history:
        child_history(args.child_history)
        return []
    scale = dict(SCALES[args.scale])
    for name in scale:
        value = getattr(args, name)
        if value is not None:
            scale[name] = value

    only = set(args.only.split(","))
    if unknown := only - set(GROUPS):
        parser.error(f"unknown groups {', '.join(sorted(unknown))}")
    if "dbt" in only:
        only |= {"extract", "history"}
    if "history" in only:
        only.add("extract")

    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="spotify-elt-bench-", dir=args.workdir))
    server = hist.Server(root, args.database_url)
    rows: list[Row] = []
    emu = None
    stack: Project | None = None
    try:
        info = machine(server.url)
        info["date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")

        def step(label: str) -> None:
            print(f"[{time.perf_counter() - started:6.0f} s] {label}", flush=True)

        if "bronze" in only:
            step(f"bronze load of {scale['tracks']:,} tracks")
            rows.append(bench_bronze(server, root, scale["tracks"]))
        if "extract" in only:
            step("extraction requests")
            extract_rows, stack, emu = bench_extract(server, root)
            rows += extract_rows
        if "history" in only:
            assert stack is not None
            step(f"history import of {scale['plays']:,} plays")
            rows += bench_history(server, root, scale["plays"], stack)
        if "dbt" in only:
            assert stack is not None
            if scale["dbt_plays"] > scale["plays"]:
                step(f"{scale['dbt_plays'] - scale['plays']:,} more plays for dbt")
                export = root / "history" / "dbt.zip"
                hist.generate(export, scale["dbt_plays"] - scale["plays"], seed=0)
                import_in_child(stack, export)
            step("dbt full and incremental builds")
            rows += bench_dbt(stack, scale["dbt_plays"])
        if emu is not None:
            emu.stop()
            emu = None
        if "dag" in only:
            step("DAG parse")
            rows.append(bench_dag_parse(root))
        if "memory" in only:
            step("memory and emulator start")
            rows += bench_memory(server, root, scale["catalog_small"], scale["catalog_large"])
    finally:
        if emu is not None:
            emu.stop()
        server.drop_all()
        server.down()
        shutil.rmtree(root, ignore_errors=True)
    seconds = time.perf_counter() - started
    info["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    info["seconds"] = round(seconds, 1)

    width = max(len(r.key) for r in rows)
    print(f"\n{'figure':<{width}}  {'baseline':>12}  {'measured':>12}  {'ratio':>7}  target")
    for r in rows:
        base = "" if r.baseline_value is None else f"{r.baseline_value:g} {r.unit}"
        ratio = "" if r.ratio is None else f"{r.ratio:g}x"
        mark = "ok" if r.met else "MISSED"
        print(
            f"{r.key:<{width}}  {base:>12}  {f'{r.value:g} {r.unit}':>12}  {ratio:>7}  "
            f"{r.target} {mark}"
        )
    print(f"({seconds / 60:.1f} min)")
    if args.json:
        payload = {"machine": info, "scale": scale, "rows": [asdict(r) for r in rows]}
        args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    if args.readme:
        write_readme(args.readme, markdown(rows, info, scale, seconds))
    return rows


if __name__ == "__main__":
    main()
