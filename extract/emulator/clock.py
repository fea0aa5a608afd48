"""The emulator's clock: what "now" means for tokens, codes and the listening history.

Why a clock of its own: tests must be able to expire a token, let new plays happen and slide the
recently-played window without sleeping. The clock is ``start + offset`` (plus wall time elapsed
since construction when ``realtime`` is on); ``advance`` and ``set`` move the offset.

The rate limiter measures its rolling window on :meth:`Clock.monotonic`, which is wall monotonic
time plus the same manual offset: a client that honours ``Retry-After`` by sleeping gets through
(wall time passes), and a test can free the window at once by advancing the clock.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class Clock:
    """A thread-safe, manually advanceable clock."""

    def __init__(self, start: datetime, *, realtime: bool = False) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._start = start.astimezone(UTC)
        self._realtime = realtime
        self._origin = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()

    def _elapsed(self) -> float:
        return time.monotonic() - self._origin if self._realtime else 0.0

    def now(self) -> datetime:
        """Current emulator time (UTC, timezone-aware)."""
        with self._lock:
            offset = self._offset
        return self._start + timedelta(seconds=offset + self._elapsed())

    def timestamp(self) -> float:
        """Current emulator time as Unix seconds."""
        return self.now().timestamp()

    def now_ms(self) -> int:
        """Current emulator time as Unix milliseconds (the unit of recently-played cursors)."""
        return int(self.timestamp() * 1000)

    def monotonic(self) -> float:
        """Wall monotonic seconds plus the manual offset (for the rate-limit window)."""
        with self._lock:
            offset = self._offset
        return time.monotonic() + offset

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward by ``seconds`` (must not be negative); return the new now."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()

    def set(self, when: datetime) -> datetime:
        """Jump to ``when`` (must not be in the clock's past); return the new now."""
        if when.tzinfo is None:
            raise ValueError("when must be timezone-aware")
        delta = (when - self.now()).total_seconds()
        return self.advance(delta)
