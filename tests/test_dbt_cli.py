"""`spotify-elt transform` and `spotify-elt docs` end to end, as a user runs them."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from dbt_support import Build, cli, sync_roles

from spotify_elt.db import TRANSFORMER, init_database, role_name, role_urls
from spotify_elt.dbt_runner import connection_env
from spotify_elt.vault import db_password_name

pytestmark = pytest.mark.slow


def test_transform_command_builds_and_reports(dev_build: Build, tmp_path: Path) -> None:
    stack = dev_build.stack
    sync_roles(stack)
    proc = cli(
        stack.env(),
        "transform",
        "--select",
        "stg_spotify__playlists+",
        "--exclude",
        "fct_playlist_tracks+",
        "--target-path",
        str(tmp_path / "target"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("dbt build:") and "success" in last and "pass" in last, last
    assert (tmp_path / "target" / "run_results.json").exists()
    # No secret in anything printed.
    transformer = role_name(TRANSFORMER, urlsplit(stack.admin_url).path.lstrip("/"))
    password = stack.vault.get(db_password_name(transformer))
    assert password and password not in proc.stdout + proc.stderr


def test_transform_failure_is_one_sentence(dev_build: Build, fresh_db: str) -> None:
    """On a database with nothing extracted yet: a clear sentence and a non-zero exit."""
    stack = dev_build.stack
    root = Path(stack.settings.data_dir).parent / "empty-stack"
    # Same vault (role passwords) as the session stack, an empty bronze.
    env = stack.env()
    env["SPOTIFY_ELT_DATABASE_URL"] = fresh_db
    init_database(fresh_db, stack.vault)
    proc = cli(env, "transform", "--target-path", str(root / "target"))
    assert proc.returncode == 8, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stderr.strip() == (
        "Error: The bronze schema holds no Spotify data yet; run `spotify-elt extract` first."
    )
    assert "Traceback" not in proc.stderr


def test_docs_generate_and_catalog(dev_build: Build, docs_target: Path, tmp_path: Path) -> None:
    env = dev_build.stack.env()
    assert (docs_target / "catalog.json").exists() and (docs_target / "index.html").exists()
    out = tmp_path / "catalog"
    common = ["--output", str(out), "--target-path", str(docs_target), "--no-generate"]
    proc = cli(env, "docs", "catalog", *common)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "README.md").exists() and (out / "gold" / "fct_plays.md").exists()
    assert cli(env, "docs", "catalog", "--check", *common).returncode == 0
    (out / "gold" / "fct_plays.md").write_text("stale\n")
    proc = cli(env, "docs", "catalog", "--check", *common)
    assert proc.returncode == 1 and "gold/fct_plays.md" in proc.stderr


def test_connection_env_reads_socket_and_tcp_urls() -> None:
    socket = connection_env("postgresql://spotify_transformer:p%40ss@/spotify_elt?host=/tmp/x")
    assert socket["SPOTIFY_ELT_DBT_HOST"] == "/tmp/x"
    assert socket["SPOTIFY_ELT_DBT_PASSWORD"] == "p@ss"
    assert socket["SPOTIFY_ELT_DBT_PORT"] == "5432"
    tcp = connection_env("postgresql://u:pw@db.example:5433/warehouse?sslmode=require")
    assert tcp["SPOTIFY_ELT_DBT_HOST"] == "db.example"
    assert tcp["SPOTIFY_ELT_DBT_PORT"] == "5433"
    assert tcp["SPOTIFY_ELT_DBT_DBNAME"] == "warehouse"
    assert tcp["SPOTIFY_ELT_DBT_SSLMODE"] == "require"


def test_a_second_transform_at_the_same_time_refuses(dev_build: Build, tmp_path: Path) -> None:
    """Two builds at once would collide on the same relations: the second one refuses."""
    stack = dev_build.stack
    sync_roles(stack)
    urls = role_urls(stack.admin_url, stack.vault)
    with psycopg.connect(urls.transformer, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtext('spotify-elt transform'))")
        proc = cli(stack.env(), "transform", "--target-path", str(tmp_path / "target"))
    assert proc.returncode == 8, proc.stderr[-2000:]
    assert proc.stderr.strip() == (
        "Error: Another transform is running on this database; wait for it to finish or run "
        "with --wait."
    )
    assert not (tmp_path / "target" / "run_results.json").exists()


def test_a_selector_matching_nothing_is_refused(dev_build: Build, tmp_path: Path) -> None:
    stack = dev_build.stack
    sync_roles(stack)
    proc = cli(stack.env(), "transform", "--select", "no_such_model", "--quiet")
    assert proc.returncode == 8, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: --select no_such_model matches no dbt model"), last
    assert "Traceback" not in proc.stderr
