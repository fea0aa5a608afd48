"""Seeded fault injection: 5xx answers, latency, truncated bodies, token and access revocation.

Why seeded and drawn per request: a failure seen in a test must be reproducible. Every Web API
request draws the same fixed set of numbers from one generator in arrival order, whatever happens
to the request afterwards, so the same seed and the same request sequence give the same sequence
of statuses, delays and truncations.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class FaultPlan:
    """What to do to one request."""

    sequence: int
    """1-based arrival number of the request among Web API requests."""
    status: int | None
    """An injected 5xx status, or None to serve the request normally."""
    delay_seconds: float
    truncate_fraction: float | None
    """Keep only this fraction of a 200 body, or None to send it whole."""
    revoke_tokens: bool
    """True when this request crosses a revoke-after boundary."""
    revoke_access: bool = False
    """True for the one request at which the user removes the app's access (refresh tokens too)."""


class FaultInjector:
    """Draws one :class:`FaultPlan` per request from a generator seeded once."""

    def __init__(
        self,
        *,
        seed: int,
        fault_rate: float,
        fault_statuses: tuple[int, ...],
        latency_ms: int,
        latency_jitter_ms: int,
        truncate_rate: float,
        revoke_after_requests: int | None,
        revoke_access_after_requests: int | None = None,
    ) -> None:
        self._seed = seed
        self._fault_rate = fault_rate
        self._statuses = fault_statuses
        self._latency_ms = latency_ms
        self._jitter_ms = latency_jitter_ms
        self._truncate_rate = truncate_rate
        self._revoke_after = revoke_after_requests
        self._revoke_access_at = revoke_access_after_requests
        self._lock = threading.Lock()
        self._rng = random.Random(f"faults:{seed}")
        self._sequence = 0

    def next_plan(self) -> FaultPlan:
        """Draw the plan of the next request (thread-safe, strictly sequential)."""
        with self._lock:
            self._sequence += 1
            sequence = self._sequence
            fault_draw = self._rng.random()
            status_draw = self._rng.randrange(len(self._statuses))
            jitter_draw = self._rng.random()
            truncate_draw = self._rng.random()
            fraction_draw = self._rng.random()
        status = self._statuses[status_draw] if fault_draw < self._fault_rate else None
        delay = (self._latency_ms + jitter_draw * self._jitter_ms) / 1000.0
        truncate = 0.1 + 0.8 * fraction_draw if truncate_draw < self._truncate_rate else None
        revoke = self._revoke_after is not None and sequence % self._revoke_after == 0
        # No draw of its own: seeds keep giving the same statuses, delays and truncations.
        access = sequence == self._revoke_access_at
        return FaultPlan(sequence, status, delay, truncate, revoke, access)

    def reset(self) -> None:
        """Restart the draw sequence from the seed (admin reset)."""
        with self._lock:
            self._rng = random.Random(f"faults:{self._seed}")
            self._sequence = 0
