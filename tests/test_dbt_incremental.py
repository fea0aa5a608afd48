"""Incremental silver models: a sequence of incremental runs equals a full refresh."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from dbt_support import (
    INCREMENTAL_MODELS,
    Build,
    copy_database,
    dbt,
    drop_database,
    query,
)

pytestmark = pytest.mark.slow

BRONZE = ("recently_played", "top_artists", "top_tracks")


def _rows(url: str) -> dict[str, list[tuple[object, ...]]]:
    # Every column but the stamp of the run that wrote the row (where a model has one).
    return {
        model: query(
            url, f"SELECT to_jsonb(m) - 'dbt_updated_at' FROM silver.{model} AS m ORDER BY 1"
        )
        for model in INCREMENTAL_MODELS
    }


def test_incremental_runs_equal_full_refresh(dev_build: Build, dbt_targets: Path) -> None:
    stack = dev_build.stack
    copy = copy_database(stack.admin_url)
    select = ["--select", *INCREMENTAL_MODELS]
    target = dbt_targets / "incremental"
    try:
        with psycopg.connect(copy, autocommit=True) as conn:
            # Hold back the rows of the latest load of each table: bronze as of the first run.
            conn.execute("CREATE SCHEMA held")
            for table in BRONZE:
                conn.execute(
                    f"CREATE TABLE held.{table} AS SELECT * FROM bronze.{table} "
                    f"WHERE _dlt_load_id = (SELECT max(_dlt_load_id) FROM bronze.{table})"
                )
                conn.execute(
                    f"DELETE FROM bronze.{table} WHERE _dlt_load_id = "
                    f"(SELECT max(_dlt_load_id) FROM bronze.{table})"
                )
        first = dbt(stack, ["run", "--full-refresh", *select], target, database_url=copy)
        assert first.success, first.failure_sentence()
        before = _rows(copy)
        with psycopg.connect(copy, autocommit=True) as conn:
            for table in BRONZE:
                conn.execute(f"INSERT INTO bronze.{table} SELECT * FROM held.{table}")
            # A play of the first load delivered again later (a retried load) must not double.
            conn.execute(
                "INSERT INTO bronze.recently_played (payload, endpoint, requested_at, played_at, "
                "track_id, _dlt_load_id, _dlt_id) SELECT payload, endpoint, now(), played_at, "
                "track_id, '9999999999.0', 'redelivered' FROM bronze.recently_played "
                "ORDER BY played_at LIMIT 1"
            )
        second = dbt(stack, ["run", *select], target, database_url=copy)
        assert second.success, second.failure_sentence()
        incremental = _rows(copy)
        assert len(incremental["stg_spotify__recently_played"]) > len(
            before["stg_spotify__recently_played"]
        )
        refreshed = dbt(stack, ["run", "--full-refresh", *select], target, database_url=copy)
        assert refreshed.success, refreshed.failure_sentence()
        assert _rows(copy) == incremental
        redelivered = query(
            copy,
            "SELECT count(*) FROM silver.stg_spotify__recently_played "
            "WHERE load_id = '9999999999.0'",
        )
        assert redelivered[0][0] == 1
    finally:
        drop_database(copy)
