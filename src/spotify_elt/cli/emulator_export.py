"""``spotify-elt emulator export-history``: the emulator's listening history as a privacy export.

The emulator generates a listener's plays per hour from its seed; this command writes the plays
of a time window as Spotify's privacy export would (``extract.history.synthetic``), so that the
history import has realistic input consistent with the emulator: the same tracks (their ids
exist in its catalog, names and durations match), the same play times as
``GET /_emulator/plays`` and ``/me/player/recently-played``, plus podcast episodes of its
catalog, audiobook chapters and records naming nothing, which a real export also holds. It may
import the emulator (like ``emulator serve``); application code runs it as a child process.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from extract.emulator import EmulatorConfig, EmulatorState
from extract.history.synthetic import ExportPlay, plausible_play, write_export

_HOUR_MS = 3_600_000


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
            rng = random.Random(f"{seed}:export:{play.played_at_ms}:{play.track}")  # noqa: S311
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
            f"spotify:chapter:{seed_id(state, 'chapter', book * 100 + chapter)}",
            f"Chapter {chapter + 1}",
            f"The Emulated Audiobook {book + 1}",
            audiobook_uri=f"spotify:audiobook:{seed_id(state, 'audiobook', book)}",
            reason_start="clickrow",
            reason_end="endplay",
        )
    if draw < 0.04:
        return ExportPlay(ts, rng.randint(0, 4_000), "unknown", reason_end="unknown")
    return None


def seed_id(state: EmulatorState, kind: str, index: int) -> str:
    """A 22-character base-62 id for objects the emulator has no catalog of (audiobooks)."""
    import hashlib

    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    number = int.from_bytes(
        hashlib.blake2b(f"{state.config.seed}:{kind}:{index}".encode(), digest_size=16).digest()
    )
    chars = []
    for _ in range(22):
        number, digit = divmod(number, 62)
        chars.append(alphabet[digit])
    return "".join(chars)


@click.command("export-history")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="Where to write the export: a folder, or a zip when the name ends in .zip.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the emulator.")
@click.option(
    "--scale",
    default=20_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Catalog size of the emulator (as for `emulator serve`).",
)
@click.option(
    "--plays-per-hour",
    type=click.FloatRange(min=0),
    default=12.0,
    show_default=True,
    help="Average plays per listening hour (as for `emulator serve`).",
)
@click.option(
    "--days",
    type=click.FloatRange(min=0),
    default=365.0,
    show_default=True,
    help="Length of the history, ending at --end.",
)
@click.option(
    "--end",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="End of the history, UTC if no offset (default: now).",
)
@click.option(
    "--variant",
    type=click.Choice(["extended", "extended_old", "account_data"]),
    default="extended",
    show_default=True,
    help="Extended history (current or pre-2023 field set), or the short account-data history.",
)
@click.option(
    "--extras/--tracks-only",
    default=True,
    show_default=True,
    help="Add podcast episodes, audiobook chapters and records naming nothing.",
)
def export_history(
    out: Path,
    seed: int,
    scale: int,
    plays_per_hour: float,
    days: float,
    end: datetime | None,
    variant: str,
    extras: bool,
) -> None:
    """Write the emulator's listening history as a Spotify privacy export (zip or folder)."""
    stop = datetime.now(UTC) if end is None else end
    if stop.tzinfo is None:
        stop = stop.replace(tzinfo=UTC)
    state = EmulatorState(
        EmulatorConfig(seed=seed, scale=scale, plays_per_hour=plays_per_hour, clock_start=stop)
    )
    plays = list(emulator_plays(state, stop - timedelta(days=days), stop, extras=extras))
    write_export(
        plays,
        out,
        variant=variant,  # type: ignore[arg-type]
        as_zip=out.suffix.lower() == ".zip",
        seed=seed,
        username=state.config.user_id,
    )
    click.echo(f"wrote {len(plays)} plays to {out}")
