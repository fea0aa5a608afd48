"""Injection: hostile names and config values go through as data, never as SQL or as a path.

The ``pipeline`` run used a database named like an SQL statement, playlists named with quotes,
HTML and template syntax, and search queries and seed artist ids in config.toml built to break
out of SQL or of a URL path. Every identifier the project puts into SQL goes through
``psycopg.sql`` (or dbt's quoting); names dbt cannot quote are refused.
"""

from __future__ import annotations

import psycopg
import pytest
from conftest import PipelineRun
from reliability_support import CaseLog
from suite_support import (
    CANARY,
    HOSTILE_DATABASE,
    HOSTILE_PLAYLISTS,
    HOSTILE_QUERIES,
    HOSTILE_SEED_IDS,
)

from spotify_elt.cli import main
from spotify_elt.db import Dsn

pytestmark = pytest.mark.reliability("Injection")


def _query(run: PipelineRun, statement: str) -> list[tuple[object, ...]]:
    with psycopg.connect(run.stack.admin_url) as conn:
        return conn.execute(statement).fetchall()


@pytest.mark.slow
def test_hostile_names_arrive_as_data_and_nothing_is_dropped(
    pipeline: PipelineRun, reliability: CaseLog
) -> None:
    for proc in pipeline.outputs.values():
        reliability.output(proc.stdout, proc.stderr)
        assert proc.returncode == 0, proc.stderr[-3000:]
    with reliability.case("a database named like an SQL statement"):
        assert Dsn.parse(pipeline.stack.admin_url).database == HOSTILE_DATABASE
        assert _query(pipeline, f"SELECT note FROM public.{CANARY}") == [("still here",)]
        layers = dict(
            _query(
                pipeline,
                "SELECT table_schema, count(*) FROM information_schema.tables "
                "WHERE table_schema IN ('bronze', 'silver', 'gold') GROUP BY 1",
            )
        )
        assert layers["bronze"] >= 10 and layers["silver"] >= 10 and layers["gold"] >= 10
    for name in HOSTILE_PLAYLISTS:
        with reliability.case(f"playlist named {name[:24]!r}..."):
            with psycopg.connect(pipeline.stack.admin_url) as conn:
                in_bronze = conn.execute(
                    "SELECT count(*) FROM bronze.playlists WHERE payload->>'name' = %s", (name,)
                ).fetchone()
                in_gold = conn.execute(
                    "SELECT count(*) FROM gold.dim_playlists WHERE playlist_name = %s", (name,)
                ).fetchone()
            assert in_bronze == (1,) and in_gold == (1,)
    with reliability.case("the report escapes names it shows"):
        for html in (pipeline.stack.settings.data_dir / "reports").rglob("*.html"):
            assert '<script>alert("x")</script>' not in html.read_text()
    emulator = pipeline.stack.emulator
    with reliability.case("search queries sent as the query, one request each"):
        assert emulator.request_count("GET /v1/search") == len(HOSTILE_QUERIES)
    with reliability.case("no request left its endpoint"):
        # A path escaping /artists/{id} would have reached another endpoint, e.g. /me/albums.
        assert emulator.request_count("GET /v1/me/albums") == 1
        statuses = emulator.stats()["endpoints"].get("GET /v1/*", {}).get("statuses", {})
        assert set(statuses) <= {"404"}


@pytest.mark.parametrize("seed", HOSTILE_SEED_IDS)
def test_seed_ids_that_are_not_spotify_ids_are_refused(
    seed: str,
    reliability: CaseLog,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A seed id would become a URL path segment: anything but a Spotify id is refused."""
    monkeypatch.setenv("SPOTIFY_ELT_SEED_ARTIST_IDS", seed)
    with reliability.case("refused by the configuration"):
        assert main(["config", "show"]) == 2
        err = capsys.readouterr().err
        reliability.output(err)
        assert err.count("Error:") == 1 and "which is not a Spotify id" in err


BAD_NAMES = (
    'spotify"; DROP SCHEMA gold CASCADE; --',
    "spotify'; DROP SCHEMA gold CASCADE; --",
    "spotify\\",
)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_database_names_dbt_cannot_quote_are_refused(
    name: str,
    reliability: CaseLog,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fresh_db: str,
) -> None:
    from urllib.parse import quote, urlsplit, urlunsplit

    monkeypatch.setenv("SPOTIFY_ELT_DATABASE_NAME", name)
    with reliability.case("as database_name (the embedded server)"):
        assert main(["db", "init"]) == 2
        err = capsys.readouterr().err
        reliability.output(err)
        assert err.count("Error:") == 1 and "holds a quote, a backslash" in err
    monkeypatch.delenv("SPOTIFY_ELT_DATABASE_NAME")
    parts = urlsplit(fresh_db)
    dsn = urlunsplit(parts._replace(path="/" + quote(name, safe="")))
    monkeypatch.setenv("SPOTIFY_ELT_DATABASE_URL", dsn)
    with reliability.case("in the DSN of an external server"):
        assert main(["db", "init"]) == 4
        err = capsys.readouterr().err
        reliability.output(err)
        assert err.count("Error:") == 1 and "holds a quote, a backslash" in err
        with psycopg.connect(fresh_db) as conn:
            created = conn.execute(
                "SELECT count(*) FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
        assert created == (0,)
