"""The emulator's listening history as a privacy export records it.

The emulator generates a listener's plays per hour from its seed; :func:`emulator_plays` gives
the plays of a time window as Spotify's privacy export would hold them: the same tracks (their
ids exist in its catalog, names and durations match), the same play times as
``GET /_emulator/plays`` and ``/me/player/recently-played``, how long each lasted, plus podcast
episodes of its catalog, audiobook chapters and records naming nothing, which a real export also
holds. The plays are ``extract.history.synthetic``'s own :class:`ExportPlay`, and a track play's
length is drawn by its :func:`plausible_play`, so the emulator's export and the made-up plays of
the tests and the bench draw alike. Writing the export's files is the caller's job
(``spotify-elt emulator export-history`` uses ``extract.history.synthetic.write_export``).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from ..history.synthetic import ExportPlay, plausible_play
from .app import EmulatorState

_HOUR_MS = 3_600_000
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def emulator_plays(
    state: EmulatorState, start: datetime, end: datetime, *, extras: bool = True
) -> Iterator[ExportPlay]:
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
            yield plausible_play(
                rng,
                ts,
                uri=f"spotify:track:{track.id}",
                name=track.name,
                artist=catalog.artist(album.artist).name,
                album=album.name,
                duration_ms=track.duration_ms,
            )


def _extra(state: EmulatorState, rng: random.Random, ts: datetime) -> ExportPlay | None:
    draw = rng.random()
    catalog = state.catalog
    if draw < 0.03:
        show = catalog.show(rng.randrange(catalog.n_shows))
        episode = catalog.episode(rng.choice(catalog.show_episodes(show.index)))
        return ExportPlay(
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
        return ExportPlay(
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
        return ExportPlay(ts, rng.randint(0, 4_000), "unknown", reason_end="unknown")
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
