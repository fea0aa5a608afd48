"""A rolling-window rate limiter counted across the whole Web API (as Spotify does since 2026).

Why rolling rather than fixed buckets: Spotify counts requests over a sliding 30-second window and
answers 429 with ``Retry-After`` set to the seconds until the window frees; a fixed bucket would
let a client burst twice the budget across a boundary and would teach it the wrong back-off.
Only admitted requests occupy the window, so ``Retry-After`` is exact: after that many seconds
the oldest admitted request has left the window and one more request fits.

Whether or not a budget is set, the limiter also keeps the most requests it *received* in any
window (``peak_in_window``): a test can check that clients sharing one budget never exceeded it.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable


class RollingWindowLimiter:
    """Admit at most ``budget`` requests per ``window`` seconds of ``clock`` time."""

    def __init__(self, budget: int | None, window: float, clock: Callable[[], float]) -> None:
        self._budget = budget
        self._window = window
        self._clock = clock
        self._admitted: deque[float] = deque()
        self._received: deque[float] = deque()
        self._peak = 0
        self._lock = threading.Lock()

    def try_acquire(self) -> int | None:
        """Admit one request (return None) or refuse it (return Retry-After in whole seconds)."""
        now = self._clock()
        with self._lock:
            horizon = now - self._window
            while self._received and self._received[0] <= horizon:
                self._received.popleft()
            self._received.append(now)
            self._peak = max(self._peak, len(self._received))
            if self._budget is None:
                return None
            while self._admitted and self._admitted[0] <= horizon:
                self._admitted.popleft()
            if len(self._admitted) < self._budget:
                self._admitted.append(now)
                return None
            wait = self._admitted[0] + self._window - now
        return max(1, math.ceil(wait))

    def in_window(self) -> int:
        """Requests currently occupying the window."""
        now = self._clock()
        with self._lock:
            return sum(1 for t in self._admitted if t > now - self._window)

    def peak_in_window(self) -> int:
        """The most requests received (admitted or not) in any window since the last reset."""
        with self._lock:
            return self._peak

    def reset(self) -> None:
        """Forget every request seen (admin endpoint)."""
        with self._lock:
            self._admitted.clear()
            self._received.clear()
            self._peak = 0
