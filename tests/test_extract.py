"""The extractor end to end: real HTTP to the emulator, real dlt, real PostgreSQL."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests
from stack_support import (
    BRONZE_SORT_KEYS,
    SMALL_LIBRARY,
    SpotifyStack,
    make_stack,
    outside_pytest_tmp,
)

from extract.emulator import EmulatorConfig, EmulatorServer
from spotify_elt.cli import main
from spotify_elt.db import role_urls
from spotify_elt.extraction import ExtractError, secret_names
from spotify_elt.vault import REFRESH_TOKEN

USER_TABLES = (
    "recently_played",
    "top_artists",
    "top_tracks",
    "saved_tracks",
    "saved_albums",
    "followed_artists",
    "playlists",
    "playlist_items",
)
KEYS = {table: keys for table, keys in BRONZE_SORT_KEYS.items() if table != "tracks"}


def rows(stack: SpotifyStack, table: str) -> list[tuple[object, ...]]:
    """A table's natural keys and payloads, in key order (what a comparison of runs needs).

    Links in payloads name the emulator's address; it is replaced so that runs against two
    emulators (two ports) compare equal.
    """
    with psycopg.connect(stack.admin_url) as conn:
        return conn.execute(
            f"SELECT {KEYS[table]}, replace(payload::text, %s, 'EMULATOR') FROM bronze.{table} "
            f"ORDER BY {KEYS[table]}",
            (stack.emulator.base_url,),
        ).fetchall()


def server_count(emu: EmulatorServer, endpoint: str) -> int:
    return emu.request_count(f"GET /v1{endpoint}")


def pages(n: int, size: int = 50) -> int:
    return max(1, math.ceil(n / size))


# ---------------------------------------------------------------------------- auth


def test_headless_pkce_login_through_the_cli(
    fresh_db: str, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    stack = make_stack(outside_pytest_tmp("spotify-elt-login-"), fresh_db, emulator, login=False)
    for name, value in stack.env().items():
        if name.startswith("SPOTIFY_ELT_"):
            monkeypatch.setenv(name, value)
    # The "browser": follow the authorize URL; the emulator consents and redirects to our
    # loopback callback, which the CLI is listening on.
    monkeypatch.setattr("webbrowser.open", lambda url: requests.get(url, timeout=10))
    assert main(["auth", "login", "--timeout", "20"]) == 0
    out = capsys.readouterr().out
    assert "Logged in" in out
    token = stack.vault.get(REFRESH_TOKEN)
    assert token
    assert token not in out
    assert main(["auth", "status"]) == 0
    status = capsys.readouterr().out
    assert "refresh token:  ********" in status
    assert "user-read-recently-played" in status
    assert token not in status


def test_login_with_pasted_redirect_in_a_subprocess(
    fresh_db: str, emulator: EmulatorServer
) -> None:
    stack = make_stack(outside_pytest_tmp("spotify-elt-paste-"), fresh_db, emulator, login=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "spotify_elt", "auth", "login", "--no-browser"],
        env=stack.env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    url = ""
    for line in proc.stdout:
        if "/authorize?" in line:
            url = line.strip()
            break
    redirect = requests.get(url, allow_redirects=False, timeout=10)
    assert redirect.status_code in (302, 303, 307)
    out, err = proc.communicate(redirect.headers["location"] + "\n", timeout=60)
    assert proc.returncode == 0, err
    assert "Logged in" in out
    assert stack.vault.get(REFRESH_TOKEN)


def test_login_rejects_a_forged_state(fresh_db: str, emulator: EmulatorServer) -> None:
    stack = make_stack(outside_pytest_tmp("spotify-elt-state-"), fresh_db, emulator, login=False)
    proc = subprocess.run(
        [sys.executable, "-m", "spotify_elt", "auth", "login", "--no-browser"],
        env=stack.env(),
        input=f"{stack.settings.redirect_uri}?code=abc&state=forged\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "state does not match" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert stack.vault.get(REFRESH_TOKEN) is None


# ---------------------------------------------------------------------------- extraction


def test_full_extraction_development_mode_and_request_arithmetic(stack: SpotifyStack) -> None:
    emu = stack.emulator
    first = stack.extract()
    for table in (*USER_TABLES, "albums", "album_tracks", "artists"):
        assert stack.count(table) > 0, table
    assert first.rows["recently_played"] == 50  # the whole visible window
    assert first.batch_fallback  # auto mode tried a batch get, got 403, went single
    assert server_count(emu, "/albums") == 1

    # Requests equal what paging says (client and server agree).
    with psycopg.connect(stack.admin_url) as conn:
        top = dict(
            conn.execute(
                "SELECT 'artists/' || time_range, count(*) FROM bronze.top_artists GROUP BY 1 "
                "UNION ALL SELECT 'tracks/' || time_range, count(*) FROM bronze.top_tracks "
                "GROUP BY 1"
            ).fetchall()
        )
        readable = conn.execute(
            "SELECT coalesce(payload->'items', payload->'tracks')->>'total' FROM bronze.playlists"
            " WHERE payload->'owner'->>'id' = 'emulator-user' OR (payload->>'collaborative')::bool"
        ).fetchall()
    expected = {
        "/me/tracks": pages(stack.count("saved_tracks")),
        "/me/albums": pages(stack.count("saved_albums")),
        "/me/following": pages(stack.count("followed_artists")),
        "/me/playlists": pages(stack.count("playlists")),
        "/me/player/recently-played": 1,
        "/me/top/artists": sum(
            pages(top.get(f"artists/{r}", 0)) for r in stack.settings.time_ranges
        ),
        "/me/top/tracks": sum(pages(top.get(f"tracks/{r}", 0)) for r in stack.settings.time_ranges),
        "/playlists/{id}/items": sum(pages(int(t)) for (t,) in readable),
        "/albums/{id}": stack.count("albums"),
        "/artists/{id}": stack.count("artists"),
    }
    for endpoint, count in expected.items():
        assert first.requests[endpoint] == count, endpoint
    assert first.total_requests == emu.stats()["api_requests"]

    # Nothing new: the catalog is not fetched again, user data is re-read (it is current state).
    emu.reset_stats()
    second = stack.extract()
    catalog = [e for e in second.requests if not e.startswith(("/me", "/playlists"))]
    assert catalog == []
    assert second.rows["recently_played"] == 0
    assert stack.count("recently_played") == 50


def test_full_extraction_extended_mode_uses_batches(fresh_db: str) -> None:
    config = EmulatorConfig(**SMALL_LIBRARY, mode="extended")  # type: ignore[arg-type]
    with EmulatorServer(config) as emu:
        stack = make_stack(outside_pytest_tmp("spotify-elt-ext-"), fresh_db, emu)
        summary = stack.extract()
        assert not summary.batch_fallback
        assert summary.requests["/albums/{id}"] == 0
        assert summary.requests["/albums"] == math.ceil(stack.count("albums") / 20)
        assert summary.requests["/artists"] == math.ceil(stack.count("artists") / 50)
        with psycopg.connect(stack.admin_url) as conn:
            popularity = conn.execute(
                "SELECT count(*) FROM bronze.artists WHERE payload ? 'popularity'"
            ).fetchone()
        assert popularity and popularity[0] == stack.count("artists")


@pytest.mark.slow
def test_both_api_shapes_load_into_one_schema_without_drift(fresh_db: str) -> None:
    root = outside_pytest_tmp("spotify-elt-shapes-")
    with EmulatorServer(EmulatorConfig(**SMALL_LIBRARY)) as dev:  # type: ignore[arg-type]
        stack = make_stack(root, fresh_db, dev)
        stack.extract()
    columns_before = _columns(stack)
    config = EmulatorConfig(**SMALL_LIBRARY, mode="extended")  # type: ignore[arg-type]
    with EmulatorServer(config) as ext:
        stack = make_stack(root, fresh_db, ext, catalog_refresh_days=0)
        summary = stack.extract()
    assert summary.rows["artists"] > 0
    columns_after = _columns(stack)
    # Same columns for every table both runs wrote (the payload absorbs the shape difference);
    # a table only the second run needed (tracks: refetched, refresh age 0) has the same layout.
    tables_before = {c[0] for c in columns_before}
    assert [c for c in columns_after if c[0] in tables_before] == columns_before
    new = {(c[1], c[2]) for c in columns_after if c[0] not in tables_before}
    assert new <= {(c[1], c[2]) for c in columns_before} | {("track_id", "character varying")}


def _columns(stack: SpotifyStack) -> list[tuple[object, ...]]:
    with psycopg.connect(stack.admin_url) as conn:
        return conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'bronze' ORDER BY 1, 2"
        ).fetchall()


def test_incremental_run_picks_up_only_new_plays(stack: SpotifyStack) -> None:
    emu = stack.emulator
    stack.extract()
    before = rows(stack, "recently_played")
    emu.advance_clock(3 * 3600)
    now_ms = requests.get(f"{emu.base_url}/_emulator/clock", timeout=5).json()["now_ms"]
    last_ms = max(r[0] for r in before).timestamp() * 1000  # type: ignore[union-attr]
    truth = requests.get(
        f"{emu.base_url}/_emulator/plays",
        params={"start_ms": int(last_ms), "end_ms": now_ms},
        timeout=5,
    ).json()["items"]
    assert 0 < len(truth) <= 50
    summary = stack.extract()
    assert summary.rows["recently_played"] == len(truth)
    after = rows(stack, "recently_played")
    assert after[: len(before)] == before
    assert [r[1] for r in after[len(before) :]] == [p["track_id"] for p in truth]
    assert len({(r[0], r[1]) for r in after}) == len(after)


@pytest.mark.slow
def test_rate_limit_storm_and_server_errors_still_load_every_row(fresh_db: str) -> None:
    baseline_root = outside_pytest_tmp("spotify-elt-base-")
    with EmulatorServer(EmulatorConfig(**SMALL_LIBRARY)) as clean:  # type: ignore[arg-type]
        baseline = make_stack(baseline_root, fresh_db, clean)
        baseline.extract()
        expected = {t: rows(baseline, t) for t in KEYS}
    from stack_support import PgServer

    other = PgServer("embedded", baseline.admin_url).fresh_database()
    storm = EmulatorConfig(
        **SMALL_LIBRARY,  # type: ignore[arg-type]
        rate_budget=40,
        rate_window=1.0,
        fault_rate=0.10,
    )
    with EmulatorServer(storm) as emu:
        stack = make_stack(outside_pytest_tmp("spotify-elt-storm-"), other, emu)
        summary = stack.extract()
        statuses = emu.stats()["endpoints"]
    assert summary.rate_limit_waits > 0
    assert sum(summary.retries.values()) > summary.rate_limit_waits  # 5xx were retried too
    assert any("429" in e["statuses"] for e in statuses.values())
    assert any({"500", "502", "503"} & set(e["statuses"]) for e in statuses.values())
    for table in KEYS:
        got = rows(stack, table)
        if table.startswith("top_") or table == "recently_played":
            got = [r[:-1] for r in got]
            want = [r[:-1] for r in expected[table]]
        else:
            want = expected[table]
        assert got == want, table


@pytest.mark.slow
def test_token_revoked_mid_run_and_rotated_refresh_token_is_saved(fresh_db: str) -> None:
    config = EmulatorConfig(
        **SMALL_LIBRARY,  # type: ignore[arg-type]
        revoke_after_requests=40,
        rotate_refresh_tokens=True,
    )
    with EmulatorServer(config) as emu:
        stack = make_stack(outside_pytest_tmp("spotify-elt-revoke-"), fresh_db, emu)
        original = stack.vault.get(REFRESH_TOKEN)
        summary = stack.extract()
        assert summary.rows["albums"] > 0
        assert sum(summary.retries.values()) >= 1  # the 401s were answered by a new token
        rotated = stack.vault.get(REFRESH_TOKEN)
        assert rotated and rotated != original
        # The old refresh token is dead; the saved one works for the next run.
        emu.advance_clock(4000)
        again = stack.extract()
        assert again.user_data


def test_truncated_bodies_fail_with_a_clear_message_and_leave_bronze_alone(
    fresh_db: str,
) -> None:
    config = EmulatorConfig(**SMALL_LIBRARY, truncate_rate=1.0)  # type: ignore[arg-type]
    with EmulatorServer(config) as emu:
        stack = make_stack(outside_pytest_tmp("spotify-elt-trunc-"), fresh_db, emu, max_retries=2)
        with pytest.raises(ExtractError) as err:
            stack.extract()
    message = str(err.value)
    assert message.startswith("The extraction stopped: /me/player/recently-played failed 3 times")
    assert "invalid or truncated JSON body" in message
    with psycopg.connect(stack.admin_url) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'bronze' "
            "AND table_name NOT LIKE '\\_dlt%'"
        ).fetchone()
    assert tables == (0,)


@pytest.mark.slow
def test_a_second_run_at_the_same_time_refuses(stack: SpotifyStack) -> None:
    """Writers of the same table (or pipeline) exclude each other; disjoint shards do not."""
    urls = role_urls(stack.admin_url, stack.vault)
    with psycopg.connect(urls.loader, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtext('spotify-elt extract table playlists'))")
        with pytest.raises(ExtractError, match="Another extraction is writing the same"):
            stack.extract()
        shard = stack.extract(
            resources=["recently_played"], catalog=False, pipeline_name="spotify_elt_bronze_plays"
        )
        assert shard.rows["recently_played"] == 50
    assert stack.extract().rows["saved_tracks"] == SMALL_LIBRARY["saved_tracks"]


@pytest.mark.slow
def test_bad_seed_ids_are_skipped_with_a_warning(fresh_db: str, emulator: EmulatorServer) -> None:
    stack = make_stack(
        outside_pytest_tmp("spotify-elt-seeds-"),
        fresh_db,
        emulator,
        # (an id that is not a Spotify id is refused by the configuration: test_bad_input)
        seed_artist_ids=("0000000000000000000000",),
        search_queries=("love",),
    )
    summary = stack.extract()
    assert any("seed artist 0000000000000000000000: 404" in w for w in summary.warnings)
    assert summary.requests["/search"] == 1
    assert stack.count("albums") > 0


@pytest.fixture
def slow_emulator() -> Iterator[EmulatorServer]:
    config = EmulatorConfig(**SMALL_LIBRARY, latency_ms=20)  # type: ignore[arg-type]
    with EmulatorServer(config) as server:
        yield server


@pytest.mark.slow
def test_killed_run_then_rerun_equals_an_uninterrupted_run(
    fresh_db: str, slow_emulator: EmulatorServer
) -> None:
    from stack_support import PgServer

    emu = slow_emulator
    stack = make_stack(outside_pytest_tmp("spotify-elt-kill-"), fresh_db, emu)
    proc = subprocess.Popen(
        [sys.executable, "-m", "spotify_elt", "extract", "--quiet"],
        env=stack.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while emu.request_count("GET /v1/albums/{id}") < 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = emu.request_count("GET /v1/albums/{id}")
    stack.extract()

    reference_db = PgServer("embedded", stack.admin_url).fresh_database()
    reference = make_stack(outside_pytest_tmp("spotify-elt-ref-"), reference_db, emu)
    reference.extract()
    assert 0 < killed_at < reference.count("albums")  # the kill came mid-way through the catalog
    for table in KEYS:
        got, want = rows(stack, table), rows(reference, table)
        if table.startswith("top_"):
            got, want = [r[:-1] for r in got], [r[:-1] for r in want]
        assert got == want, table
        with psycopg.connect(stack.admin_url) as conn:
            dup = conn.execute(
                f"SELECT count(*) - count(DISTINCT ({KEYS[table]})) FROM bronze.{table}"
            ).fetchone()
        assert dup == (0,), table


@pytest.mark.slow
def test_no_secret_in_logs_or_output(
    stack: SpotifyStack,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level("DEBUG")
    for name, value in stack.env().items():
        if name.startswith("SPOTIFY_ELT_"):
            monkeypatch.setenv(name, value)
    assert main(["extract"]) == 0
    assert main(["auth", "status"]) == 0
    secrets_used = [stack.vault.get(n) for n in secret_names()]
    urls = role_urls(stack.admin_url, stack.vault)
    secrets_used += [u.split(":")[2].split("@")[0] for u in (urls.loader, urls.transformer)]
    captured = capsys.readouterr()
    text = captured.out + captured.err + caplog.text
    assert "Rows loaded into bronze" in captured.out
    for secret in secrets_used:
        assert secret and secret not in text


def test_extract_without_login_says_what_to_do(fresh_db: str, emulator: EmulatorServer) -> None:
    stack = make_stack(outside_pytest_tmp("spotify-elt-nologin-"), fresh_db, emulator, login=False)
    summary = stack.extract()
    assert not summary.user_data
    assert any("spotify-elt auth login" in w for w in summary.warnings)


def test_cli_extract_without_client_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract"]) == 1
    err = capsys.readouterr().err
    assert "No Spotify client id is configured" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_dlt_pipeline_dir_is_per_user(stack: SpotifyStack) -> None:
    stack.extract()
    assert (Path(stack.settings.data_dir) / "dlt" / "spotify_elt_bronze").is_dir()


def test_access_tokens_are_renewed_before_they_expire() -> None:
    from extract.spotify.client import ClientCredentialsToken

    config = EmulatorConfig(**SMALL_LIBRARY, token_ttl=90)  # type: ignore[arg-type]
    with EmulatorServer(config) as emu:
        source = ClientCredentialsToken(
            requests.Session(),
            f"{emu.accounts_url}/api/token",
            config.client_id,
            config.client_secret,
        )
        first = source.token()
        assert source.token() == first  # cached while far from expiry
        source.renew_margin = 100  # now within the margin: renewed before use
        assert source.token() != first
        assert source.refreshes == 2


@pytest.mark.slow
def test_ids_answered_404_are_remembered_until_their_retry_age(
    fresh_db: str, emulator: EmulatorServer
) -> None:
    stack = make_stack(outside_pytest_tmp("spotify-elt-404-"), fresh_db, emulator)
    stack.extract()
    gone = "0000000000000000000000"
    with psycopg.connect(stack.admin_url) as conn:
        # A play of a track the API no longer knows (its object reduced to the id, as a
        # simplified track is): the catalog step asks for it.
        conn.execute(
            "UPDATE bronze.recently_played SET payload = jsonb_set(payload, '{track}', "
            "jsonb_build_object('id', %s::text, 'type', 'track')) "
            "WHERE (played_at, track_id) IN "
            "(SELECT played_at, track_id FROM bronze.recently_played ORDER BY 1 LIMIT 1)",
            (gone,),
        )
    emulator.reset_stats()
    first = stack.extract()
    assert first.requests["/tracks/{id}"] == 1 and first.missing_ids == 1
    assert stack.count("catalog_missing", f"object_id = '{gone}' AND kind = 'tracks'") == 1

    emulator.reset_stats()
    second = stack.extract()
    assert second.requests["/tracks/{id}"] == 0  # remembered: not asked again
    assert second.missing_ids == 0

    # Past the retry age the id is asked again (and remembered anew).
    retry = make_stack(stack.settings.config_dir.parent, fresh_db, emulator, missing_retry_days=0)
    emulator.reset_stats()
    third = retry.extract()
    assert third.requests["/tracks/{id}"] == 1 and third.missing_ids == 1
    assert stack.count("catalog_missing") == 1


@pytest.mark.slow
def test_state_follows_the_database_when_the_data_dir_changes_databases(
    fresh_db: str, emulator: EmulatorServer
) -> None:
    from stack_support import PgServer

    root = outside_pytest_tmp("spotify-elt-move-")
    first = make_stack(root, fresh_db, emulator)
    first.extract()
    assert first.count("recently_played") == 50

    # The same data dir (its dlt state), another database: a complete first extraction there.
    other_db = PgServer("embedded", fresh_db).fresh_database()
    second = make_stack(root, other_db, emulator)
    summary = second.extract()
    assert summary.rows["recently_played"] == 50
    for table in (*USER_TABLES, "albums", "album_tracks", "artists"):
        assert second.count(table) == first.count(table), table

    # Back to the first database: its own cursor again (restored from it), no play twice.
    emulator.advance_clock(2 * 3600)
    back = make_stack(root, fresh_db, emulator)
    again = back.extract()
    assert 0 < again.rows["recently_played"] < 50
    with psycopg.connect(fresh_db) as conn:
        dup = conn.execute(
            "SELECT count(*) - count(DISTINCT (played_at, track_id)) FROM bronze.recently_played"
        ).fetchone()
    assert dup == (0,)
