"""``emulator export-history``: a moment without an offset on the command line is UTC."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spotify_elt.cli import main

HISTORY = ["--seed", "7", "--scale", "2000", "--days", "0.5", "--tracks-only"]


def _export(out: Path, end: str) -> bytes:
    assert main(["emulator", "export-history", "--out", str(out), *HISTORY, "--end", end]) == 0
    return b"".join(path.read_bytes() for path in sorted(out.rglob("*.json")))


@pytest.fixture
def local_time_not_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A machine whose local time is not UTC, where a naive moment taken as local time shows."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_time_not_utc")
def test_an_end_without_offset_is_utc(tmp_path: Path) -> None:
    naive = _export(tmp_path / "naive", "2026-01-02T12:00:00")
    assert naive == _export(tmp_path / "utc", "2026-01-02T12:00:00+0000")
    assert naive != _export(tmp_path / "cest", "2026-01-02T12:00:00+0200")
