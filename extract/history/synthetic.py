"""Write a Spotify privacy export (streaming history) from a list of plays.

Used by the tests, the benchmark and ``spotify-elt emulator export-history`` (which supplies the
emulator's own listening history), so that the import is exercised on exports shaped like
Spotify's without a real account. The caller decides *what* was played and for how long
(a :class:`Play`, such as :class:`ExportPlay`); this module decides how an export writes it
down:

* ``variant="extended"``: the Extended streaming history as exported since 2023
  (``Spotify Extended Streaming History/Streaming_History_Audio_<years>_<n>.json``, a
  ``Streaming_History_Video_*`` file, a ``ReadMeFirst`` PDF), with the new field set (``ip_addr``,
  audiobook fields, short platform names).
* ``variant="extended_old"``: the same history as exported before 2023 (``MyData/endsong_<n>.json``,
  ``username``, ``ip_addr_decrypted``, ``user_agent_decrypted``, long platform strings, no
  audiobook fields, ``skipped`` mostly null).
* ``variant="account_data"``: the short "Account data" history (``StreamingHistory_music_<n>``
  and ``StreamingHistory_podcast_<n>``: end time to the minute, names, no URIs), plus a
  ``Userdata.json`` that an import must skip.

Session details (platform, country, IP address, shuffle, offline) are drawn from a generator
seeded by ``seed`` and the hour of the play, so an export is a pure function of its arguments and
two overlapping exports agree on the plays they share.
"""

from __future__ import annotations

import random
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

import orjson

Variant = Literal["extended", "extended_old", "account_data"]
Kind = Literal["track", "episode", "audiobook", "unknown"]

EXTENDED_FOLDER = "Spotify Extended Streaming History"
OLD_EXTENDED_FOLDER = "MyData"
ACCOUNT_FOLDER = "Spotify Account Data"

_PLATFORMS_NEW = ("android", "ios", "windows", "osx", "web_player", "linux")
_PLATFORMS_OLD = (
    "Android OS 9 API 28 (samsung, SM-G960F)",
    "iOS 12.1.2 (iPhone9,3)",
    "Windows 10 (10.0.17134; x64)",
    "OS X 10.14.1 [x86 8]",
    "WebPlayer (websocket RFC6455)",
    "Partner sonos_ppc Sonos;S14;1.0",
)
_AGENTS = (
    "unknown",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36",
    "Spotify/8.4.98 Android/28 (SM-G960F)",
)
_COUNTRIES = ("SE", "SE", "SE", "DE", "NO", "GB", "ES")


class Play(Protocol):
    """What an export needs to know of a play (:class:`ExportPlay` has exactly these fields)."""

    @property
    def ts(self) -> datetime: ...
    @property
    def ms_played(self) -> int: ...
    @property
    def kind(self) -> Kind: ...
    @property
    def uri(self) -> str | None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def artist(self) -> str | None: ...
    @property
    def album(self) -> str | None: ...
    @property
    def audiobook_uri(self) -> str | None: ...
    @property
    def reason_start(self) -> str: ...
    @property
    def reason_end(self) -> str: ...
    @property
    def skipped(self) -> bool: ...
    @property
    def shuffle(self) -> bool | None: ...


@dataclass(frozen=True)
class ExportPlay:
    """One play as an export records it: when it ended, what it was, how long it lasted."""

    ts: datetime
    """End of the play, timezone-aware (written in UTC, to the second)."""
    ms_played: int
    kind: Kind = "track"
    uri: str | None = None
    """``spotify:track:<id>``, ``spotify:episode:<id>`` or an audiobook chapter URI."""
    name: str | None = None
    """Track, episode or chapter title."""
    artist: str | None = None
    """Album artist (track), show (episode) or audiobook title (audiobook)."""
    album: str | None = None
    audiobook_uri: str | None = None
    reason_start: str = "trackdone"
    reason_end: str = "trackdone"
    skipped: bool = False
    shuffle: bool | None = None


def _session(seed: int, ts: datetime) -> random.Random:
    return random.Random(f"{seed}:session:{ts.astimezone(UTC):%Y-%m-%dT%H}")  # noqa: S311


def _ip(rng: random.Random) -> str:
    return f"{rng.choice((81, 90, 155, 185, 213))}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"  # noqa: E501


def _ts(play: Play, style: str) -> str:
    moment = play.ts.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S" if style == "space" else "%Y-%m-%dT%H:%M:%SZ")


def extended_record(
    play: Play,
    *,
    seed: int = 0,
    old: bool = False,
    username: str = "listener",
    ts_style: str = "iso",
) -> dict[str, Any]:
    """The extended-history record of ``play`` (old or new field set)."""
    rng = _session(seed, play.ts)
    platform_index = rng.randrange(len(_PLATFORMS_NEW))
    country = rng.choice(_COUNTRIES)
    ip = _ip(rng)
    offline = rng.random() < 0.05
    shuffle = play.shuffle if play.shuffle is not None else rng.random() < 0.4
    track = play.kind == "track"
    episode = play.kind == "episode"
    audiobook = play.kind == "audiobook"
    ts = _ts(play, ts_style)
    end_s = int(play.ts.timestamp())
    record: dict[str, Any] = {"ts": ts}
    if old:
        record["username"] = username
    record["platform"] = (_PLATFORMS_OLD if old else _PLATFORMS_NEW)[platform_index]
    record["ms_played"] = play.ms_played
    record["conn_country"] = country
    if old:
        record["ip_addr_decrypted"] = ip
        record["user_agent_decrypted"] = _AGENTS[platform_index % len(_AGENTS)]
    else:
        record["ip_addr"] = ip
    record.update(
        master_metadata_track_name=play.name if track else None,
        master_metadata_album_artist_name=play.artist if track else None,
        master_metadata_album_album_name=play.album if track else None,
        spotify_track_uri=play.uri if track else None,
        episode_name=play.name if episode else None,
        episode_show_name=play.artist if episode else None,
        spotify_episode_uri=play.uri if episode else None,
    )
    if not old:
        record.update(
            audiobook_title=play.artist if audiobook else None,
            audiobook_uri=play.audiobook_uri if audiobook else None,
            audiobook_chapter_uri=play.uri if audiobook else None,
            audiobook_chapter_title=play.name if audiobook else None,
        )
    record.update(
        reason_start=play.reason_start,
        reason_end=play.reason_end,
        shuffle=shuffle,
        skipped=(play.skipped or None) if old else play.skipped,
        offline=offline,
        offline_timestamp=(end_s - rng.randrange(60, 86_400)) * (1 if old else 1000)
        if offline
        else (0 if old else None),
        incognito_mode=False,
    )
    return record


def account_record(play: Play) -> dict[str, Any] | None:
    """The account-data record of ``play`` (None for what that format omits)."""
    end = play.ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    if play.kind == "track":
        return {
            "endTime": end,
            "artistName": play.artist or "Unknown Artist",
            "trackName": play.name or "Unknown Track",
            "msPlayed": play.ms_played,
        }
    if play.kind == "episode":
        return {
            "endTime": end,
            "podcastName": play.artist or "",
            "episodeName": play.name or "",
            "msPlayed": play.ms_played,
        }
    return None


def _chunks(items: Sequence[dict[str, Any]], size: int) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _dump(records: Sequence[dict[str, Any]]) -> bytes:
    # Spotify writes indented JSON; so do we, so that sizes and parsing costs are realistic.
    return orjson.dumps(list(records), option=orjson.OPT_INDENT_2)


def export_files(
    plays: Iterable[Play],
    *,
    variant: Variant = "extended",
    seed: int = 0,
    username: str = "listener",
    records_per_file: int = 15_000,
    ts_style: str = "iso",
) -> Iterator[tuple[str, bytes]]:
    """(path inside the export, content) of every file of the export of ``plays``."""
    ordered = sorted(plays, key=lambda p: p.ts)
    if variant == "account_data":
        music = [r for p in ordered if p.kind == "track" if (r := account_record(p))]
        podcast = [r for p in ordered if p.kind == "episode" if (r := account_record(p))]
        for label, records in (("music", music), ("podcast", podcast)):
            for n, chunk in enumerate(_chunks(records, records_per_file) if records else [[]]):
                yield f"{ACCOUNT_FOLDER}/StreamingHistory_{label}_{n}.json", _dump(chunk)
        yield f"{ACCOUNT_FOLDER}/Userdata.json", orjson.dumps({"username": username})
        return
    old = variant == "extended_old"
    records = [
        extended_record(p, seed=seed, old=old, username=username, ts_style=ts_style)
        for p in ordered
    ]
    if old:
        for n, chunk in enumerate(_chunks(records, records_per_file)):
            yield f"{OLD_EXTENDED_FOLDER}/endsong_{n}.json", _dump(chunk)
        yield f"{OLD_EXTENDED_FOLDER}/README.pdf", b"%PDF-1.4\n% placeholder\n"
        return
    years = [p.ts.astimezone(UTC).year for p in ordered]
    for n, start in enumerate(range(0, len(records), records_per_file)):
        chunk = records[start : start + records_per_file]
        first, last = years[start], years[start + len(chunk) - 1]
        span = str(first) if first == last else f"{first}-{last}"
        yield f"{EXTENDED_FOLDER}/Streaming_History_Audio_{span}_{n}.json", _dump(chunk)
    span = (
        "0000"
        if not years
        else f"{years[0]}"
        if years[0] == years[-1]
        else f"{years[0]}-{years[-1]}"
    )
    yield f"{EXTENDED_FOLDER}/Streaming_History_Video_{span}.json", b"[]"
    yield f"{EXTENDED_FOLDER}/ReadMeFirst_ExtendedStreamingHistory.pdf", b"%PDF-1.4\n"


def write_export(
    plays: Iterable[Play],
    out: Path,
    *,
    variant: Variant = "extended",
    as_zip: bool = False,
    seed: int = 0,
    username: str = "listener",
    records_per_file: int = 15_000,
    ts_style: str = "iso",
) -> Path:
    """Write the export of ``plays`` as a folder ``out`` or, with ``as_zip``, a zip ``out``.

    Returns ``out``. A folder is created (with parents); a zip is written whole.
    """
    files = export_files(
        plays,
        variant=variant,
        seed=seed,
        username=username,
        records_per_file=records_per_file,
        ts_style=ts_style,
    )
    if as_zip:
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for name, content in files:
                zf.writestr(name, content)
        return out
    for name, content in files:
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return out


# ---------------------------------------------------------------------------- plays


def plausible_play(
    rng: random.Random,
    ts: datetime,
    *,
    uri: str,
    name: str,
    artist: str,
    album: str,
    duration_ms: int,
) -> ExportPlay:
    """A track play ending at ``ts``: mostly played through, sometimes skipped or cut short."""
    draw = rng.random()
    if draw < 0.68:
        ms, start, end, skipped = duration_ms, "trackdone", "trackdone", False
    elif draw < 0.88:
        ms = rng.randint(0, min(duration_ms, 30_000))
        start, end, skipped = rng.choice(("trackdone", "fwdbtn", "clickrow")), "fwdbtn", True
    elif draw < 0.95:
        ms = rng.randint(30_000, duration_ms) if duration_ms > 30_000 else duration_ms
        start, end, skipped = "clickrow", "endplay", False
    else:
        ms = rng.randint(1_000, duration_ms)
        start, end, skipped = "appload", rng.choice(("logout", "unexpected-exit")), False
    if rng.random() < 0.1:
        start = "backbtn"
    return ExportPlay(
        ts=ts,
        ms_played=ms,
        uri=uri,
        name=name,
        artist=artist,
        album=album,
        reason_start=start,
        reason_end=end,
        skipped=skipped,
    )


def simple_plays(
    n: int, *, start: datetime | None = None, seed: int = 0, tracks: int = 5_000
) -> list[ExportPlay]:
    """``n`` made-up plays (one every ~3 minutes from ``start``): for benchmarks and unit tests.

    About 3 % are podcast episodes, 0.5 % audiobook chapters and 0.5 % records that name
    nothing, as in real exports.
    """
    rng = random.Random(seed)  # noqa: S311 - made-up data, not a secret
    moment = start or datetime(2018, 1, 1, tzinfo=UTC)
    out = []
    for _ in range(n):
        moment += timedelta(seconds=rng.randint(20, 340))
        draw = rng.random()
        if draw < 0.03:
            out.append(
                ExportPlay(
                    moment,
                    rng.randint(0, 3_600_000),
                    "episode",
                    f"spotify:episode:{rng.randrange(10**20):022d}",
                    f"Episode {rng.randrange(500)}",
                    f"Show {rng.randrange(40)}",
                )
            )
        elif draw < 0.035:
            book = rng.randrange(30)
            out.append(
                ExportPlay(
                    moment,
                    rng.randint(0, 1_800_000),
                    "audiobook",
                    f"spotify:chapter:{rng.randrange(10**20):022d}",
                    f"Chapter {rng.randrange(40)}",
                    f"Audiobook {book}",
                    audiobook_uri=f"spotify:audiobook:{book:022d}",
                )
            )
        elif draw < 0.04:
            out.append(ExportPlay(moment, rng.randint(0, 5_000), "unknown"))
        else:
            track = rng.randrange(tracks)
            out.append(
                plausible_play(
                    rng,
                    moment,
                    uri=f"spotify:track:{track:022d}",
                    name=f"Track {track}",
                    artist=f"Artist {track % 700}",
                    album=f"Album {track % 2_100}",
                    duration_ms=120_000 + (track * 7919) % 240_000,
                )
            )
    return out
