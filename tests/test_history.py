"""`spotify-elt import-history` end to end: real dlt, real PostgreSQL, exports from the emulator."""

from __future__ import annotations

import hashlib
import hmac
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import requests
from stack_support import SMALL_LIBRARY, SpotifyStack, make_home

from extract.emulator import EmulatorConfig, EmulatorState, Kind
from extract.emulator.privacy_export import emulator_plays
from extract.history.synthetic import ExportPlay, write_export
from spotify_elt.cli import main
from spotify_elt.config import Settings
from spotify_elt.history import (
    SALT_NAME,
    HistoryImportError,
    import_demo_history,
    import_history,
)
from spotify_elt.vault import Vault

END = datetime(2026, 11, 20, 12, tzinfo=UTC)


@dataclass
class Project:
    settings: Settings
    vault: Vault
    admin_url: str

    def rows(self, query: str, *params: object) -> list[tuple[object, ...]]:
        with psycopg.connect(self.admin_url) as conn:
            return conn.execute(query, params).fetchall()  # type: ignore[arg-type]

    def count(self, where: str = "true") -> int:
        return int(self.rows(f"SELECT count(*) FROM bronze.streaming_history WHERE {where}")[0][0])

    def env(self) -> dict[str, str]:
        s = self.settings
        return {
            "SPOTIFY_ELT_CONFIG_DIR": str(s.config_dir),
            "SPOTIFY_ELT_DATA_DIR": str(s.data_dir),
            "SPOTIFY_ELT_STATE_DIR": str(s.state_dir),
            "SPOTIFY_ELT_DATABASE_URL": self.admin_url,
        }


@pytest.fixture
def project(fresh_db: str, tmp_path: Path) -> Project:
    settings, vault = make_home(tmp_path, fresh_db)
    return Project(settings, vault, fresh_db)


@pytest.fixture(scope="module")
def state() -> EmulatorState:
    """The emulator of the test suite's small library (the `emulator` fixture's seed and scale)."""
    return EmulatorState(EmulatorConfig(**SMALL_LIBRARY))  # type: ignore[arg-type]


def plays(state: EmulatorState, days: float, end: datetime = END) -> list[ExportPlay]:
    return list(emulator_plays(state, end - timedelta(days=days), end))


def cli(project: Project, monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    for name, value in project.env().items():
        monkeypatch.setenv(name, value)
    return main(list(args))


# ---------------------------------------------------------------------------- formats


def test_extended_zip_old_folder_and_account_data(
    project: Project, state: EmulatorState, tmp_path: Path
) -> None:
    two_days = plays(state, 2)
    export = write_export(two_days, tmp_path / "my_spotify_data.zip", as_zip=True, seed=7)
    summary = import_history(project.settings, project.vault, export)
    assert summary.plays_in_export == summary.plays_added == len(two_days) > 300
    assert summary.skipped == [
        "Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf"
    ]
    kinds = dict(project.rows("SELECT kind, count(*) FROM bronze.streaming_history GROUP BY 1"))
    assert kinds["track"] == sum(p.kind == "track" for p in two_days)
    assert set(kinds) <= {"track", "episode", "audiobook", "unknown"}
    types = dict(
        project.rows(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'bronze' AND table_name = 'streaming_history'"
        )
    )
    assert types["played_at"] == "timestamp with time zone"
    assert types["payload"] == "jsonb"
    assert types["ms_played"] == "bigint"

    # The pre-2023 extended export (endsong_N.json, a folder) of the day before.
    older = plays(state, 1, END - timedelta(days=2))
    write_export(older, tmp_path / "old", variant="extended_old", records_per_file=100, seed=7)
    summary = import_history(project.settings, project.vault, tmp_path / "old")
    assert summary.plays_added == len(older)
    assert len(summary.files) == -(-len(older) // 100)

    # The account-data history of the same days: no URIs, a row per play of its own.
    write_export(two_days, tmp_path / "account", variant="account_data")
    summary = import_history(project.settings, project.vault, tmp_path / "account")
    music = sum(p.kind == "track" for p in two_days)
    podcast = sum(p.kind == "episode" for p in two_days)
    assert summary.plays_added == music + podcast
    assert summary.skipped == ["Spotify Account Data/Userdata.json"]
    assert project.count("export_format = 'account_data' AND track_id IS NULL") == music + podcast
    assert project.count() == len(two_days) + len(older) + music + podcast


@pytest.mark.slow
def test_generated_export_matches_the_emulator(stack: SpotifyStack, tmp_path: Path) -> None:
    """Track plays are the emulator's ground truth; their ids exist in its catalog."""
    end = stack.emulator.clock.now()
    start = end - timedelta(days=1)
    body = requests.get(
        f"{stack.emulator.base_url}/_emulator/plays",
        params={"start_ms": int(start.timestamp() * 1000), "end_ms": int(end.timestamp() * 1000)},
        timeout=10,
    ).json()
    out = write_export(
        emulator_plays(stack.emulator.state, start, end), tmp_path / "export.zip", as_zip=True
    )
    import_history(stack.settings, stack.vault, out)
    with psycopg.connect(stack.admin_url) as conn:
        loaded = conn.execute(
            "SELECT played_at, track_id, payload->>'master_metadata_track_name', ms_played, "
            "payload->>'skipped' FROM bronze.streaming_history WHERE kind = 'track'"
        ).fetchall()
    truth = sorted(
        (datetime.fromisoformat(p["played_at"]).replace(microsecond=0), p["track_id"])
        for p in body["items"]
    )
    assert sorted((r[0], r[1]) for r in loaded) == truth
    catalog = stack.emulator.state.catalog
    for _, track_id, name, ms_played, skipped in loaded:
        slot = catalog.lookup(Kind.TRACK, str(track_id))
        assert slot is not None
        track = catalog.track(slot)
        assert name == track.name
        assert 0 <= int(str(ms_played)) <= track.duration_ms
        assert skipped in ("true", "false")


# ---------------------------------------------------------------------------- idempotency


def test_reimport_and_overlapping_newer_export_add_no_duplicates(
    project: Project, state: EmulatorState, tmp_path: Path
) -> None:
    first = plays(state, 2, END - timedelta(days=1))
    newer = plays(state, 2, END)  # overlaps `first` by a day
    write_export(first, tmp_path / "first.zip", as_zip=True, seed=7)
    write_export(newer, tmp_path / "newer.zip", as_zip=True, seed=7, records_per_file=50)
    import_history(project.settings, project.vault, tmp_path / "first.zip")
    again = import_history(project.settings, project.vault, tmp_path / "first.zip")
    assert again.plays_in_export == len(first)
    assert again.plays_added == 0
    overlap = import_history(project.settings, project.vault, tmp_path / "newer.zip")
    union = {(p.ts.replace(microsecond=0), p.uri, p.ms_played, p.kind) for p in first + newer}
    assert overlap.plays_total == project.count() == len(union)
    assert overlap.plays_added == len(union) - len(first)
    assert project.rows(
        "SELECT count(*) - count(DISTINCT play_key) FROM bronze.streaming_history"
    ) == [(0,)]


def test_exact_repeats(project: Project, tmp_path: Path) -> None:
    """Exact repeats within a file are separate plays; the same records again add nothing."""
    play = ExportPlay(
        datetime(2023, 3, 1, 8, 0, 5, tzinfo=UTC), 0, uri="spotify:track:1", name="A", skipped=True
    )
    other = ExportPlay(datetime(2023, 3, 1, 8, 1, tzinfo=UTC), 1200, uri="spotify:track:2")
    write_export([play, play, play, other], tmp_path / "a", seed=1)
    assert import_history(project.settings, project.vault, tmp_path / "a").plays_added == 4
    assert import_history(project.settings, project.vault, tmp_path / "a").plays_added == 0
    # A newer export holding the play twice: the first two occurrences, already there.
    write_export([play, play, other], tmp_path / "b", seed=1)
    assert import_history(project.settings, project.vault, tmp_path / "b").plays_added == 0
    assert project.count("track_id = '1'") == 3


# ---------------------------------------------------------------------------- privacy


def test_pii_dropped_by_default_and_hashed_when_configured(
    project: Project, state: EmulatorState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    day = plays(state, 1)
    export = write_export(day, tmp_path / "old.zip", variant="extended_old", as_zip=True, seed=7)
    with zipfile.ZipFile(export) as zf:
        records = json.loads(zf.read("MyData/endsong_0.json"))
    ips = {r["ip_addr_decrypted"] for r in records}
    assert records[0]["username"]

    import_history(project.settings, project.vault, export)
    keys = project.rows("SELECT DISTINCT jsonb_object_keys(payload) FROM bronze.streaming_history")
    assert not {"ip_addr_decrypted", "user_agent_decrypted", "username"} & {k[0] for k in keys}
    assert project.vault.get(SALT_NAME) is None

    # Hashing, configured: the newer day gets hashes (earlier plays stay as first imported).
    newer = plays(state, 2, END + timedelta(days=1))
    export2 = write_export(newer, tmp_path / "new.zip", variant="extended_old", as_zip=True, seed=7)
    assert cli(project, monkeypatch, "import-history", str(export2), "--pii", "hash") == 0
    salt = project.vault.get(SALT_NAME)
    assert salt
    hashed = project.rows(
        "SELECT payload->>'ts', payload->>'ip_addr_decrypted', payload->>'username' "
        "FROM bronze.streaming_history WHERE payload ? 'ip_addr_decrypted'"
    )
    assert len(hashed) == len(newer) - len(day)
    expected_user = hmac.new(salt.encode(), b"listener", hashlib.sha256).hexdigest()
    for _, ip_hash, user_hash in hashed:
        assert len(str(ip_hash)) == 64
        assert user_hash == expected_user
    # Stable across runs: the same salt, the same hashes (configured through the settings).
    monkeypatch.setenv("SPOTIFY_ELT_HISTORY_PII", "hash")
    newest = plays(state, 1, END + timedelta(days=2))
    export3 = write_export(
        newest, tmp_path / "newest.zip", variant="extended_old", as_zip=True, seed=7
    )
    assert cli(project, monkeypatch, "import-history", str(export3)) == 0
    assert project.vault.get(SALT_NAME) == salt
    users = project.rows(
        "SELECT DISTINCT payload->>'username' FROM bronze.streaming_history "
        "WHERE payload ? 'username'"
    )
    assert len(users) == 1
    assert users[0][0] == hmac.new(salt.encode(), b"listener", hashlib.sha256).hexdigest()
    # No raw IP address anywhere in bronze.
    with psycopg.connect(project.admin_url) as conn:
        text = conn.execute(
            "SELECT string_agg(payload::text, ' ') FROM bronze.streaming_history"
        ).fetchone()
    assert text and text[0]
    assert not [ip for ip in ips if ip in str(text[0])]


# ---------------------------------------------------------------------------- bad input


def _bad_inputs(tmp_path: Path, good: list[ExportPlay]) -> Iterator[tuple[Path, str, str]]:
    """(path, the file the message must name, what it must say)."""
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(b"PK\x03\x04garbage" * 10)
    yield corrupt, str(corrupt), "not a readable zip archive"

    not_export = tmp_path / "Userdata.json"
    not_export.write_text('{"username": "someone", "country": "SE"}')
    yield not_export, str(not_export), "not a Spotify streaming history file"

    # A folder with a valid file and a truncated one: neither is loaded.
    folder = write_export(good, tmp_path / "truncated", records_per_file=40)
    member = sorted(folder.rglob("Streaming_History_Audio_*_1.json"))[0]
    member.write_bytes(member.read_bytes()[:-200])
    yield folder, str(member), "truncated or not valid JSON"

    # A zip whose second file holds a record without a valid timestamp.
    zipped = tmp_path / "badrecord.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for name, content in [
            (
                "Streaming_History_Audio_2026_0.json",
                json.dumps([{"ts": "2026-01-01T00:00:00Z", "ms_played": 1}]),
            ),
            ("Streaming_History_Audio_2026_1.json", json.dumps([{"ts": "soon", "ms_played": 1}])),
        ]:
            zf.writestr(name, content)
    yield zipped, f"{zipped}:Streaming_History_Audio_2026_1.json", "invalid record 1"

    missing = tmp_path / "nowhere" / "my_spotify_data.zip"
    yield missing, str(missing), "does not exist"

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "Playlist1.json").write_text("[]")
    yield empty, str(empty), "no Spotify streaming history files"


def test_bad_input_names_the_file_exits_non_zero_and_loads_nothing(
    project: Project,
    state: EmulatorState,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = plays(state, 1)
    import_history(project.settings, project.vault, write_export(good[:50], tmp_path / "ok"))
    before = project.count()
    later = plays(state, 1, END + timedelta(days=3))
    for path, named, reason in _bad_inputs(tmp_path, later):
        capsys.readouterr()
        assert cli(project, monkeypatch, "import-history", str(path), "--quiet") == 6, path
        err = capsys.readouterr().err.strip()
        assert err.startswith("Error: "), err
        assert named in err, err
        assert reason in err, err
        assert "nothing was imported" in err
        assert len(err.splitlines()) == 1, err
        assert project.count() == before, path
    with pytest.raises(HistoryImportError):
        import_history(project.settings, project.vault, tmp_path / "corrupt.zip")


# ---------------------------------------------------------------------------- demo


def test_demo_import_runs_once(project: Project) -> None:
    """The main job's first-run import: `emulator export-history` in a child process, then
    the import; the emulator it mirrors is `emulator serve --seed 7 --scale 5000`."""
    served = EmulatorState(EmulatorConfig(seed=7, scale=5_000))
    summary = import_demo_history(
        project.settings, project.vault, seed=7, scale=5_000, days=1, end=END
    )
    assert summary is not None
    assert summary.plays_added == len(plays(served, 1)) > 0
    loaded = project.rows(
        "SELECT played_at, track_id FROM bronze.streaming_history WHERE kind = 'track'"
    )
    start_ms = int((END - timedelta(days=1)).timestamp() * 1000)
    truth = [
        (
            datetime.fromtimestamp(p.played_at_ms // 1000, tz=UTC),
            served.catalog.track(p.track).id,
        )
        for p in served.library.plays_between(start_ms, int(END.timestamp() * 1000))
    ]
    assert sorted(loaded) == sorted(truth)  # type: ignore[type-var]
    again = import_demo_history(
        project.settings, project.vault, seed=7, scale=5_000, days=1, end=END
    )
    assert again is None
