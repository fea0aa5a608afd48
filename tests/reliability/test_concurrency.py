"""Two extractions at once: the second refuses with one sentence (CLI) or waits (Airflow task).

The first run is a CLI process; once PostgreSQL shows it holding the extraction lock, the
emulator stops answering (a gate, as a slow Spotify would) until the second run has refused or
is seen waiting for the lock, so the two really overlap whatever the machine's speed. Afterwards
bronze is what one clean run gives.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from airflow_support import airflow_env
from reliability_support import CaseLog, Fingerprint
from stack_support import SpotifyStack
from suite_support import cli, error_lines, fingerprint

from extract.emulator import EmulatorServer
from extract.emulator.faults import FaultPlan

pytestmark = [pytest.mark.reliability("Concurrency"), pytest.mark.slow]


class Gate:
    """Holds every Web API request of ``emulator`` while closed (its fault plan is drawn first)."""

    def __init__(self, emulator: EmulatorServer) -> None:
        self._open = threading.Event()
        self._open.set()
        draw = emulator.state.faults.next_plan

        def gated() -> FaultPlan:
            self._open.wait(120)
            return draw()

        emulator.state.faults.next_plan = gated  # type: ignore[method-assign]

    def close(self) -> None:
        self._open.clear()

    def open(self) -> None:
        self._open.set()


def _extract(stack: SpotifyStack) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "spotify_elt", "extract", "--quiet"],
        env=stack.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _advisory_locks(stack: SpotifyStack) -> tuple[int, int]:
    """(granted, waiting) advisory locks in the stack's database."""
    with psycopg.connect(stack.admin_url) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE granted), count(*) FILTER (WHERE NOT granted) "
            "FROM pg_locks WHERE locktype = 'advisory' "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _wait_for(condition: Callable[[], bool], what: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"the first run ended before {what}: {err[-2000:]}")
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


def _finish(proc: subprocess.Popen[str], reliability: CaseLog) -> str:
    out, err = proc.communicate(timeout=300)
    reliability.output(out, err)
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err
    return out


def test_a_second_cli_run_refuses_with_one_sentence(
    stack_on: Callable[..., SpotifyStack], reference: Fingerprint, reliability: CaseLog
) -> None:
    stack = stack_on()
    gate = Gate(stack.emulator)
    first = _extract(stack)
    try:
        _wait_for(lambda: _advisory_locks(stack)[0] > 0, "it held the lock", first)
        gate.close()
        second = cli(stack, "extract", "--quiet")
        reliability.output(second.stdout, second.stderr)
        still_running = first.poll() is None
    finally:
        gate.open()
        _finish(first, reliability)
    assert still_running, "the first run ended before the second tried: the case proves nothing"
    assert second.returncode == 5, second.stderr[-2000:]
    assert "Traceback" not in second.stderr
    assert error_lines(second.stderr) == [
        "Error: Another extraction is writing the same bronze tables; wait for it to finish or "
        "run with --wait."
    ]
    lost, duplicated = reliability.compare(fingerprint(stack), reference)
    assert (lost, duplicated) == (0, 0)


def test_an_airflow_extract_task_waits_for_a_cli_run(
    stack_on: Callable[..., SpotifyStack], reference: Fingerprint, reliability: CaseLog
) -> None:
    """The DAG's task callable (``orchestration.extract_task``) while the CLI extracts."""
    stack = stack_on()
    gate = Gate(stack.emulator)
    home = Path(tempfile.mkdtemp(prefix="spotify-elt-airflow-home-"))
    task = (
        "from spotify_elt.orchestration import extract_task; "
        "print('ROWS', extract_task(['recently_played', 'saved_tracks']))"
    )
    first = _extract(stack)
    second: subprocess.Popen[str] | None = None
    try:
        _wait_for(lambda: _advisory_locks(stack)[0] > 0, "it held the lock", first)
        gate.close()
        second = subprocess.Popen(
            [sys.executable, "-c", task],
            env=airflow_env(home, stack.env()),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # The task is blocked on the lock the CLI holds (PostgreSQL shows it waiting).
        _wait_for(lambda: _advisory_locks(stack)[1] > 0, "the task waited for the lock", first)
    finally:
        gate.open()
        _finish(first, reliability)
        out = _finish(second, reliability) if second is not None else ""
        shutil.rmtree(home, ignore_errors=True)
    assert "ROWS {" in out
    lost, duplicated = reliability.compare(fingerprint(stack), reference)
    assert (lost, duplicated) == (0, 0)
