"""The export parser without a database: formats, keys, repeats, PII, bad files."""

from __future__ import annotations

import csv
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from extract.history import HistoryFileError, PiiPolicy, is_history_file, open_export
from extract.history.parser import stage_file
from extract.history.synthetic import ExportPlay, simple_plays, write_export

csv.field_size_limit(1 << 24)

RECORD = {
    "ts": "2022-06-17T19:53:06Z",
    "username": "someone",
    "platform": "android",
    "ms_played": 1000,
    "conn_country": "SE",
    "ip_addr_decrypted": "81.2.3.4",
    "user_agent_decrypted": "unknown",
    "master_metadata_track_name": "Song",
    "master_metadata_album_artist_name": "Band",
    "master_metadata_album_album_name": "Album",
    "spotify_track_uri": "spotify:track:4uLU6hMCjMI75M1A2tKUQC",
    "episode_name": None,
    "episode_show_name": None,
    "spotify_episode_uri": None,
    "reason_start": "trackdone",
    "reason_end": "trackdone",
    "shuffle": False,
    "skipped": None,
    "offline": False,
    "offline_timestamp": 0,
    "incognito_mode": False,
}


def stage(path: Path, out: Path, pii: PiiPolicy | None = None) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    with open_export(path) as export:
        for n, file in enumerate(export.files):
            target = out / f"{n}.csv"
            stage_file(
                file,
                target,
                pii=pii or PiiPolicy(),
                imported_at="2026-01-01T00:00:00+00:00",
                load_id="1",
                seen=seen,
            )
            with target.open(newline="") as fh:
                rows.extend(csv.DictReader(fh))
    return rows


def write_json(path: Path, records: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=2))
    return path


def test_history_file_names() -> None:
    for name in (
        "Spotify Extended Streaming History/Streaming_History_Audio_2019-2021_0.json",
        "Streaming_History_Video_2020-2024.json",
        "MyData/endsong_3.json",
        "StreamingHistory_music_0.json",
        "StreamingHistory_podcast_1.json",
        "StreamingHistory0.json",
    ):
        assert is_history_file(name), name
    for name in ("Userdata.json", "Playlist1.json", "ReadMeFirst.pdf", "YourLibrary.json"):
        assert not is_history_file(name), name


def test_timestamp_styles_kinds_and_keys(tmp_path: Path) -> None:
    records = [
        RECORD,
        {**RECORD, "ts": "2022-06-17 19:53:06"},  # the same play, other timestamp style
        {
            **RECORD,
            "spotify_track_uri": None,
            "master_metadata_track_name": None,
            "episode_name": "Ep",
            "spotify_episode_uri": "spotify:episode:5Xt5DXGzch68nYYamXrNxZ",
        },
        {
            **RECORD,
            "spotify_track_uri": None,
            "master_metadata_track_name": None,
            "audiobook_title": "Book",
            "audiobook_uri": "spotify:audiobook:7iHfbu1YPACw6oZPAFJtqe",
            "audiobook_chapter_uri": "spotify:episode:0a9ZVI4ecNLZqMiiy7DJSg",
        },
        {**RECORD, "spotify_track_uri": None, "master_metadata_track_name": None},
    ]
    rows = stage(write_json(tmp_path / "Streaming_History_Audio_2022.json", records), tmp_path)
    assert [r["kind"] for r in rows] == ["track", "track", "episode", "audiobook", "unknown"]
    track = rows[0]
    assert track["played_at"] == rows[1]["played_at"] == "2022-06-17T19:53:06+00:00"
    # Both styles name the same instant: an exact repeat within the file, numbered.
    assert track["play_key"] != rows[1]["play_key"]
    assert track["track_id"] == rows[1]["track_id"] == "4uLU6hMCjMI75M1A2tKUQC"
    assert track["export_format"] == "extended"
    assert all(r["track_id"] == "" for r in rows[2:])
    # In two files, the two styles are one play.
    write_json(tmp_path / "x" / "endsong_0.json", [records[0]])
    write_json(tmp_path / "x" / "endsong_1.json", [records[1]])
    assert [r["play_key"] for r in stage(tmp_path / "x", tmp_path)] == [track["play_key"]]


def test_account_data_minute_timestamps(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    write_json(
        folder / "StreamingHistory_music_0.json",
        [{"endTime": "2022-06-17 19:53", "artistName": "Band", "trackName": "Song", "msPlayed": 5}],
    )
    write_json(
        folder / "StreamingHistory_podcast_0.json",
        [{"endTime": "2022-06-17 20:00", "podcastName": "P", "episodeName": "E", "msPlayed": 9}],
    )
    write_json(folder / "Userdata.json", {"username": "someone"})
    rows = stage(folder, tmp_path)
    assert [(r["kind"], r["played_at"], r["export_format"]) for r in rows] == [
        ("track", "2022-06-17T19:53:00+00:00", "account_data"),
        ("episode", "2022-06-17T20:00:00+00:00", "account_data"),
    ]


def test_exact_repeats_within_a_file_are_numbered_across_files_are_one(tmp_path: Path) -> None:
    one = write_json(tmp_path / "a" / "endsong_0.json", [RECORD, RECORD, RECORD])
    keys = [r["play_key"] for r in stage(one, tmp_path)]
    assert len(set(keys)) == 3
    # The same record once in each of two files of an import: the same play.
    write_json(tmp_path / "b" / "endsong_0.json", [RECORD])
    write_json(tmp_path / "b" / "endsong_1.json", [RECORD])
    rows = stage(tmp_path / "b", tmp_path)
    assert [r["play_key"] for r in rows] == [keys[0]]


def test_keys_do_not_depend_on_how_an_export_is_split(tmp_path: Path) -> None:
    plays = simple_plays(300, seed=3)
    write_export(plays, tmp_path / "big", records_per_file=1_000)
    write_export(plays[100:], tmp_path / "small", records_per_file=37, variant="extended")
    big = {r["play_key"] for r in stage(tmp_path / "big", tmp_path)}
    small = {r["play_key"] for r in stage(tmp_path / "small", tmp_path)}
    assert len(big) == 300
    assert small < big


def test_pii_dropped_or_hashed(tmp_path: Path) -> None:
    path = write_json(tmp_path / "endsong_0.json", [RECORD])
    dropped = json.loads(stage(path, tmp_path)[0]["payload"])
    assert not {"username", "ip_addr_decrypted", "user_agent_decrypted"} & set(dropped)
    assert dropped["master_metadata_track_name"] == "Song"
    policy = PiiPolicy("hash", b"salt")
    hashed = json.loads(stage(path, tmp_path, policy)[0]["payload"])
    assert hashed["ip_addr_decrypted"] == policy.hash("81.2.3.4") != "81.2.3.4"
    assert hashed["username"] == policy.hash("someone")
    assert PiiPolicy("hash", b"other").hash("81.2.3.4") != policy.hash("81.2.3.4")
    with pytest.raises(ValueError, match="salt"):
        PiiPolicy("hash")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"username": "x"}', "not a Spotify streaming history file"),
        (b'[{"foo": 1}]', "neither 'ts' nor 'endTime'"),
        (b"[1, 2]", "not an object"),
        (json.dumps([RECORD, RECORD]).encode()[:-40], "truncated or not valid JSON"),
        (json.dumps([{**RECORD, "ts": "yesterday"}]).encode(), "invalid record 1"),
        (json.dumps([{**RECORD, "ms_played": -3}]).encode(), "invalid record 1"),
        (b"", "not a Spotify streaming history file"),
    ],
)
def test_bad_files_name_the_file_and_leave_no_csv(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "Streaming_History_Audio_2022_0.json"
    path.write_bytes(content)
    with pytest.raises(HistoryFileError, match=reason) as caught:
        stage(path, tmp_path)
    assert caught.value.label == str(path)
    assert not list(tmp_path.glob("*.csv"))


def test_bad_archives_and_paths(tmp_path: Path) -> None:
    bad_zip = tmp_path / "my_spotify_data.zip"
    bad_zip.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(HistoryFileError, match="not a readable zip archive"):
        stage(bad_zip, tmp_path)
    with pytest.raises(HistoryFileError, match="does not exist"):
        stage(tmp_path / "missing.zip", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(HistoryFileError, match="no Spotify streaming history files"):
        stage(tmp_path / "empty", tmp_path)
    # A member whose compressed bytes are damaged.
    good = tmp_path / "good.zip"
    play = ExportPlay(datetime(2022, 1, 1, tzinfo=UTC), 1, "unknown")
    write_export([play] * 1 + simple_plays(2000), good, as_zip=True)
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith("_0.json"))
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 200
    data[start : start + 64] = bytes(64)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(bytes(data))
    with pytest.raises(HistoryFileError) as caught:
        stage(broken, tmp_path)
    assert caught.value.label == f"{broken}:{info.filename}"


@pytest.mark.parametrize("workers", [1, 2])
def test_files_staged_in_workers_keep_one_copy_of_a_play_two_files_hold(
    tmp_path: Path, workers: int
) -> None:
    from extract.history.workers import stage_files

    later = {**RECORD, "ts": "2022-06-18T08:00:00Z"}
    other = {**RECORD, "ts": "2023-01-01T08:00:00Z"}
    # Two exports in one folder: endsong_1 repeats a play of endsong_0 (and one of its own);
    # endsong_2's times overlap neither.
    write_json(tmp_path / "x" / "endsong_0.json", [RECORD, later])
    write_json(tmp_path / "x" / "endsong_1.json", [later, RECORD, RECORD])
    write_json(tmp_path / "x" / "endsong_2.json", [other])
    out = tmp_path / "out"
    out.mkdir()
    with open_export(tmp_path / "x") as export:
        staged = stage_files(
            export.files,
            out,
            pii=PiiPolicy(),
            imported_at="2026-01-01T00:00:00+00:00",
            load_id="1",
            workers=workers,
        )
        assert [s.file for s in staged] == export.files
    assert [(s.rows, s.duplicates) for s in staged] == [(2, 0), (1, 2), (1, 0)]
    keys: list[str] = []
    for s in staged:
        if s.duplicates:  # rewritten without the repeats, as privately as it was staged
            assert s.csv_path.stat().st_mode & 0o777 == 0o600
        with s.csv_path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == s.rows
        keys += [r["play_key"] for r in rows]
    assert len(keys) == len(set(keys)) == 4
    # The same plays as staging the files one after the other in this process.
    assert set(keys) == {r["play_key"] for r in stage(tmp_path / "x", tmp_path)}


def test_a_bad_file_staged_in_a_worker_names_the_file(tmp_path: Path) -> None:
    from extract.history.workers import stage_files

    write_json(tmp_path / "x" / "endsong_0.json", [RECORD])
    write_json(tmp_path / "x" / "endsong_1.json", [{**RECORD, "ts": "yesterday"}])
    with open_export(tmp_path / "x") as export, pytest.raises(HistoryFileError) as caught:
        stage_files(
            export.files,
            tmp_path,
            pii=PiiPolicy(),
            imported_at="2026-01-01T00:00:00+00:00",
            load_id="1",
            workers=2,
        )
    assert caught.value.label.endswith("endsong_1.json")
    assert "invalid record 1" in str(caught.value)
