"""The emulator's listening history as a privacy export records it.

The emulator generates a listener's plays per hour from its seed; :func:`emulator_plays` gives
the plays of a time window as Spotify's privacy export would hold them: the same tracks (their
ids exist in its catalog, names and durations match), the same play times as
``GET /_emulator/plays`` and ``/me/player/recently-played``, how long each lasted, plus podcast
episodes of its catalog, audiobook chapters and records naming nothing, which a real export also
holds. Writing the export's files is the caller's job (``spotify-elt emulator export-history``
uses ``extract.history.synthetic``, which takes these plays as they are).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from .app import EmulatorState

_HOUR_MS = 3_600_000
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class HistoryPlay:
    """One play as an export records it: when it ended, what it was, how long it lasted."""

    ts: datetime
    """End of the play, timezone-aware."""
    ms_played: int
    kind: Literal["track", "episode", "audiobook", "unknown"] = "track"
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


def emulator_plays(
    state: EmulatorState, start: datetime, end: datetime, *, extras: bool = True
) -> Iterator[HistoryPlay]:
    """The plays of the emulator's listener in ``(start, end]`` as an export records them.

    A track play ends at the emulator's ``played_at`` (cut to the second by the export); how
    long it lasted (played through, skipped, cut short) is drawn per play from the seed, so two
    overlapping windows agree. With ``extras``, about 3 % of plays are preceded by a podcast
    episode of the catalog, 0.5 % by an audiobook chapter and 0.5 % by a record naming nothing.
    """
    catalog = state.catalog
    library = state.library
    seed = state.config.seed
    start_ms = int(start.timestamp() * 1000)
    end_ms = int(end.timestamp() * 1000)
    for hour_start in range(start_ms - start_ms % _HOUR_MS, end_ms, _HOUR_MS):
        low, high = max(start_ms, hour_start), min(end_ms, hour_start + _HOUR_MS)
        for play in library.plays_between(low, high):
            rng = random.Random(f"{seed}:export:{play.played_at_ms}:{play.track}")
            ts = datetime.fromtimestamp(play.played_at_ms // 1000, tz=UTC)
            if extras:
                extra = _extra(state, rng, ts - timedelta(seconds=rng.randint(60, 600)))
                if extra is not None:
                    yield extra
            track = catalog.track(play.track)
            album = catalog.album(track.album)
            yield _track_play(
                rng,
                ts,
                uri=f"spotify:track:{track.id}",
                name=track.name,
                artist=catalog.artist(album.artist).name,
                album=album.name,
                duration_ms=track.duration_ms,
            )


def _track_play(
    rng: random.Random,
    ts: datetime,
    *,
    uri: str,
    name: str,
    artist: str,
    album: str,
    duration_ms: int,
) -> HistoryPlay:
    """A track play ending at ``ts``: mostly played through, sometimes skipped or cut short."""
    draw = rng.random()
    if draw < 0.68:
        ms, reason_start, reason_end, skipped = duration_ms, "trackdone", "trackdone", False
    elif draw < 0.88:
        ms = rng.randint(0, min(duration_ms, 30_000))
        reason_start = rng.choice(("trackdone", "fwdbtn", "clickrow"))
        reason_end, skipped = "fwdbtn", True
    elif draw < 0.95:
        ms = rng.randint(30_000, duration_ms) if duration_ms > 30_000 else duration_ms
        reason_start, reason_end, skipped = "clickrow", "endplay", False
    else:
        ms = rng.randint(1_000, duration_ms)
        reason_start, skipped = "appload", False
        reason_end = rng.choice(("logout", "unexpected-exit"))
    if rng.random() < 0.1:
        reason_start = "backbtn"
    return HistoryPlay(
        ts=ts,
        ms_played=ms,
        uri=uri,
        name=name,
        artist=artist,
        album=album,
        reason_start=reason_start,
        reason_end=reason_end,
        skipped=skipped,
    )


def _extra(state: EmulatorState, rng: random.Random, ts: datetime) -> HistoryPlay | None:
    draw = rng.random()
    catalog = state.catalog
    if draw < 0.03:
        show = catalog.show(rng.randrange(catalog.n_shows))
        episode = catalog.episode(rng.choice(catalog.show_episodes(show.index)))
        return HistoryPlay(
            ts,
            rng.randint(0, episode.duration_ms),
            "episode",
            f"spotify:episode:{episode.id}",
            episode.name,
            show.name,
            reason_start="clickrow",
            reason_end=rng.choice(("endplay", "trackdone", "logout")),
        )
    if draw < 0.035:
        book = rng.randrange(12)
        chapter = rng.randrange(30)
        return HistoryPlay(
            ts,
            rng.randint(0, 1_800_000),
            "audiobook",
            f"spotify:chapter:{_seed_id(state, 'chapter', book * 100 + chapter)}",
            f"Chapter {chapter + 1}",
            f"The Emulated Audiobook {book + 1}",
            audiobook_uri=f"spotify:audiobook:{_seed_id(state, 'audiobook', book)}",
            reason_start="clickrow",
            reason_end="endplay",
        )
    if draw < 0.04:
        return HistoryPlay(ts, rng.randint(0, 4_000), "unknown", reason_end="unknown")
    return None


def _seed_id(state: EmulatorState, kind: str, index: int) -> str:
    """A 22-character base-62 id for objects the emulator has no catalog of (audiobooks)."""
    number = int.from_bytes(
        hashlib.blake2b(f"{state.config.seed}:{kind}:{index}".encode(), digest_size=16).digest()
    )
    chars = []
    for _ in range(22):
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return "".join(chars)
