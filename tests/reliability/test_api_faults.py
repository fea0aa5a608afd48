"""API faults: whatever the emulator throws at the extractor, bronze ends up as in a clean run.

Each case extracts from an emulator with the same seed as the reference run but with seeded
faults (429 storms with Retry-After, 5xx answers, latency, truncated bodies, revoked tokens),
then compares bronze with the reference row by row (keys and payload hashes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from reliability_support import CaseLog, Fingerprint
from stack_support import SpotifyStack
from suite_support import cli, error_lines, fingerprint, relogin

pytestmark = [pytest.mark.reliability("API faults"), pytest.mark.slow]

FAULTS: dict[str, dict[str, Any]] = {
    "429 storm with Retry-After": {"rate_budget": 20, "rate_window": 1.0},
    "20% of requests 5xx": {"fault_rate": 0.20, "fault_seed": 3},
    "5% 5xx, slow and 10% truncated bodies": {
        "fault_rate": 0.05,
        "latency_ms": 2,
        "latency_jitter_ms": 20,
        "truncate_rate": 0.10,
    },
    "access tokens revoked every 50 requests": {"revoke_after_requests": 50},
}


@pytest.mark.parametrize("faults", FAULTS.values(), ids=FAULTS.keys())
def test_every_row_arrives_once_despite_faults(
    faults: dict[str, Any],
    stack_on: Callable[..., SpotifyStack],
    reference: Fingerprint,
    reliability: CaseLog,
) -> None:
    stack = stack_on(faults)
    summary = stack.extract()
    events = stack.emulator.stats()["events"]
    # The fault really happened, and the client answered it.
    injected = {
        "rate_budget": "rate_limited",
        "fault_rate": "faults_injected",
        "truncate_rate": "truncated",
        "revoke_after_requests": "tokens_revoked",
    }
    for knob, event in injected.items():
        if knob in faults:
            assert events.get(event, 0) > 0, event
    if "rate_budget" in faults:
        assert summary.rate_limit_waits > 0
    if {"fault_rate", "truncate_rate", "revoke_after_requests"} & set(faults):
        assert sum(summary.retries.values()) > 0
    lost, duplicated = reliability.compare(fingerprint(stack), reference)
    assert (lost, duplicated) == (0, 0)
    assert fingerprint(stack) == reference


def test_access_removed_mid_run_asks_for_a_new_login_then_converges(
    stack_on: Callable[..., SpotifyStack], reference: Fingerprint, reliability: CaseLog
) -> None:
    """The user removes the app's access mid-run: 401, then the refresh is refused."""
    stack = stack_on({"revoke_access_after_requests": 8})
    with reliability.case("refresh token revoked: one sentence naming `spotify-elt auth login`"):
        proc = cli(stack, "extract", "--quiet")
        reliability.output(proc.stdout, proc.stderr)
        assert proc.returncode == 5, proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr
        errors = error_lines(proc.stderr)
        assert len(errors) == 1, proc.stderr[-2000:]
        assert "run `spotify-elt auth login`" in errors[0]
        assert errors[0].count(". ") == 0 and errors[0].endswith(".")
        assert stack.emulator.stats()["events"].get("access_revoked") == 1
        # Only complete loads are in bronze: whatever is there is right and not doubled.
        partial = fingerprint(stack)
        for table, rows in partial.items():
            assert set(rows) <= set(reference.get(table, [])), table
        assert reliability.duplicates(partial) == 0
    with reliability.case("after a new login the next run converges"):
        relogin(stack)
        stack.extract()
        lost, duplicated = reliability.compare(fingerprint(stack), reference)
        assert (lost, duplicated) == (0, 0)
