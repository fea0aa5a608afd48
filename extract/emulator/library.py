"""The configured user's library and listening history, derived from the seed.

Why precomputed here while the catalog is not: the library is sized by the *user* (hundreds of
saved tracks, a few playlists), never by ``--scale``, and lists need a stable order for offset
paging. The listening history, on the other hand, is unbounded in time, so it is generated per
UTC hour on demand: plays of hour ``h`` come from a PRNG seeded by ``(seed, h)``. Advancing the
clock therefore reveals new plays deterministically, and "the last 50 plays up to now" slides.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from .catalog import Catalog, affine_permutation

#: Spotify shows only this many of the most recent plays.
RECENTLY_PLAYED_WINDOW = 50
TIME_RANGES = ("short_term", "medium_term", "long_term")
_TOP_ARTISTS = {"short_term": 40, "medium_term": 80, "long_term": 120}
_TOP_TRACKS = {"short_term": 50, "medium_term": 100, "long_term": 150}
_MAX_LOOKBACK_HOURS = 24 * 14
_HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Play:
    """One play: when (Unix ms), which track slot, and from which context (or None)."""

    played_at_ms: int
    track: int
    context: tuple[str, int] | None
    """``("album", slot)``, ``("playlist", index)``, ``("artist", index)`` or None."""


@dataclass(frozen=True)
class Saved:
    index: int
    added_at: datetime


class Library:
    """Saved tracks and albums, followed artists, playlists, top lists and plays of the user."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        seed: int,
        epoch: datetime,
        saved_tracks: int,
        saved_albums: int,
        followed_artists: int,
        followed_playlists: int,
        plays_per_hour: float,
        listening_hours: tuple[int, int],
    ) -> None:
        self._catalog = catalog
        self._seed = seed
        self._plays_per_hour = plays_per_hour
        self._listening_hours = listening_hours
        n = catalog.n_artists
        a, b = affine_permutation(n, 424_242 + seed)
        self.favourites = [(a * i + b) % n for i in range(min(n, 200))]
        followed = self.favourites[: min(followed_artists, len(self.favourites))]
        #: Followed artists ordered by id: ``after`` (an artist id) then works for any id.
        self.followed = sorted(followed, key=lambda r: catalog.artist(r).id)
        self.saved_tracks = self._saved(
            "saved-tracks", saved_tracks, epoch, lambda rng, artist: catalog.pick_track(rng, artist)
        )
        self.saved_albums = self._saved(
            "saved-albums",
            saved_albums,
            epoch,
            lambda rng, artist: rng.choice(catalog.artist_albums(artist)),
        )
        self.top_artists = {r: self._top_artists(r) for r in TIME_RANGES}
        self.top_tracks = {r: self._top_tracks(r) for r in TIME_RANGES}
        own = catalog.owned_playlists + catalog.collaborative_playlists
        others = catalog.n_playlists - own
        rng = random.Random(f"{seed}:followed-playlists")
        followed_pl = rng.sample(range(own, catalog.n_playlists), min(followed_playlists, others))
        #: The user's playlists as /me/playlists lists them: own, collaborative, then followed.
        self.playlists = list(range(own)) + followed_pl
        self._hour_plays: Callable[[int], tuple[Play, ...]] = lru_cache(maxsize=4_096)(
            self._plays_in_hour
        )

    def _saved(
        self,
        label: str,
        target: int,
        epoch: datetime,
        pick: Callable[[random.Random, int], int],
    ) -> list[Saved]:
        rng = random.Random(f"{self._seed}:{label}")
        chosen: list[int] = []
        seen: set[int] = set()
        for _ in range(target * 20):
            if len(chosen) >= target:
                break
            if rng.random() < 0.7:
                artist = rng.choice(self.favourites)
            else:
                artist = rng.randrange(self._catalog.n_artists)
            index = pick(rng, artist)
            if index not in seen:
                seen.add(index)
                chosen.append(index)
        # Most recently saved first, as Spotify lists them; gaps of hours to weeks.
        when = epoch - timedelta(hours=1)
        out = []
        for index in chosen:
            out.append(Saved(index, when.replace(microsecond=0)))
            when -= timedelta(seconds=int(rng.expovariate(1 / 86_400)) + 60)
        return out

    def _top_artists(self, time_range: str) -> list[int]:
        rng = random.Random(f"{self._seed}:top-artists:{time_range}")
        size = min(_TOP_ARTISTS[time_range], self._catalog.n_artists)
        ranked = rng.sample(self.favourites, min(size, len(self.favourites)))
        seen = set(ranked)
        while len(ranked) < size:
            artist = rng.randrange(self._catalog.n_artists)
            if artist not in seen:
                seen.add(artist)
                ranked.append(artist)
        return ranked

    def _top_tracks(self, time_range: str) -> list[int]:
        rng = random.Random(f"{self._seed}:top-tracks:{time_range}")
        artists = self.top_artists[time_range]
        size = _TOP_TRACKS[time_range]
        ranked: list[int] = []
        seen: set[int] = set()
        for attempt in range(size * 20):
            if len(ranked) >= size:
                break
            track = self._catalog.pick_track(rng, artists[attempt % len(artists)])
            if track not in seen:
                seen.add(track)
                ranked.append(track)
        return ranked

    # ------------------------------------------------------------------ listening history
    def _plays_in_hour(self, hour: int) -> tuple[Play, ...]:
        start, end = self._listening_hours
        if not start <= hour % 24 < end or self._plays_per_hour <= 0:
            return ()
        rng = random.Random(f"{self._seed}:plays:{hour}")
        if rng.random() < 0.15:
            return ()
        count = max(1, round(self._plays_per_hour * (0.5 + rng.random())))
        offsets = sorted(rng.sample(range(_HOUR_MS), min(count, _HOUR_MS)))
        catalog = self._catalog
        plays = []
        for offset in offsets:
            draw = rng.random()
            if draw < 0.55:
                track = rng.choice(self.top_tracks["short_term"])
            elif draw < 0.8 and self.saved_tracks:
                track = rng.choice(self.saved_tracks).index
            else:
                track = catalog.pick_track(rng)
            context_draw = rng.random()
            context: tuple[str, int] | None
            if context_draw < 0.3:
                context = None
            elif context_draw < 0.6:
                context = ("album", catalog.track(track).album)
            elif context_draw < 0.85 and self.playlists:
                context = ("playlist", rng.choice(self.playlists))
            else:
                context = ("artist", catalog.track(track).artists[0])
            plays.append(Play(hour * _HOUR_MS + offset, track, context))
        return tuple(plays)

    def recent_plays(self, now_ms: int) -> list[Play]:
        """The most recent plays at or before ``now_ms``, newest first, at most 50."""
        out: list[Play] = []
        hour = now_ms // _HOUR_MS
        for h in range(hour, hour - _MAX_LOOKBACK_HOURS, -1):
            for play in reversed(self._hour_plays(h)):
                if play.played_at_ms <= now_ms:
                    out.append(play)
                    if len(out) >= RECENTLY_PLAYED_WINDOW:
                        return out
        return out

    def plays_between(self, start_ms: int, end_ms: int) -> list[Play]:
        """Every play in ``(start_ms, end_ms]``, oldest first (ground truth for tests)."""
        out: list[Play] = []
        for h in range(start_ms // _HOUR_MS, end_ms // _HOUR_MS + 1):
            out.extend(p for p in self._hour_plays(h) if start_ms < p.played_at_ms <= end_ms)
        return out
