"""SIGKILL at seeded random points: the next run converges to what an uninterrupted run loads.

Each command (``spotify-elt extract``, ``spotify-elt import-history``, ``spotify-elt transform``)
runs once uninterrupted, which gives the reference and the length of a run; then, for each kill
point (a seeded random delay within that length), a run on a fresh installation is killed
(SIGKILL, the whole process group) after the delay and run again to the end. After each re-run
bronze must equal the reference (keys and a hash of each row per table, load columns left out);
for dbt (killed and re-run on the bronze of the uninterrupted build), silver and gold (row counts
and hashes per table). ``CRASH_POINTS`` sets the number of kill points of the extractor and of the
import (default 20), ``CRASH_DBT_POINTS`` those of dbt (default 3: a build is ~15 s).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from reliability_support import CaseLog, Fingerprint, bronze_fingerprint
from stack_support import SMALL_LIBRARY, PgServer, SpotifyStack, make_stack, outside_pytest_tmp
from suite_support import fingerprint

from extract.emulator import EmulatorConfig, EmulatorServer
from extract.emulator.privacy_export import emulator_plays
from extract.history.synthetic import write_export
from spotify_elt.db import EmbeddedPostgres

pytestmark = [pytest.mark.reliability("Crash safety"), pytest.mark.slow]

POINTS = int(os.environ.get("CRASH_POINTS", "20"))
SEED = 12


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spotify_elt", *args],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def _timed(env: dict[str, str], *args: str) -> float:
    started = time.monotonic()
    done = _cli(env, *args)
    assert done.returncode == 0, done.stderr
    return time.monotonic() - started


def _killed_after(env: dict[str, str], delay: float, *args: str) -> int | None:
    """Run the CLI; SIGKILL its process group after ``delay`` seconds (None: it ended first)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "spotify_elt", *args],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        proc.wait(timeout=delay)
        return None
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        code = proc.wait(timeout=60)
        # A run can end on its own between the wait's timeout and the signal (a kill point at
        # the very end of a run on a busy machine): it ended first.
        return None if code == 0 else code


def _delays(duration: float, n: int, salt: int) -> list[float]:
    """``n`` kill points spread over a run of ``duration`` (seeded: the same on every run)."""
    rng = random.Random(SEED * 1000 + salt)
    return sorted(round(rng.uniform(0.1, duration), 2) for _ in range(n))


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(**SMALL_LIBRARY)) as server:  # type: ignore[arg-type]
        yield server


@pytest.fixture
def installation(
    embedded_server: EmbeddedPostgres, emulator: EmulatorServer
) -> Iterator[Callable[[], SpotifyStack]]:
    """A factory of fresh logged-in installations (a database and directories each)."""
    roots: list[Path] = []

    def new() -> SpotifyStack:
        root = outside_pytest_tmp("spotify-elt-crash-")
        roots.append(root)
        admin = PgServer("embedded", embedded_server.admin_url()).fresh_database()
        return make_stack(root, admin, emulator)

    yield new
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)


def test_extract_killed_at_random_points_converges(
    installation: Callable[[], SpotifyStack], reliability: CaseLog
) -> None:
    new = installation
    first = new()
    duration = _timed(first.env(), "extract", "--quiet")
    want = fingerprint(first)
    assert sum(len(rows) for rows in want.values()) > 500
    for delay in _delays(duration, POINTS, 1):
        with reliability.case(f"killed after {delay:.2f}s"):
            stack = new()
            killed = _killed_after(stack.env(), delay, "extract", "--quiet")
            assert killed in (None, -signal.SIGKILL)
            done = _cli(stack.env(), "extract", "--quiet")
            assert reliability.output(done.stdout, done.stderr) == 0
            assert done.returncode == 0, done.stderr
            assert reliability.compare(fingerprint(stack), want) == (0, 0)


# ---------------------------------------------------------------------------- history import

END = datetime(2026, 11, 20, 12, tzinfo=UTC)


def test_import_killed_at_random_points_converges(
    installation: Callable[[], SpotifyStack],
    emulator: EmulatorServer,
    reliability: CaseLog,
) -> None:
    new = installation
    root = outside_pytest_tmp("spotify-elt-crash-export-")
    try:
        plays = list(emulator_plays(emulator.state, END - timedelta(days=20), END))
        export = write_export(plays, root / "export.zip", as_zip=True, seed=7, records_per_file=800)
        first = new()
        duration = _timed(first.env(), "import-history", str(export), "--quiet")
        want = _history(first)
        assert len(want["streaming_history"]) == len(plays) > 1000
        for delay in _delays(duration, POINTS, 2):
            with reliability.case(f"killed after {delay:.2f}s"):
                stack = new()
                killed = _killed_after(stack.env(), delay, "import-history", str(export), "--quiet")
                assert killed in (None, -signal.SIGKILL)
                done = _cli(stack.env(), "import-history", str(export), "--quiet")
                assert reliability.output(done.stdout, done.stderr) == 0
                assert done.returncode == 0, done.stderr
                assert reliability.compare(_history(stack), want) == (0, 0)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _history(stack: SpotifyStack) -> Fingerprint:
    found = bronze_fingerprint(stack.admin_url)
    return {"streaming_history": found.get("streaming_history", [])}


# ---------------------------------------------------------------------------- dbt build

#: Columns of silver and gold that differ between two builds of the same bronze.
BUILD_VOLATILE = ("_dbt_loaded_at", "dbt_updated_at", "built_at", "_loaded_at")


def models_fingerprint(admin_url: str) -> dict[str, tuple[int, str]]:
    """Every silver and gold table or view: its row count and a hash of its sorted rows."""
    from psycopg import sql

    found: dict[str, tuple[int, str]] = {}
    with psycopg.connect(admin_url) as conn:
        relations = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('silver', 'gold') ORDER BY 1, 2"
        ).fetchall()
        for schema, table in relations:
            row = sql.SQL("to_jsonb(t)") + sql.SQL("").join(
                sql.SQL(" - {}").format(sql.Literal(c)) for c in BUILD_VOLATILE
            )
            query = sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(h, ',' ORDER BY h), '')) "
                "FROM (SELECT md5(({row})::text) AS h FROM {table} AS t) AS rows"
            ).format(row=row, table=sql.Identifier(schema, table))
            count, digest = conn.execute(query).fetchone() or (0, "")
            found[f"{schema}.{table}"] = (int(count), str(digest))
    return found


DBT_POINTS = int(os.environ.get("CRASH_DBT_POINTS", "3"))


def test_dbt_build_killed_mid_way_converges(
    installation: Callable[[], SpotifyStack], reliability: CaseLog
) -> None:
    """On one bronze: an uninterrupted build, then builds killed mid-way and run again."""
    stack = installation()
    stack.extract()
    duration = _timed(stack.env(), "transform")
    want = models_fingerprint(stack.admin_url)
    assert len(want) > 5 and sum(count for count, _ in want.values()) > 500
    for delay in _delays(duration, DBT_POINTS, 3):
        with reliability.case(f"killed after {delay:.2f}s"):
            killed = _killed_after(stack.env(), delay, "transform")
            assert killed in (None, -signal.SIGKILL)
            done = _cli(stack.env(), "transform")
            assert reliability.output(done.stdout, done.stderr) == 0
            assert done.returncode == 0, done.stderr[-2000:]
            assert models_fingerprint(stack.admin_url) == want
