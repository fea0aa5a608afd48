"""``spotify-elt airflow up`` wiring that needs no running Airflow: metadata DB, Celery checks."""

from __future__ import annotations

import psycopg
import pytest
from stack_support import free_port

from spotify_elt.airflow_setup import AirflowError, _check_celery, celery_settings, metadata_url
from spotify_elt.db import database_of


def test_metadata_database_is_created_beside_the_warehouse(fresh_db: str) -> None:
    url = metadata_url(fresh_db)
    assert url.startswith("postgresql+psycopg://")
    name = f"{database_of(fresh_db)}_airflow"
    assert f"/{name}" in url
    assert metadata_url(fresh_db) == url  # idempotent
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        row = conn.execute("SELECT current_database()").fetchone()
    assert row == (name,)


def test_celery_results_go_to_the_metadata_database() -> None:
    settings = celery_settings("redis://127.0.0.1:6379/0", "postgresql+psycopg://a:b@h:5432/db")
    assert settings == {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": "redis://127.0.0.1:6379/0",
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+postgresql://a:b@h:5432/db",
    }


def test_an_unreachable_broker_is_one_sentence() -> None:
    port = free_port()
    with pytest.raises(AirflowError, match=f"broker at 127.0.0.1:{port} does not answer"):
        _check_celery(f"redis://127.0.0.1:{port}/0")
