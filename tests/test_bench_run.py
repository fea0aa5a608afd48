"""The performance bench at a small scale, so that it keeps working (no timing assertions)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest
from stack_support import outside_pytest_tmp

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[1] / "bench" / "run.py"
ROWS = {
    "bronze_load",
    "extract_requests",
    "rerun_catalog_requests",
    "history_import",
    "history_rss",
    "dbt_incremental",
    "dbt_incremental_selected",
    "dag_parse",
    "extractor_rss",
    "emulator_rss",
    "emulator_start",
}


def test_bench_measures_every_row_and_writes_json_and_markdown(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_run", BENCH)
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench  # its dataclasses look their module up
    spec.loader.exec_module(bench)
    readme = tmp_path / "README.md"
    previous = f"{bench.README_START}\nPREVIOUS-RESULTS\n{bench.README_END}"
    readme.write_text(f"# Benchmarks\n\nintro\n\n{previous}\n")
    out = tmp_path / "results.json"
    # The bench's own embedded server lives outside pytest's private temporary folder.
    work = outside_pytest_tmp("spotify-elt-bench-test-")
    try:
        args = ["--scale", "small", "--workdir", str(work), "--json", str(out)]
        rows = bench.main([*args, "--readme", str(readme)])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert {r.key for r in rows} == ROWS
    by_key = {r.key: r for r in rows}
    # Figures that do not depend on the machine's speed.
    assert by_key["rerun_catalog_requests"].value == 0
    assert by_key["extract_requests"].baseline_value <= by_key["extract_requests"].value
    assert by_key["bronze_load"].details["payloads_identical"]
    for row in rows:
        assert row.value > 0 or row.key == "rerun_catalog_requests", row
        assert (row.ratio is None) == (row.baseline_value is None), row
    results = json.loads(out.read_text())
    assert {r["key"] for r in results["rows"]} == ROWS
    assert results["machine"]["cores"] >= 1
    text = readme.read_text()
    assert "intro" in text and "PREVIOUS-RESULTS" not in text
    assert text.count("| ") > len(ROWS) * 5
