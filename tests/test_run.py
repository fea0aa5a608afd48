"""README's main commands on a fresh machine: `spotify-elt run` on the embedded default, then
every command after it on the data it built (the demo's database), without flags.

One demo run (about a minute) serves the whole module.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pandas as pd
import psycopg
import pytest
from stack_support import REPORT_CHARTS, outside_pytest_tmp

from spotify_elt.config import Settings, load_settings
from spotify_elt.db import EmbeddedPostgres

pytestmark = pytest.mark.slow


@dataclass
class Demo:
    """A fresh user's directories after `spotify-elt run`, and a way to run more commands."""

    root: Path
    env: dict[str, str]
    run: subprocess.CompletedProcess[str]
    settings: Settings

    def cli(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "spotify_elt", *args],
            env={**self.env, **extra_env},
            capture_output=True,
            text=True,
            timeout=600,
        )

    def admin_url(self) -> str:
        return EmbeddedPostgres(self.settings.embedded_pgdata, "spotify_elt_demo").admin_url()

    def gold(self, statement: str) -> list[tuple]:
        with psycopg.connect(self.admin_url()) as conn:
            return conn.execute(statement).fetchall()  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    root = outside_pytest_tmp("spotify-elt-demo-")
    dirs = {"config_dir": root / "config", "data_dir": root / "data", "state_dir": root / "state"}
    # Like a new user: no SPOTIFY_ELT_* variable (not even the tests' external server).
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOTIFY_ELT_")}
    env.update({f"SPOTIFY_ELT_{k.upper()}": str(v) for k, v in dirs.items()})
    proc = subprocess.run(
        [sys.executable, "-m", "spotify_elt", "run", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    settings = load_settings(environ={}, **dirs)
    try:
        yield Demo(root, env, proc, settings)
    finally:
        EmbeddedPostgres(settings.embedded_pgdata).down()
        shutil.rmtree(root, ignore_errors=True)


def test_run_on_the_embedded_default_extracts_from_the_emulator(demo: Demo) -> None:
    proc = demo.run
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "[1/4] database 'spotify_elt_demo' (embedded) is up and initialised" in out
    assert "[2/4] extracting from the local Spotify emulator into bronze" in out
    assert "[2/4] imported a generated privacy export" in out
    assert "Rows loaded into bronze" in out
    assert "[3/4] building silver and gold with dbt" in out
    assert "[4/4] rendering the listening report from gold" in out
    report = next(line.split("report: ", 1)[1] for line in out.splitlines() if "report: " in line)
    assert report.endswith("report.html")
    charts = [line.split("chart:  ", 1)[1] for line in out.splitlines() if "chart:  " in line]
    assert {Path(c).stem for c in charts} == REPORT_CHARTS
    assert Path(report).is_file()
    assert all(Path(c).stat().st_size > 10_000 for c in charts)
    settings = demo.settings
    assert settings.effective_vault_path.exists()
    server = EmbeddedPostgres(settings.embedded_pgdata, "spotify_elt_demo")
    with psycopg.connect(server.admin_url()) as conn:
        plays = conn.execute("SELECT count(*) FROM bronze.recently_played").fetchone()
        artists = conn.execute("SELECT count(*) FROM bronze.artists").fetchone()
        gold_plays = conn.execute("SELECT count(*) FROM gold.fct_plays").fetchone()
        history = conn.execute("SELECT count(*) FROM bronze.streaming_history").fetchone()
        # A full track object anywhere in bronze: fetched by the catalog step, or embedded in
        # the user's data (a play, a saved track, a top list, a playlist entry).
        unenriched = conn.execute(
            "WITH full_tracks AS ("
            " SELECT track_id AS id FROM bronze.tracks"
            " UNION SELECT payload->'track'->>'id' FROM bronze.recently_played"
            " UNION SELECT payload->'track'->>'id' FROM bronze.saved_tracks"
            " UNION SELECT track_id FROM bronze.top_tracks"
            " UNION SELECT coalesce(payload->'item', payload->'track')->>'id'"
            " FROM bronze.playlist_items)"
            " SELECT count(DISTINCT h.track_id) FROM bronze.streaming_history h"
            " WHERE h.kind = 'track' AND h.track_id NOT IN (SELECT id FROM full_tracks"
            " WHERE id IS NOT NULL)"
        ).fetchone()
    assert history and history[0] > 500
    # Tracks named only by the export were enriched through the catalog step.
    assert unenriched == (0,)
    assert plays and plays[0] == 50
    assert artists and artists[0] > 0
    assert gold_plays and gold_plays[0] >= 50
    # The client secret and refresh token of the demo are in the vault, not on screen.
    from spotify_elt.vault import Vault

    vault = Vault.from_settings(settings)
    for name in ("emulator.spotify_client_secret", "emulator.spotify_refresh_token"):
        value = vault.get(name)
        assert value
        assert value not in proc.stdout + proc.stderr


# --------------------------------------------------------------------------- after the run


def _ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_the_demo_is_the_current_target_after_run(demo: Demo) -> None:
    assert (demo.settings.state_dir / "current_target").read_text().strip() == "emulator"
    shown = _ok(demo.cli("config", "show")).stdout
    assert (
        "# current target: emulator (database 'spotify_elt_demo'; the last `spotify-elt run`)"
    ) in shown
    as_json = json.loads(_ok(demo.cli("config", "show", "--json")).stdout)
    assert as_json["current_target"] == {
        "name": "emulator",
        "database": "spotify_elt_demo",
        "reason": "the last `spotify-elt run`",
    }
    status = _ok(demo.cli("db", "status")).stdout
    assert "target:  emulator (the last `spotify-elt run`)" in status
    assert "database: spotify_elt_demo" in status
    assert "initialised: yes" in status


def test_db_url_follows_the_target_and_the_switches(demo: Demo) -> None:
    def database(*args: str, **env: str) -> str:
        return urlsplit(_ok(demo.cli("db", "url", *args, **env)).stdout.strip()).path

    assert database() == "/spotify_elt_demo"
    assert database("--spotify") == "/spotify_elt"
    assert database(SPOTIFY_ELT_TARGET="spotify") == "/spotify_elt"
    assert database("--emulator", SPOTIFY_ELT_TARGET="spotify") == "/spotify_elt_demo"
    bad = demo.cli("db", "url", SPOTIFY_ELT_TARGET="elsewhere")
    assert bad.returncode == 2
    assert "target must be one of auto, emulator, spotify" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_transform_works_on_the_demo_database(demo: Demo) -> None:
    proc = _ok(demo.cli("transform", "--select", "rpt_listening_habits", "--quiet"))
    assert "dbt build: " in proc.stdout and "error" not in proc.stdout
    assert proc.stdout.startswith("target: emulator (database 'spotify_elt_demo'")
    # Switching explicitly reaches Spotify's database, which this machine never built.
    other = demo.cli("transform", "--spotify", "--quiet")
    assert other.returncode != 0
    assert "'spotify_elt'" in other.stderr and "does not exist" in other.stderr
    assert "Traceback" not in other.stderr


def _expected_month(demo: Demo) -> tuple[date, bool]:
    starts = sorted(
        row[0]
        for row in demo.gold(
            "SELECT DISTINCT period_start_date FROM gold.rpt_top_artists_by_period "
            "WHERE period_type = 'month'"
        )
    )
    today = datetime.now(UTC).date()
    complete = [s for s in starts if (pd.Timestamp(s) + pd.DateOffset(months=1)).date() <= today]
    return (complete[-1], True) if complete else (starts[-1], False)


def test_report_works_on_the_demo_quietly_with_alt_text(demo: Demo) -> None:
    out = demo.root / "report"
    proc = _ok(demo.cli("report", "--out", str(out)))
    # The kernel's warnings (its transport, IPython's start-up) stay out of the output.
    noise = [line for line in proc.stderr.splitlines() if re.search(r"warn", line, re.I)]
    assert not noise, noise
    page = (out / "report.html").read_text()
    images = re.findall(r"<img\b[^>]*>", page)
    assert len(images) == len(REPORT_CHARTS)
    for tag in images:
        alt = re.search(r'\balt="([^"]+)"', tag)
        assert alt and len(alt.group(1)) > 30, tag[:80]
    assert 'alt="Heatmap of plays by weekday and hour of day (UTC)' in page
    notebook = nbformat.read(out / "listening_report.ipynb", as_version=4)
    streams = [
        o
        for cell in notebook.cells
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream" and o.get("name") == "stderr"
    ]
    assert not streams, streams
    # The default period is the last complete month with plays (the demo's history spans the
    # last 14 days, so the current month alone is complete only on its first days).
    since, complete = _expected_month(demo)
    period = f"month starting {since:%Y-%m-%d}" + ("" if complete else " (so far)")
    assert f"Bar chart of the top 10 artists of the {period} by plays: " in page


def test_docs_and_catalog_work_on_the_demo_database(demo: Demo) -> None:
    target = demo.root / "docs-target"
    _ok(demo.cli("docs", "generate", "--target-path", str(target)))
    manifest = json.loads((target / "manifest.json").read_text())
    fct_plays = manifest["nodes"]["model.spotify_elt.fct_plays"]
    assert fct_plays["database"] == "spotify_elt_demo"
    catalog = json.loads((target / "catalog.json").read_text())
    assert "model.spotify_elt.fct_plays" in catalog["nodes"]
    out = _ok(demo.cli("catalog", "--json")).stdout
    # The JSON report is the output's last block (orchestration's structured log lines may
    # precede it on stdout).
    report = json.loads(out[out.index("\n{") + 1 :] if not out.startswith("{") else out)
    postgres = Path(report["outputs"]["postgres"]).read_text()
    assert "spotify_elt_demo.gold.fct_plays" in postgres


def test_export_works_on_the_demo_and_holds_no_personal_identifier(demo: Demo) -> None:
    from extract.history.synthetic import _AGENTS

    out = demo.root / "open-data"
    proc = _ok(demo.cli("export", "--out", str(out)))
    assert f"to {out}" in proc.stdout
    plays = pd.read_parquet(out / "parquet" / "fct_plays.parquet")
    assert len(plays) == demo.gold("SELECT count(*) FROM gold.fct_plays")[0][0] > 500
    # The demo imported a privacy export with IP addresses, user agents and a username, and
    # its playlists name their owners: none of it is in any file of the export.
    # (Other users' display names are left out: the emulator draws them from the same pool of
    # names as its artists'; the exported tables have no column holding them.)
    identifiers = {"emulator-user", "Emulator Listener"}
    identifiers |= {
        row[0]
        for row in demo.gold(
            "SELECT owner_id FROM gold.dim_playlists "
            "UNION SELECT added_by_id FROM gold.fct_playlist_tracks"
        )
        if row[0]
    }
    identifiers |= {agent for agent in _AGENTS if agent != "unknown"}
    texts = {p: p.read_text() for p in out.rglob("*") if p.is_file() and p.suffix != ".parquet"}
    for path in sorted(out.glob("parquet/*.parquet")):
        frame = pd.read_parquet(path)
        texts[path] = frame.to_csv(index=False) + " ".join(frame.columns)
    assert {".parquet", ".csv"} <= {p.suffix for p in texts}
    for path, text in texts.items():
        assert not re.search(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b", text), path
        for value in identifiers:
            assert value not in text, (path, value)
        header = text.splitlines()[0] if path.suffix == ".csv" else ""
        for name in ("ip_addr", "user_agent", "username", "owner_id", "conn_country"):
            assert name not in header, (path, name)
