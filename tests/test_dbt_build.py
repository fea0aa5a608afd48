"""dbt builds silver and gold on bronze that the extractor loaded, in both API shapes."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from dbt_support import (
    GOLD_TABLES,
    Build,
    copy_database,
    dbt,
    drop_database,
    failed_names,
    query,
    statuses,
)
from stack_support import make_stack, outside_pytest_tmp

from extract.emulator import EmulatorServer
from spotify_elt.db import role_urls
from spotify_elt.vault import CLIENT_SECRET

pytestmark = pytest.mark.slow


def _assert_clean(build: Build) -> None:
    result = build.result
    assert result.success, result.failure_sentence()
    assert not result.failed
    counts = result.counts
    assert counts["success"] >= 35  # models and snapshots
    assert counts["pass"] >= 300  # data and unit tests
    assert "warn" not in counts


def test_build_passes_on_development_shape(dev_build: Build) -> None:
    _assert_clean(dev_build)
    url = dev_build.stack.admin_url
    for table in GOLD_TABLES:
        rows = query(url, f"SELECT count(*) FROM gold.{table}")
        assert rows[0][0] > 0, f"gold.{table} is empty"
    # Development Mode: no popularity, followers or genres; catalog tracks table absent.
    assert (
        query(url, "SELECT count(*) FROM gold.dim_artists WHERE popularity IS NOT NULL")[0][0] == 0
    )
    assert query(url, "SELECT count(*) FROM silver.int_artist_genres_bridged")[0][0] == 0
    assert query(url, "SELECT count(*) FROM silver.stg_spotify__tracks")[0][0] == 0
    # Plays: one row per bronze play, listening time estimated from durations.
    bronze_plays = query(
        url, "SELECT count(DISTINCT (played_at, track_id)) FROM bronze.recently_played"
    )[0][0]
    plays = query(
        url,
        "SELECT count(*), count(ms_played), bool_and(is_ms_played_estimated), "
        "count(DISTINCT session_id) FROM gold.fct_plays",
    )[0]
    assert plays[0] == bronze_plays and plays[1] == plays[0] and plays[2] and plays[3] >= 1
    kinds = dict(query(url, "SELECT entry_kind, count(*) FROM gold.fct_playlist_tracks GROUP BY 1"))
    assert kinds.get("track", 0) > 0
    assert set(kinds) <= {"track", "local_track", "episode", "unavailable"}
    precisions = {
        r[0] for r in query(url, "SELECT DISTINCT release_date_precision FROM gold.dim_albums")
    }
    assert precisions <= {"year", "month", "day", None}


def test_build_passes_on_extended_shape(extended_build: Build) -> None:
    _assert_clean(extended_build)
    url = extended_build.stack.admin_url
    assert query(url, "SELECT count(*) FROM bronze.playlists WHERE payload ? 'tracks'")[0][0] > 0
    assert query(url, "SELECT count(*) FROM gold.dim_artists WHERE popularity IS NOT NULL")[0][0]
    assert query(url, "SELECT count(*) FROM silver.int_artist_genres_bridged")[0][0] > 0
    assert query(url, "SELECT count(*) FROM gold.dim_albums WHERE label IS NOT NULL")[0][0] > 0
    genres = query(url, "SELECT count(DISTINCT genre) FROM gold.rpt_genre_mix_by_month")[0][0]
    assert genres > 1
    entries = query(url, "SELECT count(*) FROM gold.fct_playlist_tracks")[0][0]
    assert entries > 0


def test_reader_selects_gold_only(dev_build: Build) -> None:
    stack = dev_build.stack
    reader = role_urls(stack.admin_url, stack.vault).reader
    with psycopg.connect(reader, autocommit=True) as conn:
        for table in GOLD_TABLES:
            conn.execute(f"SELECT * FROM gold.{table} LIMIT 1").fetchall()
    silver = [
        r[0]
        for r in query(
            stack.admin_url,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'silver'",
        )
    ]
    assert "stg_spotify__recently_played" in silver and "snap_spotify__playlists" in silver
    for table in silver:
        with (
            psycopg.connect(reader, autocommit=True) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute(f"SELECT 1 FROM silver.{table} LIMIT 1")


def test_bad_bronze_rows_fail_the_right_tests(dev_build: Build, dbt_targets: Path) -> None:
    """A duplicate key, a null key and an unparseable date each fail the test made for them."""
    stack = dev_build.stack
    clean = statuses(dev_build.result)
    expected = {
        "source_unique_spotify_saved_tracks_track_id",
        "source_not_null_spotify_top_tracks_track_id",
        "stg_spotify__albums_release_date_parsed",
    }
    assert {clean[name] for name in expected} == {"pass"}
    copy = copy_database(stack.admin_url)
    try:
        with psycopg.connect(copy, autocommit=True) as conn:
            # A duplicate key: the same saved track twice in a table dlt replaces each run.
            conn.execute(
                "INSERT INTO bronze.saved_tracks (payload, endpoint, requested_at, track_id, "
                "_dlt_load_id, _dlt_id) SELECT payload, endpoint, requested_at, track_id, "
                "_dlt_load_id, 'duplicate-key' FROM bronze.saved_tracks LIMIT 1"
            )
            # A null key: a top-track entry whose track id is missing.
            conn.execute(
                "INSERT INTO bronze.top_tracks (payload, endpoint, requested_at, snapshot_date, "
                "time_range, rank, track_id, _dlt_load_id, _dlt_id) SELECT payload - 'id', "
                "endpoint, now(), snapshot_date, time_range, rank + 1000, NULL, _dlt_load_id, "
                "'null-key' FROM bronze.top_tracks LIMIT 1"
            )
            # An unparseable date: an album released on the 30th of February.
            conn.execute(
                "INSERT INTO bronze.albums (payload, endpoint, requested_at, album_id, "
                "_dlt_load_id, _dlt_id) SELECT jsonb_set(jsonb_set(payload, '{id}', "
                "'\"0BadDate0000000000000a\"'), '{release_date}', '\"2021-02-30\"'), endpoint, "
                "now(), '0BadDate0000000000000a', _dlt_load_id, 'bad-date' "
                "FROM bronze.albums WHERE payload->>'release_date_precision' = 'day' LIMIT 1"
            )
        result = dbt(
            stack,
            ["build", "--select", "source:spotify", "stg_spotify__albums+1"],
            dbt_targets / "bad-rows",
            database_url=copy,
        )
    finally:
        drop_database(copy)
    assert not result.success
    failed = failed_names(result)
    assert expected <= failed, failed
    # Nothing else broke: the bad rows are caught where intended, not somewhere random.
    assert failed == expected, failed
    # A failing test stops what depends on the bad data instead of publishing it.
    assert statuses(result)["int_albums_merged"] == "skipped"


def test_build_passes_on_a_library_without_catalog_objects(
    fresh_db: str, emulator: EmulatorServer, dbt_targets: Path
) -> None:
    """No catalog object loaded (every id answered 404, or none referenced; here: no client
    secret, so no catalog step): the catalog tables read as empty and the whole build passes."""
    stack = make_stack(outside_pytest_tmp("spotify-elt-no-catalog-"), fresh_db, emulator)
    stack.vault.delete(CLIENT_SECRET)
    summary = stack.extract()
    assert any("catalog enrichment skipped" in w for w in summary.warnings)
    assert stack.count("albums") == stack.count("artists") == stack.count("album_tracks") == 0
    result = dbt(stack, ["build"], dbt_targets / "no-catalog")
    assert result.success, result.failure_sentence()
    assert "skipped" not in result.counts
    assert query(fresh_db, "SELECT count(*) FROM gold.fct_plays")[0][0] > 0
