"""The history benchmark at a small scale, so that it does not rot (no timing assertions)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from spotify_elt.db import EmbeddedPostgres

BENCH = Path(__file__).resolve().parents[1] / "bench" / "history_import.py"

pytestmark = pytest.mark.slow


def test_history_benchmark_runs(embedded_server: EmbeddedPostgres, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("history_bench", BENCH)
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    medians = bench.main(
        [
            "--plays",
            "1500",
            "--database-url",
            embedded_server.admin_url(),
            "--workdir",
            str(tmp_path),
        ]
    )
    assert set(medians) == {"copy", "parse+copy", "dlt import", "dlt re-import"}
    assert all(seconds > 0 for seconds in medians.values())
