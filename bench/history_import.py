"""Benchmark: a privacy export of N plays into bronze, through dlt, against plain psycopg COPY.

    uv run python bench/history_import.py                 # 300,000 plays, embedded PostgreSQL
    uv run python bench/history_import.py --plays 20000 --repeat 3
    uv run python bench/history_import.py --database-url postgresql://postgres:pw@127.0.0.1/postgres

The export is generated from the emulator's listening history (seed 0, scale 20,000; plays per
hour set so that N plays span up to two years), written as a zip like Spotify's. Each method
loads the same plays into a fresh database and is timed from opening the export (or the CSV
files) to the commit:

* ``copy``: psycopg 3 ``COPY ... FROM STDIN (FORMAT csv)`` of the CSV files the import stages
  (same rows, same column types, payload as jsonb): the physical limit of loading these rows.
* ``parse+copy``: a hand-written loader without dlt: ijson stream of the export, orjson payload,
  psycopg ``COPY`` with ``write_row``.
* ``dlt import``: ``spotify-elt import-history`` (``spotify_elt.history.import_history``): parse,
  validate, stage CSV, dlt extract/normalize/load with ``with_file_import`` and an insert-only
  merge on ``play_key``.
* ``dlt re-import``: the same export again (idempotent: nothing is added).

Prints seconds (median of ``--repeat``), plays per second and the ratio to ``copy``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # stack_support: the test suite's project builder

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from spotify_elt.config import Settings  # noqa: E402
from spotify_elt.db import EmbeddedPostgres, role_urls, with_credentials  # noqa: E402
from spotify_elt.history import import_history  # noqa: E402
from spotify_elt.vault import Vault  # noqa: E402

from extract.history import PiiPolicy, open_export  # noqa: E402  # isort: skip
from extract.history.parser import stage_file  # noqa: E402  # isort: skip

TABLE_SQL = """
CREATE TABLE {table} (
    play_key text NOT NULL, played_at timestamptz NOT NULL, track_id text, kind text NOT NULL,
    ms_played bigint NOT NULL, payload jsonb NOT NULL, export_format text NOT NULL,
    source_file text NOT NULL, imported_at timestamptz NOT NULL, _dlt_load_id text NOT NULL
)
"""


def generate(out: Path, plays: int, seed: int = 0) -> int:
    """An emulator-consistent export of about ``plays`` plays, as a zip; returns the count."""
    from extract.emulator import EmulatorConfig, EmulatorState
    from extract.emulator.privacy_export import emulator_plays
    from extract.history.synthetic import write_export

    days = min(730, max(2, plays // 400))
    # ~0.85 of the 16 listening hours a day hold plays; extras add ~4 %.
    per_hour = plays / (days * 16 * 0.85 * 1.04)
    end = datetime(2026, 11, 24, tzinfo=UTC)
    state = EmulatorState(EmulatorConfig(seed=seed, scale=20_000, plays_per_hour=per_hour))
    items = list(emulator_plays(state, end - timedelta(days=days), end))
    write_export(items, out, as_zip=True, seed=seed)
    return len(items)


class Server:
    """Fresh databases on the embedded server, or on the server of ``--database-url``."""

    def __init__(self, root: Path, url: str | None) -> None:
        self.embedded: EmbeddedPostgres | None = None
        if url is None:
            self.embedded = EmbeddedPostgres(root / "pg" / "pgdata", database="bench")
            self.embedded.up()
            url = self.embedded.admin_url()
        self.url = url
        self.count = 0

    def fresh(self) -> str:
        self.count += 1
        name = f"history_bench_{os.getpid()}_{self.count}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        parts = urlsplit(self.url)
        return with_credentials(self.url, parts.username or "postgres", parts.password, name)

    def drop_all(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            for n in range(1, self.count + 1):
                name = f"history_bench_{os.getpid()}_{n}"
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )

    def down(self) -> None:
        if self.embedded is not None:
            self.embedded.down()


def project(root: Path, admin: str) -> tuple[Settings, Vault, str]:
    from stack_support import make_home

    settings, vault = make_home(root, admin)
    return settings, vault, role_urls(admin, vault).loader


def stage_csv(export: Path, out: Path) -> list[Path]:
    """The CSV files the import writes for ``export`` (untimed: the rows ``copy`` loads)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with open_export(export) as found:
        for n, file in enumerate(found.files):
            path = out / f"{n}.csv"
            staged = stage_file(
                file, path, pii=PiiPolicy(), imported_at=datetime.now(UTC).isoformat(), load_id="0"
            )
            if staged.rows:
                paths.append(path)
    return paths


def copy_csv(loader: str, files: list[Path]) -> int:
    with psycopg.connect(loader) as conn:
        conn.execute(sql.SQL(TABLE_SQL).format(table=sql.Identifier("bronze", "baseline_copy")))
        rows = 0
        for path in files:
            with path.open("rb") as fh:
                header = fh.readline().decode().strip()
                copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
                    sql.Identifier("bronze", "baseline_copy"),
                    sql.SQL(header),
                )
                with conn.cursor().copy(copy_sql) as copy:
                    while block := fh.read(1 << 20):
                        copy.write(block)
        row = conn.execute("SELECT count(*) FROM bronze.baseline_copy").fetchone()
        rows = int(row[0]) if row else 0
    return rows


def parse_copy(loader: str, export: Path) -> int:
    """A loader without dlt: stream, key and COPY (no validation messages, no dedup)."""
    import hashlib

    import ijson
    import orjson

    now = datetime.now(UTC)
    rows = 0
    with psycopg.connect(loader) as conn:
        conn.execute(sql.SQL(TABLE_SQL).format(table=sql.Identifier("bronze", "baseline_parse")))
        columns = "play_key, played_at, track_id, kind, ms_played, payload, export_format, "
        columns += "source_file, imported_at, _dlt_load_id"
        with (
            open_export(export) as found,
            conn.cursor().copy(f"COPY bronze.baseline_parse ({columns}) FROM STDIN") as copy,
        ):
            for file in found.files:
                with file.open() as fh:
                    for rec in ijson.items(fh, "item", use_float=True):
                        for field in ("ip_addr", "ip_addr_decrypted", "user_agent_decrypted"):
                            rec.pop(field, None)
                        uri = rec.get("spotify_track_uri") or rec.get("spotify_episode_uri")
                        base = f"{rec['ts']}|{uri}|{rec['ms_played']}"
                        copy.write_row(
                            (
                                hashlib.blake2b(base.encode(), digest_size=16).hexdigest(),
                                rec["ts"],
                                uri[14:] if uri and uri.startswith("spotify:track:") else None,
                                "track" if uri else "unknown",
                                rec["ms_played"],
                                orjson.dumps(rec).decode(),
                                "extended",
                                file.name,
                                now,
                                "0",
                            )
                        )
                        rows += 1
    return rows


def timed(run: Callable[[], int]) -> tuple[float, int]:
    started = time.perf_counter()
    rows = run()
    return time.perf_counter() - started, rows


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plays", type=int, default=300_000, help="plays in the export")
    parser.add_argument("--repeat", type=int, default=1, help="runs per method (median)")
    parser.add_argument("--database-url", default=None, help="admin DSN (default: embedded)")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp folder")
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="history-bench-", dir=args.workdir))
    server = Server(root, args.database_url)
    results: dict[str, list[float]] = {}
    try:
        export = root / "my_spotify_data.zip"
        started = time.perf_counter()
        plays = generate(export, args.plays)
        print(
            f"export: {plays} plays, {export.stat().st_size / 1e6:.0f} MB zip "
            f"(generated in {time.perf_counter() - started:.1f} s)"
        )
        csv_files = stage_csv(export, root / "csv")
        for n in range(args.repeat):
            work = root / f"run{n}"
            _, _, loader = project(work / "copy", server.fresh())
            seconds, rows = timed(lambda loader=loader: copy_csv(loader, csv_files))
            results.setdefault("copy", []).append(seconds)

            _, _, loader = project(work / "parse", server.fresh())
            seconds, rows = timed(lambda loader=loader: parse_copy(loader, export))
            results.setdefault("parse+copy", []).append(seconds)

            settings, vault, _ = project(work / "dlt", server.fresh())
            for label in ("dlt import", "dlt re-import"):
                seconds, rows = timed(
                    lambda s=settings, v=vault: import_history(s, v, export).plays_total
                )
                results.setdefault(label, []).append(seconds)
                if rows != plays:
                    raise SystemExit(f"{label}: {rows} plays in bronze, expected {plays}")
    finally:
        server.drop_all()
        server.down()
        shutil.rmtree(root, ignore_errors=True)

    medians = {k: statistics.median(v) for k, v in results.items()}
    base = medians["copy"]
    print(f"{'method':<15} {'seconds':>8} {'plays/s':>10} {'vs copy':>8}")
    for method, seconds in medians.items():
        print(f"{method:<15} {seconds:8.2f} {plays / seconds:10,.0f} {seconds / base:8.2f}")
    return medians


if __name__ == "__main__":
    main()
