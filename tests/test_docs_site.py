"""`spotify-elt docs serve`: the dbt docs site in a real browser (headless Chromium).

Serves the session's docs (``docs_target`` from ``dbt_support``: no build of its own) and opens
the landing page, a gold model's page and the lineage graph. The screenshots are kept in
``build/test-artifacts/docs-site/`` (or ``$SPOTIFY_ELT_TEST_ARTIFACTS/docs-site``) for a human
to look at.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from dbt_support import Build
from stack_support import assert_real_image, headless_chromium

pytestmark = pytest.mark.slow

ARTIFACTS = Path(
    os.environ.get("SPOTIFY_ELT_TEST_ARTIFACTS")
    or Path(__file__).resolve().parents[1] / "build" / "test-artifacts"
)
# Chromium runs the site's JavaScript for this long (virtual time) before it shoots.
BUDGET = "--virtual-time-budget=15000"


@pytest.fixture(scope="module")
def site(dev_build: Build, docs_target: Path) -> Iterator[str]:
    exe = Path(sys.executable).with_name("spotify-elt")
    proc = subprocess.Popen(
        [
            str(exe),
            "docs",
            "serve",
            "--port",
            "0",
            "--no-generate",
            "--target-path",
            str(docs_target),
        ],
        env=dev_build.stack.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline(), proc.stdout.readline()]  # the target, the address
        match = re.search(r"Serving the dbt docs at (http://127\.0\.0\.1:\d+/)", lines[-1])
        assert match, (lines, proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
        url = match.group(1)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(url, timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = ARTIFACTS / "docs-site"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _page(url: str, shots: Path, name: str, tmp_path: Path) -> str:
    """Screenshot ``url`` into ``<shots>/<name>.png`` and return its rendered DOM."""
    profile = tmp_path / f"profile-{name}"
    shot = shots / f"{name}.png"
    shot.unlink(missing_ok=True)
    headless_chromium(url, profile, BUDGET, "--window-size=1400,1000", f"--screenshot={shot}")
    assert_real_image(shot, min_size=(1400, 1000))
    return headless_chromium(url, profile, BUDGET, "--window-size=1400,1000", "--dump-dom")


def test_the_server_serves_the_site_and_nothing_else(site: str, docs_target: Path) -> None:
    index = requests.get(site, timeout=10)
    assert index.status_code == 200 and "dbt" in index.text
    manifest = requests.get(site + "manifest.json?cb=1", timeout=10)
    assert manifest.status_code == 200 and manifest.json()["metadata"]["project_name"]
    assert requests.get(site + "catalog.json", timeout=10).status_code == 200
    for other in ("run_results.json", "compiled/", "../pyproject.toml", "logs/dbt.log"):
        assert requests.get(site + other, timeout=10).status_code == 404, other


def test_landing_page_renders(site: str, shots: Path, tmp_path: Path) -> None:
    dom = _page(site + "#!/overview", shots, "landing", tmp_path)
    # The project's own overview (models/_overview.md), and the sidebar's project tree.
    assert "spotify-elt: your Spotify listening" in dom
    assert "spotify_elt" in dom and "fct_plays" in dom and "dim_tracks" in dom


def test_gold_model_page_renders(site: str, shots: Path, tmp_path: Path) -> None:
    dom = _page(site + "#!/model/model.spotify_elt.fct_plays", shots, "fct_plays", tmp_path)
    assert "One row per play" in dom  # the model's description
    for column in ("play_id", "played_at", "session_id"):
        assert column in dom
    assert "spotify_elt" in dom and ".gold.fct_plays" in dom


def test_lineage_graph_renders(site: str, shots: Path, tmp_path: Path) -> None:
    url = site + "#!/model/model.spotify_elt.fct_plays?g_v=1"
    dom = _page(url, shots, "lineage", tmp_path)
    assert "Lineage Graph" in dom
    # Cytoscape draws the graph on canvases inside the graph panel.
    assert re.search(r"<canvas\b", dom)
    graph = assert_real_image(shots / "lineage.png")
    page = assert_real_image(shots / "fct_plays.png")
    # Not the model page again: the graph panel covers it.
    assert graph.shape == page.shape and abs(graph.mean() - page.mean()) > 0.05
