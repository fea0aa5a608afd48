"""The listening report: the notebook executed headlessly over gold built from emulator data."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest
from matplotlib import image as mpimg
from stack_support import REPORT_CHARTS as CHARTS
from stack_support import PgServer, SpotifyStack, outside_pytest_tmp

from spotify_elt.report import Report, ReportError, notebook_path, render_report


def assert_real_image(path: Path, min_size: tuple[int, int] = (400, 250)) -> np.ndarray:
    pixels = mpimg.imread(path)
    height, width = pixels.shape[:2]
    assert width >= min_size[0] and height >= min_size[1], (path, width, height)
    # Not blank: a real chart has many distinct colours and visible contrast.
    assert float(pixels[..., :3].std()) > 0.02, path
    assert len(np.unique(pixels[..., :3].reshape(-1, 3), axis=0)) > 20, path
    return pixels


@pytest.fixture(scope="module")
def gold_report(dev_build: Any) -> Iterator[Report]:
    """The report over the session's gold (built once by the dbt suites' ``dev_build``)."""
    stack: SpotifyStack = dev_build.stack
    assert dev_build.result.success
    out = outside_pytest_tmp("spotify-elt-report-")
    yield render_report(stack.settings, stack.vault, out_dir=out)
    shutil.rmtree(out, ignore_errors=True)


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


def test_report_holds_no_secret(gold_report: Report, bronze_stack: SpotifyStack) -> None:
    secrets = [bronze_stack.vault.get(n) for n in bronze_stack.vault.names()]
    text = gold_report.html.read_text() + gold_report.notebook.read_text()
    for value in secrets:
        assert value and value not in text


def test_report_renders_in_headless_chromium(gold_report: Report, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("Debian's chromium is needed (.ci/run installs it)")
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--hide-scrollbars",
            "--window-size=1200,2400",
            f"--screenshot={shot}",
            gold_report.html.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert_real_image(shot, min_size=(1000, 2000))


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


def test_bad_parameters_are_refused(bronze_stack: SpotifyStack) -> None:
    with pytest.raises(ReportError, match="period must be one of week, month, year"):
        render_report(bronze_stack.settings, bronze_stack.vault, period="decade")


def test_the_committed_notebook_has_no_outputs() -> None:
    nb = nbformat.read(notebook_path(), as_version=4)
    nbformat.validate(nb)
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
