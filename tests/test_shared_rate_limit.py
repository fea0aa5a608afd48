"""One rate budget for every extraction process: held in PostgreSQL, checked by the emulator.

Spotify counts an app's requests over a rolling window, whichever process sends them. Two worker
processes run extract shards at once (as the DAG's mapped tasks do); the emulator records the
most requests it received in any window, which must stay within the budget.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable

import psycopg
import pytest
from stack_support import SMALL_LIBRARY, make_stack, outside_pytest_tmp

from extract.emulator import EmulatorConfig, EmulatorServer
from extract.spotify.client import RollingWindowLimiter
from extract.spotify.shared_limit import PostgresRollingWindowLimiter
from spotify_elt.db import RATE_LIMIT_SCHEMA, role_urls

BUDGET = 6
CLIENT_WINDOW = 2.0
# The emulator counts over a slightly shorter window than the clients keep: the send time is
# taken in the database a few milliseconds before the request reaches the server.
SERVER_WINDOW = 1.8

WORKER = """
import json, sys
from spotify_elt.orchestration import extract_group
print("ROWS " + json.dumps(extract_group(sys.argv[1])), flush=True)
"""


@pytest.mark.slow
def test_two_worker_processes_share_one_budget(fresh_db: str) -> None:
    config = EmulatorConfig(**SMALL_LIBRARY, rate_window=SERVER_WINDOW)  # type: ignore[arg-type]
    with EmulatorServer(config) as emulator:
        stack = make_stack(
            outside_pytest_tmp("spotify-elt-shared-rate-"),
            fresh_db,
            emulator,
            rate_budget=BUDGET,
            rate_window_seconds=CLIENT_WINDOW,
        )
        emulator.reset_stats()
        emulator.reset_rate_limit()
        env = stack.env()
        env.update(
            SPOTIFY_ELT_RATE_WINDOW_SECONDS=str(CLIENT_WINDOW),
            AIRFLOW_HOME=tempfile.mkdtemp(prefix="spotify-elt-airflow-unused-"),
        )
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, group],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for group in ("playlists", "top_lists")
        ]
        outputs = [w.communicate(timeout=300) for w in workers]
        for worker, (_, err) in zip(workers, outputs, strict=True):
            assert worker.returncode == 0, err[-3000:]
        rows = [json.loads(out.split("ROWS ", 1)[1]) for out, _ in outputs]
        stats = emulator.stats()
        peak = emulator.rate_window_peak()
    assert rows[0]["playlists"] > 0 and rows[1]["top_artists"] > 0
    total = stats["api_requests"]
    print(f"\n{total} requests from 2 processes, at most {peak} in any {SERVER_WINDOW} s window")
    # Enough requests that a per-process limiter would have let both exceed the budget together.
    assert total > 2 * BUDGET
    assert stats["events"].get("rate_limited", 0) == 0
    assert peak <= BUDGET
    # Both shards made progress under the one budget (neither waited for the other to finish).
    assert stats["endpoints"]["GET /v1/me/top/artists"]["count"] > 0


def test_the_budget_is_shared_between_limiters_and_a_429_blocks_all(fresh_db: str) -> None:
    """Two limiters (as in two processes) on one bucket admit ``budget`` per window together."""
    with EmulatorServer(EmulatorConfig(**SMALL_LIBRARY)) as emulator:  # type: ignore[arg-type]
        stack = make_stack(outside_pytest_tmp("spotify-elt-limiter-"), fresh_db, emulator)
    loader = role_urls(stack.admin_url, stack.vault).loader
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        """Let ``seconds`` pass for the bucket: its send times move into the past."""
        slept.append(seconds)
        with psycopg.connect(stack.admin_url, autocommit=True) as conn:
            conn.execute(
                "UPDATE ratelimit.spotify_requests SET sent_at = sent_at - make_interval("
                "secs => %s) WHERE bucket = 'test'",
                (seconds,),
            )

    one, two = (
        PostgresRollingWindowLimiter(
            loader, 3, 60.0, bucket="test", schema=RATE_LIMIT_SCHEMA, sleep=sleep
        )
        for _ in range(2)
    )
    try:
        assert [one.acquire(), two.acquire(), one.acquire()] == [0.0, 0.0, 0.0]
        # The fourth request, from either limiter, waits until the first leaves the window.
        waited = two.acquire()
        assert len(slept) == 1 and 55.0 < waited <= 60.1
        # A 429 seen by one process holds back the other for its Retry-After.
        slept.clear()
        one.penalise(5.0)
        waited = two.acquire()
        assert 4.0 < waited <= 5.1 and sum(slept) == pytest.approx(waited)
    finally:
        one.close()
        two.close()


def test_extraction_without_the_rate_limit_schema_says_what_to_do(fresh_db: str) -> None:
    from spotify_elt.extraction import ExtractError

    with EmulatorServer(EmulatorConfig(**SMALL_LIBRARY)) as emulator:  # type: ignore[arg-type]
        stack = make_stack(outside_pytest_tmp("spotify-elt-no-schema-"), fresh_db, emulator)
        with psycopg.connect(stack.admin_url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA ratelimit CASCADE")
        with pytest.raises(ExtractError, match="spotify-elt db init"):
            stack.extract()
    # It stopped before writing anything.
    with psycopg.connect(stack.admin_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'bronze'"
        ).fetchone()
    assert tables == (0,)


@pytest.mark.parametrize(
    "make",
    [
        lambda budget: RollingWindowLimiter(budget),
        lambda budget: PostgresRollingWindowLimiter("postgresql://unused", budget),
    ],
    ids=["in-process", "postgres"],
)
def test_both_limiters_refuse_a_budget_that_lets_nothing_through(
    make: Callable[[int], object],
) -> None:
    with pytest.raises(ValueError, match="at least 1 request per window"):
        make(0)
    assert make(1) is not None
