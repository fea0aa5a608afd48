"""The listening report: the notebook executed headlessly over gold built from emulator data."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from stack_support import REPORT_CHARTS as CHARTS
from stack_support import (
    PgServer,
    SpotifyStack,
    assert_real_image,
    headless_chromium,
    outside_pytest_tmp,
)

from spotify_elt.report import Report, ReportError, notebook_path, render_report


@pytest.fixture(scope="module")
def gold_report(dev_build: Any) -> Iterator[Report]:
    """The report over the session's gold (built once by the dbt suites' ``dev_build``)."""
    stack: SpotifyStack = dev_build.stack
    assert dev_build.result.success
    out = outside_pytest_tmp("spotify-elt-report-")
    yield render_report(stack.settings, stack.vault, out_dir=out)
    shutil.rmtree(out, ignore_errors=True)


@pytest.mark.slow
def test_report_over_gold_writes_html_and_every_chart(gold_report: Report) -> None:
    assert {p.stem for p in gold_report.charts} == CHARTS
    for chart in gold_report.charts:
        assert_real_image(chart)
    page = gold_report.html.read_text()
    assert page.startswith("<!doctype html>")
    assert page.count("data:image/png;base64,") == len(CHARTS)
    # Self-contained: nothing is fetched from elsewhere.
    assert "<script src=" not in page and "<link " not in page
    for heading in ("When do you listen?", "Top artists and tracks", "Discovery rate"):
        assert heading in page
    assert "def chart(" not in page  # code is hidden


@pytest.mark.slow
def test_report_holds_no_secret(gold_report: Report, bronze_stack: SpotifyStack) -> None:
    secrets = [bronze_stack.vault.get(n) for n in bronze_stack.vault.names()]
    assert secrets
    text = gold_report.html.read_text() + gold_report.notebook.read_text()
    for value in secrets:
        assert value and value not in text


@pytest.mark.slow
def test_report_renders_in_headless_chromium(gold_report: Report, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    headless_chromium(
        gold_report.html.as_uri(),
        tmp_path / "profile",
        "--window-size=1200,2400",
        f"--screenshot={shot}",
    )
    assert_real_image(shot, min_size=(1000, 2000))


@pytest.mark.slow
def test_every_chart_has_alt_text(gold_report: Report) -> None:
    page = gold_report.html.read_text()
    images = re.findall(r"<img\b[^>]*>", page)
    assert len(images) == len(CHARTS)
    for tag in images:
        alt = re.search(r'\balt="([^"]{30,})"', tag)
        assert alt, tag[:120]
    assert "Bar chart of the top 10 artists of the " in page


@pytest.mark.slow
def test_empty_gold_gives_messages_not_a_crash(bronze_stack: SpotifyStack) -> None:
    # A fresh, initialised database: gold exists but holds no table yet.
    from stack_support import make_stack

    empty_db = PgServer("embedded", bronze_stack.admin_url).fresh_database()
    stack = make_stack(
        outside_pytest_tmp("spotify-elt-empty-"), empty_db, bronze_stack.emulator, login=False
    )
    out = outside_pytest_tmp("spotify-elt-empty-report-")
    result = render_report(stack.settings, stack.vault, out_dir=out, period="week")
    assert {p.stem for p in result.charts} == CHARTS
    for chart in result.charts:
        assert_real_image(chart, min_size=(400, 250))
    assert "No data yet" in result.notebook.read_text()


def test_bad_parameters_are_refused(stack: SpotifyStack) -> None:
    with pytest.raises(ReportError, match="period must be one of week, month, year"):
        render_report(stack.settings, stack.vault, period="decade")


def test_the_committed_notebook_has_no_outputs() -> None:
    nb = nbformat.read(notebook_path(), as_version=4)
    nbformat.validate(nb)
    assert any(cell.cell_type == "code" for cell in nb.cells)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], "commit the notebook without outputs"
            assert cell.execution_count is None
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells)


def test_the_notebook_is_a_dbt_exposure() -> None:
    root = Path(__file__).resolve().parents[1]
    text = "\n".join(p.read_text() for p in (root / "dbt_project").rglob("*.yml"))
    assert "notebooks/listening_report.ipynb" in text
    assert json.loads(notebook_path().read_text())["nbformat"] == 4
