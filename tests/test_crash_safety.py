"""Kills during a dlt load: the next run converges to exactly what an uninterrupted run loads.

A run is killed (SIGKILL, in a subprocess) while dlt is loading a package: a job file sits in the
pipeline's ``load/normalized/<load_id>/started_jobs``. The table that job writes is held locked by
another session so that the moment lasts; the other jobs of the package complete, so bronze holds
a half-applied package when the kill comes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from stack_support import PgServer, SpotifyStack, make_home, make_stack, outside_pytest_tmp
from test_extract import KEYS, rows
from test_history import END, Project, cli, plays
from test_history import state as state  # a fixture

from extract.emulator import EmulatorServer, EmulatorState
from extract.history.synthetic import write_export


def kill_while_loading(
    command: list[str],
    env: dict[str, str],
    admin_url: str,
    pipeline_dir: Path,
    *,
    committed: bool = True,
    sig: signal.Signals = signal.SIGKILL,
) -> str:
    """Run ``command``; SIGKILL it while a job of its load is started.

    With ``committed``, the kill waits until another job of the load is in the database too (the
    package is half-applied).

    Returns the load id of the package that was being loaded.
    """
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    load_id = ""
    try:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:
                started = list(pipeline_dir.glob("load/normalized/*/started_jobs/*.csv"))
                tables = {p.name.split(".")[0] for p in started} - {"_dlt_pipeline_state"}
                if started and tables:
                    load_id = started[0].parent.parent.name
                    if not committed or any(_has_rows(conn, table, load_id) for table in tables):
                        break
                time.sleep(0.001)
            else:
                raise AssertionError(f"the load was not caught mid-way (exit {proc.returncode})")
    finally:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=120)
    # A plain kill (SIGTERM) unwinds the CLI (dlt's own handler turns it into an interrupt while
    # it loads), which says so and exits non-zero.
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode in (130, 143)
    return load_id


def _has_rows(conn: psycopg.Connection[tuple[object, ...]], table: str, load_id: str) -> bool:
    regclass = conn.execute("SELECT to_regclass(%s)", (f"bronze.{table}",)).fetchone()
    if not regclass or regclass[0] is None:
        return False
    row = conn.execute(
        f"SELECT EXISTS (SELECT 1 FROM bronze.{table} WHERE _dlt_load_id = %s)", (load_id,)
    ).fetchone()
    return bool(row and row[0])


def cli_run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spotify_elt", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.fixture
def two_stacks(fresh_db: str, emulator: EmulatorServer) -> tuple[SpotifyStack, SpotifyStack]:
    """The stack under test and a reference stack on the same emulator (its own database)."""
    reference_db = PgServer("embedded", fresh_db).fresh_database()
    return (
        make_stack(outside_pytest_tmp("spotify-elt-kill-"), fresh_db, emulator),
        make_stack(outside_pytest_tmp("spotify-elt-ref-"), reference_db, emulator),
    )


@pytest.mark.slow
def test_extract_killed_while_loading_converges_on_the_next_run(
    two_stacks: tuple[SpotifyStack, SpotifyStack],
) -> None:
    stack, reference = two_stacks
    emu = stack.emulator
    for project in (stack, reference):
        project.extract()
        with psycopg.connect(project.admin_url) as conn:
            # Catalog objects to fetch again, so that the next run loads a catalog package too.
            conn.execute(
                "DELETE FROM bronze.albums WHERE album_id IN "
                "(SELECT album_id FROM bronze.albums ORDER BY 1 LIMIT 5)"
            )
    emu.advance_clock(6 * 3600)  # new plays, so the next run appends to recently_played
    pipeline_dir = Path(stack.settings.data_dir) / "dlt" / "spotify_elt_bronze"
    load_id = kill_while_loading(
        [sys.executable, "-m", "spotify_elt", "extract", "--quiet"],
        stack.env(),
        stack.admin_url,
        pipeline_dir,
    )
    assert (pipeline_dir / "load" / "normalized" / load_id).is_dir()  # pending, half-applied

    done = cli_run(stack.env(), "extract", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    reference.extract()
    for name in KEYS:
        got, want = rows(stack, name), rows(reference, name)
        if name.startswith("top_"):
            got, want = [r[:-1] for r in got], [r[:-1] for r in want]
        assert got == want, name
    assert not list(pipeline_dir.glob("load/normalized/*"))
    # The next run on both: still equal (nothing pending, nothing wedged).
    emu.advance_clock(3600)
    again = cli_run(stack.env(), "extract", "--quiet")
    assert again.returncode == 0, again.stderr
    reference.extract()
    for name in KEYS:
        assert len(rows(stack, name)) == len(rows(reference, name)), name


# ---------------------------------------------------------------------------- history import


@pytest.fixture
def history_project(fresh_db: str) -> Project:
    root = outside_pytest_tmp("spotify-elt-hist-")
    settings, vault = make_home(root, fresh_db)
    return Project(settings, vault, fresh_db)


def _export(state: EmulatorState, out: Path, days: float, end: datetime) -> tuple[Path, int]:
    chosen = plays(state, days, end)
    return write_export(chosen, out, seed=7), len(chosen)


def _with_nul(folder: Path) -> Path:
    """The export at ``folder`` with a NUL in the first record's track name and track URI."""
    first = sorted(folder.rglob("Streaming_History_Audio_*.json"))[0]
    records = json.loads(first.read_text())
    records[0]["master_metadata_track_name"] = "Bad\u0000Name"
    records[1]["spotify_track_uri"] = "spotify:track:abc\u0000def"
    first.write_text(json.dumps(records))
    return folder


def test_nul_characters_are_removed_and_counted(
    history_project: Project,
    state: EmulatorState,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    export, n = _export(state, tmp_path / "nul", 1, END)
    _with_nul(export)
    assert cli(history_project, monkeypatch, "import-history", str(export), "--quiet") == 0
    assert "NUL characters removed from 2 plays" in capsys.readouterr().out
    assert history_project.count() == n
    assert history_project.count("payload->>'master_metadata_track_name' = 'BadName'") == 1
    assert history_project.count("track_id = 'abcdef'") == 1


def test_a_failed_import_does_not_block_the_next(
    history_project: Project,
    state: EmulatorState,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first, n_first = _export(state, tmp_path / "first", 1, END)
    assert cli(history_project, monkeypatch, "import-history", str(first), "--quiet") == 0
    # The database refuses the next import's rows (a constraint an operator added).
    with psycopg.connect(history_project.admin_url) as conn:
        conn.execute(
            "ALTER TABLE bronze.streaming_history ADD CONSTRAINT no_new_rows "
            "CHECK (played_at < '2026-11-01') NOT VALID"
        )
    second, n_second = _export(state, tmp_path / "second", 1, END - timedelta(days=1))
    capsys.readouterr()
    assert cli(history_project, monkeypatch, "import-history", str(second), "--quiet") == 6
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("Error: Loading the history into bronze failed") and "no_new_rows" in err
    assert history_project.count() == n_first
    with psycopg.connect(history_project.admin_url) as conn:
        conn.execute("ALTER TABLE bronze.streaming_history DROP CONSTRAINT no_new_rows")
    missing = tmp_path / "does-not-exist.zip"
    assert cli(history_project, monkeypatch, "import-history", str(missing), "--quiet") == 6
    assert "does-not-exist.zip" in capsys.readouterr().err
    assert cli(history_project, monkeypatch, "import-history", str(second), "--quiet") == 0
    assert history_project.count() == n_first + n_second


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_import_killed_while_loading_does_not_swallow_the_next(
    history_project: Project, state: EmulatorState, tmp_path: Path, sig: signal.Signals
) -> None:
    project = history_project
    killed, n_killed = _export(state, tmp_path / "killed", 3, END)
    other, n_other = _export(state, tmp_path / "other", 2, END - timedelta(days=3))
    data = Path(project.settings.data_dir)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SPOTIFY_ELT_")},
           **project.env()}  # fmt: skip
    kill_while_loading(
        [sys.executable, "-m", "spotify_elt", "import-history", str(killed), "--quiet"],
        env,
        project.admin_url,
        data / "dlt" / "spotify_elt_history",
        committed=False,
        sig=sig,
    )
    # What the killed import staged is private to the listener (and gone after a plain kill).
    left = [p for p in (data / "dlt").rglob("*.csv") if p.is_file()]
    assert all(p.stat().st_mode & 0o077 == 0 for p in left)
    staging = data / "dlt" / "history-staging"
    if sig == signal.SIGKILL:
        assert left
    else:
        assert not staging.exists() or not any(staging.iterdir())

    done = cli_run(env, "import-history", str(other), "--quiet")
    assert done.returncode == 0, done.stderr
    # The interrupted import was completed or discarded, never imported instead of this one.
    assert project.count() in (n_other, n_other + n_killed)
    assert f"{n_other} plays in the export" in done.stdout
    assert not (data / "dlt" / "history-staging").exists() or not any(
        (data / "dlt" / "history-staging").iterdir()
    )
    assert not [p for p in (data / "dlt").rglob("*.csv") if p.is_file()]
    # Importing the killed export again converges to the rows of two uninterrupted imports.
    assert cli_run(env, "import-history", str(killed), "--quiet").returncode == 0
    assert project.count() == n_other + n_killed
    assert project.count("true") == int(
        project.rows("SELECT count(DISTINCT play_key) FROM bronze.streaming_history")[0][0]
    )
