"""README's main command on a fresh machine: `spotify-elt run` on the embedded default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
from stack_support import REPORT_CHARTS

from spotify_elt.config import load_settings
from spotify_elt.db import EmbeddedPostgres


def test_run_on_the_embedded_default_extracts_from_the_emulator() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "spotify_elt", "run", "--quiet"],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
    )
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
    settings = load_settings()
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
