"""The privacy export in silver and gold: one play per listening event, whichever source saw it.

The stack's bronze holds the Web API's recently played (two extractions six hours apart) and
three imports of exports generated from the same emulator: two overlapping extended histories
that cover the API's first window, and an account-data export that overlaps the older extended
one. The emulator is the ground truth: the export's ``ts`` is its ``played_at`` cut to the second.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dbt_support import copy_database, dbt, drop_database, query
from stack_support import SMALL_LIBRARY, PgServer, SpotifyStack, make_stack, outside_pytest_tmp
from test_report import assert_real_image

from extract.emulator import EmulatorConfig, EmulatorServer
from extract.emulator.privacy_export import emulator_plays
from extract.history.synthetic import ExportPlay, write_export
from spotify_elt.db import EmbeddedPostgres
from spotify_elt.dbt_runner import TransformResult
from spotify_elt.history import import_history
from spotify_elt.report import render_report

pytestmark = pytest.mark.slow

PII_COLUMNS = {
    "stg_spotify__streaming_history": {
        "ip_address_hash",
        "user_agent_hash",
        "username_hash",
        "conn_country",
    },
    "fct_plays": {"conn_country", "context_uri"},
    "rpt_listening_habits": {"countries"},
}


@dataclass
class HistoryBuild:
    stack: SpotifyStack
    result: TransformResult
    target: Path
    t0: datetime
    """The emulator's clock at the first extraction: the extended export ends here."""
    extended: list[ExportPlay]
    """The plays of both extended exports (their union)."""
    account_only: list[ExportPlay]
    """Account-data plays older than the extended history (the rest repeat extended plays)."""


def _key(play: ExportPlay) -> tuple[Any, ...]:
    return (play.ts, play.kind, play.uri or play.name, play.ms_played)


@pytest.fixture(scope="module")
def history_build(embedded_server: EmbeddedPostgres, dbt_targets: Path) -> Iterator[HistoryBuild]:
    root = outside_pytest_tmp("spotify-elt-history-dbt-")
    admin = PgServer("embedded", embedded_server.admin_url()).fresh_database()
    with EmulatorServer(EmulatorConfig(**SMALL_LIBRARY)) as server:  # type: ignore[arg-type]
        stack = make_stack(root, admin, server)
        state = server.state
        t0 = server.clock.now()
        older = list(emulator_plays(state, t0 - timedelta(days=2), t0 - timedelta(hours=12)))
        newer = list(emulator_plays(state, t0 - timedelta(days=1), t0))
        account = list(
            emulator_plays(state, t0 - timedelta(days=3), t0 - timedelta(hours=36), extras=True)
        )
        for name, plays, variant in (
            ("older", older, "extended"),
            ("newer", newer, "extended"),
            ("account", account, "account_data"),
        ):
            path = write_export(plays, root / f"{name}.zip", variant=variant, as_zip=True, seed=7)  # type: ignore[arg-type]
            import_history(stack.settings, stack.vault, path)
        # The export first, so the extraction's catalog enrichment covers its tracks too.
        stack.extract()
        server.advance_clock(6 * 3600)
        stack.extract()
        target = dbt_targets / "history"
        result = dbt(stack, ["build"], target)
        extended = {_key(p): p for p in older + newer}
        account_only = [
            p for p in account if p.kind in ("track", "episode") and _key(p) not in extended
        ]
        yield HistoryBuild(stack, result, target, t0, list(extended.values()), account_only)
    shutil.rmtree(root, ignore_errors=True)


def test_build_passes_with_api_and_export_plays(history_build: HistoryBuild) -> None:
    result = history_build.result
    assert result.success, result.failure_sentence()
    assert not result.failed
    assert "warn" not in result.counts
    url = history_build.stack.admin_url
    formats = dict(
        query(url, "SELECT export_format, count(*) FROM bronze.streaming_history GROUP BY 1")
    )
    assert formats["extended"] == len(history_build.extended)
    assert set(formats) == {"extended", "account_data"}


def test_overlapping_plays_are_one_play_with_both_sources(history_build: HistoryBuild) -> None:
    url = history_build.stack.admin_url
    t0 = history_build.t0
    api = query(url, "SELECT played_at, track_id FROM silver.stg_spotify__recently_played")
    api_in_export = [p for p in api if p[0] <= t0]
    api_after = [p for p in api if p[0] > t0]
    assert len(api_in_export) >= 50 and api_after
    counts = dict(query(url, "SELECT source, count(*) FROM gold.fct_plays GROUP BY 1"))
    # Every API play of the exported window is matched; the later ones are the API's alone.
    assert counts["both"] == len(api_in_export)
    assert counts["api"] == len(api_after)
    # fct_plays = the distinct union: extended plays, account-data plays not already in the
    # extended history, and API plays after the export.
    expected = len(history_build.extended) + len(history_build.account_only) + len(api_after)
    assert sum(counts.values()) == expected
    assert query(url, "SELECT count(*), count(DISTINCT play_id) FROM gold.fct_plays")[0] == (
        expected,
        expected,
    )
    # A matched play: the API's key and time, both sources flagged, the export's real time.
    both = query(
        url,
        "SELECT f.play_id = f.api_play_id, f.is_from_api, f.is_from_export, "
        "f.is_ms_played_estimated, f.ms_played = h.ms_played, "
        "f.played_at - h.played_at, f.track_id = h.track_id, f.context_type IS NOT NULL "
        "OR f.context_uri IS NULL, h.played_at = date_trunc('second', r.played_at) "
        "FROM gold.fct_plays AS f "
        "JOIN bronze.streaming_history AS h ON h.play_key = f.history_play_id "
        "JOIN silver.stg_spotify__recently_played AS r ON r.play_id = f.api_play_id "
        "WHERE f.source = 'both'",
    )
    assert len(both) == counts["both"]
    for same_key, from_api, from_export, estimated, real_ms, apart, same_track, _, cut in both:
        assert same_key and from_api and from_export and not estimated and real_ms
        assert timedelta(0) <= apart < timedelta(seconds=1) and same_track and cut
    # Only API plays have an estimated listening time.
    estimated = query(
        url,
        "SELECT source, bool_and(is_ms_played_estimated), bool_or(is_ms_played_estimated) "
        "FROM gold.fct_plays GROUP BY 1",
    )
    assert {row[0]: row[1:] for row in estimated} == {
        "api": (True, True),
        "both": (False, False),
        "export": (False, False),
    }


def test_export_details_reach_gold(history_build: HistoryBuild) -> None:
    url = history_build.stack.admin_url
    row = query(
        url,
        "SELECT count(*) FILTER (WHERE is_skipped), count(is_skipped), "
        "count(*) FILTER (WHERE is_shuffle), count(*) FILTER (WHERE is_offline), "
        "count(reason_start), count(reason_end), count(platform), count(conn_country), "
        "count(*) FILTER (WHERE play_kind = 'episode'), "
        "count(*) FILTER (WHERE export_format = 'account_data') "
        "FROM gold.fct_plays WHERE is_from_export",
    )[0]
    skipped, skip_known, shuffled, offline, starts, ends, platforms, countries, episodes, acc = row
    extended = len(history_build.extended)
    assert 0 < skipped < skip_known == extended
    assert 0 < shuffled < extended and offline < extended
    assert starts == ends == platforms == countries == extended
    assert episodes > 0 and acc == len(history_build.account_only)
    skips_in_truth = sum(p.skipped for p in history_build.extended)
    assert skipped == skips_in_truth
    # API-only plays carry no export details.
    assert (
        query(
            url,
            "SELECT count(*) FROM gold.fct_plays WHERE source = 'api' AND (is_skipped IS NOT NULL "
            "OR platform IS NOT NULL OR reason_end IS NOT NULL OR conn_country IS NOT NULL)",
        )[0][0]
        == 0
    )
    # Sessions run over the unified plays; every play has one.
    assert query(url, "SELECT count(*) FROM gold.fct_plays WHERE session_id IS NULL")[0][0] == 0
    habits = query(
        url,
        "SELECT sum(play_count), sum(export_play_count), count(skip_rate), "
        "count(shuffle_share), count(top_platform), bool_or(country_count > 0) "
        "FROM gold.rpt_listening_habits",
    )[0]
    total = query(url, "SELECT count(*) FROM gold.fct_plays")[0][0]
    assert habits[0] == total and habits[1] > 0
    assert habits[2] > 0 and habits[3] > 0 and habits[4] > 0 and habits[5]
    reasons = query(
        url,
        "SELECT sum(play_count), sum(skipped_play_count) FROM gold.rpt_skips_by_reason",
    )[0]
    assert reasons == (extended, skips_in_truth)


def test_pii_columns_are_tagged(history_build: HistoryBuild) -> None:
    manifest = json.loads((history_build.target / "manifest.json").read_text())
    nodes = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    for model, columns in PII_COLUMNS.items():
        node = nodes[model]
        assert node["config"]["meta"]["contains_pii"] is True, model
        tagged = {
            name for name, column in node["columns"].items() if column["meta"].get("contains_pii")
        }
        assert tagged == columns, (model, tagged)
    # The raw PII fields never reach silver: only hashes (null here: the import dropped them).
    url = history_build.stack.admin_url
    columns = {
        r[0]
        for r in query(
            url,
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'silver' AND table_name = 'stg_spotify__streaming_history'",
        )
    }
    assert not columns & {"ip_addr", "ip_addr_decrypted", "user_agent_decrypted", "username"}
    hashed = query(
        url,
        "SELECT count(ip_address_hash) + count(user_agent_hash) + count(username_hash) "
        "FROM silver.stg_spotify__streaming_history",
    )
    assert hashed[0][0] == 0


def test_incremental_history_equals_full_refresh(
    history_build: HistoryBuild, dbt_targets: Path
) -> None:
    stack = history_build.stack
    copy = copy_database(stack.admin_url)
    select = ["--select", "stg_spotify__streaming_history+"]
    target = dbt_targets / "history-incremental"
    # Every column but the stamp of the run that wrote the row.
    plays = "SELECT to_jsonb(f) - 'dbt_updated_at' FROM gold.fct_plays AS f ORDER BY f.play_id"
    staged = (
        "SELECT to_jsonb(s) - 'dbt_updated_at' FROM silver.stg_spotify__streaming_history AS s "
        "ORDER BY s.history_play_id"
    )
    try:
        with psycopg.connect(copy, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA held")
            conn.execute(
                "CREATE TABLE held.streaming_history AS SELECT * FROM bronze.streaming_history "
                "WHERE _dlt_load_id = (SELECT max(_dlt_load_id) FROM bronze.streaming_history)"
            )
            conn.execute(
                "DELETE FROM bronze.streaming_history WHERE play_key IN "
                "(SELECT play_key FROM held.streaming_history)"
            )
        first = dbt(stack, ["run", "--full-refresh", *select], target, database_url=copy)
        assert first.success, first.failure_sentence()
        before = query(copy, staged)
        with psycopg.connect(copy, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO bronze.streaming_history SELECT * FROM held.streaming_history"
            )
        second = dbt(stack, ["run", *select], target, database_url=copy)
        assert second.success, second.failure_sentence()
        incremental = (query(copy, staged), query(copy, plays))
        assert len(incremental[0]) > len(before)
        refreshed = dbt(stack, ["run", "--full-refresh", *select], target, database_url=copy)
        assert refreshed.success, refreshed.failure_sentence()
        assert (query(copy, staged), query(copy, plays)) == incremental
        assert incremental[1] == query(stack.admin_url, plays)
    finally:
        drop_database(copy)


def test_report_shows_listening_habits(history_build: HistoryBuild) -> None:
    stack = history_build.stack
    out = outside_pytest_tmp("spotify-elt-history-report-")
    try:
        report = render_report(stack.settings, stack.vault, out_dir=out)
        charts = {p.stem: p for p in report.charts}
        assert "listening_habits" in charts
        assert_real_image(charts["listening_habits"])
        page = report.html.read_text()
        assert "Listening habits" in page
    finally:
        shutil.rmtree(out, ignore_errors=True)


PLAYS_MODELS = {
    "silver": ("int_plays_conformed", "int_plays_deduplicated", "int_plays_sessionized"),
    "gold": (
        "fct_plays",
        "rpt_listening_sessions",
        "rpt_discovery_rate",
        "rpt_listening_habits",
        "rpt_top_tracks_by_period",
        "rpt_top_artists_by_period",
    ),
}


def test_incremental_plays_equal_full_refresh(
    history_build: HistoryBuild, dbt_targets: Path
) -> None:
    """Plays held back, then loaded and built incrementally, give every row a full refresh
    gives: export plays of the last hours (they match Web API plays loaded before them and
    extend the last sessions), about every fifth export play of six
    hours a day back (inserted into past sessions, shifting every later session number),
    tracks' first plays and the second extraction's API plays."""
    stack = history_build.stack
    t0 = history_build.t0
    copy = copy_database(stack.admin_url)
    target = dbt_targets / "history-incremental-plays"
    try:
        with psycopg.connect(copy, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA held")
            conn.execute(
                "CREATE TABLE held.streaming_history AS SELECT * FROM bronze.streaming_history "
                "WHERE played_at > %s "
                "OR (abs(hashtext(play_key)) %% 5 = 0 AND played_at BETWEEN %s AND %s) "
                # A track's first play, a day and a half back: its next play was the first.
                "OR play_key IN (SELECT DISTINCT ON (track_id) play_key "
                "FROM bronze.streaming_history WHERE track_id IS NOT NULL "
                "ORDER BY track_id, played_at) AND played_at > %s",
                (
                    t0 - timedelta(hours=4),
                    t0 - timedelta(hours=20),
                    t0 - timedelta(hours=14),
                    t0 - timedelta(hours=36),
                ),
            )
            conn.execute(
                "CREATE TABLE held.recently_played AS SELECT * FROM bronze.recently_played "
                "WHERE requested_at = (SELECT max(requested_at) FROM bronze.recently_played)"
            )
            for table, key in (("streaming_history", "play_key"), ("recently_played", "_dlt_id")):
                conn.execute(
                    f"DELETE FROM bronze.{table} WHERE {key} IN (SELECT {key} FROM held.{table})"
                )
            held = conn.execute("SELECT count(*) FROM held.streaming_history").fetchone()
            assert held is not None and held[0] > 20
        first = dbt(stack, ["build", "--full-refresh"], target, database_url=copy)
        assert first.success, first.failure_sentence()
        with psycopg.connect(copy, autocommit=True) as conn:
            conn.execute("UPDATE held.streaming_history SET imported_at = now()")
            for table in ("streaming_history", "recently_played"):
                conn.execute(f"INSERT INTO bronze.{table} SELECT * FROM held.{table}")
        second = dbt(stack, ["build"], target, database_url=copy)
        assert second.success, second.failure_sentence()
        with psycopg.connect(copy, autocommit=True) as conn:
            for schema, models in PLAYS_MODELS.items():
                for model in models:
                    conn.execute(f"CREATE TABLE held.{model} AS SELECT * FROM {schema}.{model}")
            # Incremental indeed: some rows are still the first build's, the rest new ones.
            for model in ("silver.int_plays_sessionized", "gold.fct_plays"):
                versions = conn.execute(
                    f"SELECT count(*) FROM {model} GROUP BY dbt_updated_at"
                ).fetchall()
                assert len(versions) == 2, (model, versions)
        refreshed = dbt(stack, ["build", "--full-refresh"], target, database_url=copy)
        assert refreshed.success, refreshed.failure_sentence()
        for schema, models in PLAYS_MODELS.items():
            for model in models:
                for left, right in (
                    (f"held.{model}", f"{schema}.{model}"),
                    (f"{schema}.{model}", f"held.{model}"),
                ):
                    # Every column but the stamp of the run that wrote the row.
                    rows = "SELECT to_jsonb(t) - 'dbt_updated_at' FROM {} AS t"
                    extra = query(copy, f"{rows.format(left)} EXCEPT ALL {rows.format(right)}")
                    assert extra == [], (model, left, extra[:3])
        matched = query(
            copy,
            "SELECT count(*) FROM gold.fct_plays f JOIN held.streaming_history h "
            "ON f.history_play_id = h.play_key WHERE f.source = 'both'",
        )
        assert matched[0][0] > 0
    finally:
        drop_database(copy)
