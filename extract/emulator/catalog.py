"""A deterministic, seeded catalog of artists, albums, tracks, playlists, shows and episodes.

Why on demand: ``--scale`` must reach millions of tracks with flat memory and an instant start, so
nothing sized by the scale is ever precomputed. Objects live in fixed-width *slots*:

* artist ``r`` (``0 <= r < n_artists``, no holes) owns album slots ``r*8 .. r*8+7``; the first
  ``album_count(r)`` of them hold albums;
* album slot ``a`` owns track slots ``a*32 .. a*32+31``; the first ``track_count(a)`` hold tracks;
* playlist ``p`` (``0 <= p < n_playlists``) and show ``s`` have no holes; show ``s`` owns episode
  slots ``s*64 ..``.

So ``track.album`` is ``slot // 32`` and ``album.tracks`` is a range: relations hold both ways by
construction. Every field of an object comes from a PRNG seeded by ``(seed, kind, index)``, and
records are memoised in bounded LRU caches. Ids encode the slot index (see :mod:`ids`).
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

from .ids import IdCodec, Kind

ALBUM_SLOTS_PER_ARTIST = 8
TRACK_SLOTS_PER_ALBUM = 32
EPISODE_SLOTS_PER_SHOW = 64
#: Expected tracks per artist given the distributions below (used to size the catalog).
_TRACKS_PER_ARTIST = 32.5
_CACHE = 8_192

MARKETS = [
    "AD",
    "AR",
    "AT",
    "AU",
    "BE",
    "BG",
    "BO",
    "BR",
    "CA",
    "CH",
    "CL",
    "CO",
    "CR",
    "CY",
    "CZ",
    "DE",
    "DK",
    "DO",
    "EC",
    "EE",
    "ES",
    "FI",
    "FR",
    "GB",
    "GR",
    "GT",
    "HK",
    "HN",
    "HU",
    "ID",
    "IE",
    "IL",
    "IN",
    "IS",
    "IT",
    "JP",
    "KR",
    "LT",
    "LU",
    "LV",
    "MT",
    "MX",
    "MY",
    "NI",
    "NL",
    "NO",
    "NZ",
    "PA",
    "PE",
    "PH",
    "PL",
    "PT",
    "PY",
    "RO",
    "SE",
    "SG",
    "SK",
    "SV",
    "TH",
    "TR",
    "TW",
    "US",
    "UY",
    "VN",
    "ZA",
]

_ADJ = [
    "Velvet",
    "Electric",
    "Silent",
    "Golden",
    "Neon",
    "Paper",
    "Broken",
    "Crystal",
    "Midnight",
    "Hollow",
    "Wild",
    "Lunar",
    "Scarlet",
    "Quiet",
    "Frozen",
    "Burning",
    "Distant",
    "Gentle",
    "Secret",
    "Cosmic",
    "Analog",
    "Sunday",
    "Northern",
    "Bitter",
    "Violet",
    "Restless",
    "Tender",
    "Static",
    "Amber",
    "Endless",
]
_NOUN = [
    "Foxes",
    "Harbor",
    "Machines",
    "Gardens",
    "Rivers",
    "Echoes",
    "Satellites",
    "Wolves",
    "Mirrors",
    "Engines",
    "Pilots",
    "Lanterns",
    "Tides",
    "Ghosts",
    "Signals",
    "Orchards",
    "Comets",
    "Horses",
    "Bridges",
    "Cities",
    "Summers",
    "Letters",
    "Waves",
    "Islands",
    "Hearts",
    "Windows",
    "Streets",
    "Dreams",
    "Stations",
    "Forests",
]
_FIRST = [
    "Ana",
    "Björn",
    "Chloé",
    "Dmitri",
    "Elif",
    "François",
    "Guðrún",
    "Hiro",
    "Inés",
    "Jürgen",
    "Kwame",
    "Léa",
    "Mateo",
    "Nils",
    "Oğuz",
    "Priya",
    "Zoë",
    "Søren",
    "Yuki",
    "Renée",
    "Amara",
    "Tomás",
    "Ingrid",
    "Kofi",
    "Mei",
    "Raúl",
]
_LAST = [
    "Andersson",
    "Núñez",
    "Okafor",
    "Müller",
    "Kowalski",
    "Dubois",
    "Tanaka",
    "Łukasiewicz",
    "Ferreira",
    "Haddad",
    "Ivanova",
    "O'Brien",
    "Sørensen",
    "García",
    "Nakamura",
    "Smith",
    "Lindqvist",
    "Mbeki",
    "Rossi",
    "Đorđević",
]
_UNICODE = (
    "東京スカイライン",
    "Сигнал",
    "Ραδιόφωνο",
    "서울의 밤",
    "مدينة الضوء",
    "Śnieżyca",
    "Ça va bien",
    "Ñandú",
    "Ævintýri",
    "שיר ערש",
    "नदी",
)
_EMOJI = ("🔥", "🌙", "💿", "✨", "🎧", "🌊", "🖤", "🚀", "🦊", "🌈")
_GENRES = (
    "indie pop",
    "swedish indie",
    "art rock",
    "k-pop",
    "lo-fi beats",
    "hip hop",
    "afrobeats",
    "post-punk",
    "dream pop",
    "bossa nova",
    "techno",
    "grime",
    "j-rock",
    "chamber pop",
    "reggaeton",
    "shoegaze",
    "synthwave",
    "jazz fusion",
    "neo soul",
    "metalcore",
    "folk",
    "ambient",
    "house",
    "country",
    "latin pop",
    "mandopop",
    "drill",
    "classical",
    "música mexicana",
    "french touch",
)
_LABELS = (
    "Night Harbor Records",
    "Polar Sound",
    "Independent",
    "Analog Heart",
    "Nordic Tone",
    "Sunset Audio",
    "Blue Comet Music",
    "Ferro & Søn",
    "Tōkyō Wave",
    "Self-released",
)
_SHOW_WORDS = ("Talk", "Hour", "Radio", "Podcast", "Dispatch", "Notes", "Conversations", "Weekly")
_LANGS = (("en",), ("en", "es"), ("sv",), ("de",), ("fr",), ("ja",), ("pt",))


def _rng(seed: int, kind: str, *index: int) -> random.Random:
    return random.Random(f"{seed}:{kind}:" + ":".join(map(str, index)))


def _hex(seed: int, *parts: object) -> str:
    text = ":".join(map(str, (seed, *parts)))
    return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()


def _decorate(rng: random.Random, name: str, unicode_rate: float, emoji_rate: float) -> str:
    draw = rng.random()
    if draw < unicode_rate:
        return rng.choice(_UNICODE)
    if draw < unicode_rate + emoji_rate:
        return f"{name} {rng.choice(_EMOJI)}"
    return name


def affine_permutation(n: int, key: int) -> tuple[int, int]:
    """Parameters ``(a, b)`` of the bijection ``i -> (a*i + b) % n`` on ``range(n)``.

    Used wherever a list of *distinct* catalog objects is needed without materialising it
    (search results, playlist entries).
    """
    if n <= 1:
        return 1, 0
    a = (key % n) | 1
    while math.gcd(a, n) != 1:
        a = (a + 1) % n or 1
    b = (key // 7919) % n
    return a, b


@dataclass(frozen=True)
class Image:
    url: str
    height: int | None
    width: int | None


@dataclass(frozen=True)
class Artist:
    index: int
    id: str
    name: str
    genres: tuple[str, ...]
    images: tuple[Image, ...]
    popularity: int
    followers: int
    album_count: int


@dataclass(frozen=True)
class Album:
    slot: int
    id: str
    artist: int
    name: str
    album_type: str
    track_count: int
    release_date: str
    release_date_precision: str
    label: str
    popularity: int
    upc: str
    images: tuple[Image, ...]
    markets: tuple[str, ...]
    year: int


@dataclass(frozen=True)
class Track:
    slot: int
    id: str
    album: int
    artists: tuple[int, ...]
    name: str
    disc_number: int
    track_number: int
    duration_ms: int
    explicit: bool
    playable: bool
    popularity: int
    isrc: str
    preview_url: str | None
    relinked: bool


@dataclass(frozen=True)
class Show:
    index: int
    id: str
    name: str
    publisher: str
    description: str
    languages: tuple[str, ...]
    explicit: bool
    total_episodes: int
    images: tuple[Image, ...]
    markets: tuple[str, ...]


@dataclass(frozen=True)
class Episode:
    slot: int
    id: str
    show: int
    name: str
    description: str
    duration_ms: int
    explicit: bool
    release_date: str
    release_date_precision: str
    languages: tuple[str, ...]
    images: tuple[Image, ...]


@dataclass(frozen=True)
class Owner:
    """A playlist owner or adder: the configured user, Spotify itself, or a generated user."""

    id: str
    display_name: str | None


@dataclass(frozen=True)
class PlaylistEntry:
    """One position of a playlist. ``kind`` is ``track``, ``episode``, ``local`` or ``null``."""

    position: int
    kind: str
    index: int
    added_at: datetime
    added_by: Owner
    local_name: str = ""
    local_artist: str = ""
    local_album: str = ""
    local_duration_ms: int = 0


@dataclass(frozen=True)
class Playlist:
    index: int
    id: str
    owner: Owner
    name: str
    description: str
    public: bool
    collaborative: bool
    item_count: int
    followers: int
    snapshot_id: str
    images: tuple[Image, ...]
    created_at: datetime


class Catalog:
    """The generated catalog. All lookups are O(1) in the catalog size."""

    def __init__(
        self,
        *,
        seed: int,
        scale: int,
        user: Owner,
        owned_playlists: int,
        collaborative_playlists: int,
        epoch: datetime,
        null_item_rate: float,
        local_file_rate: float,
        episode_rate: float,
        playlist_names: tuple[str, ...] = (),
    ) -> None:
        self.seed = seed
        self._playlist_names = playlist_names
        self.codec = IdCodec(seed)
        self.n_artists = max(1, round(scale / _TRACKS_PER_ARTIST))
        self.n_playlists = max(64, owned_playlists + collaborative_playlists + 32, scale // 100)
        self.n_shows = max(8, min(5_000, scale // 1_000))
        self.n_users = max(16, scale // 500)
        self.user = user
        self.owned_playlists = owned_playlists
        self.collaborative_playlists = collaborative_playlists
        self.epoch = epoch
        self._null_rate = null_item_rate
        self._local_rate = local_file_rate
        self._episode_rate = episode_rate
        # Per-instance memoisation with bounded size: flat memory at any scale.
        self.artist: Callable[[int], Artist] = lru_cache(maxsize=_CACHE)(self._artist)
        self.album: Callable[[int], Album] = lru_cache(maxsize=_CACHE)(self._album)
        self.track: Callable[[int], Track] = lru_cache(maxsize=_CACHE)(self._track)
        self.playlist: Callable[[int], Playlist] = lru_cache(maxsize=4_096)(self._playlist)
        self.show: Callable[[int], Show] = lru_cache(maxsize=4_096)(self._show)
        self.episode: Callable[[int], Episode] = lru_cache(maxsize=_CACHE)(self._episode)
        self._album_count: Callable[[int], int] = lru_cache(maxsize=_CACHE)(self._count_albums)

    # ------------------------------------------------------------------ existence and lookup
    def artist_exists(self, index: int) -> bool:
        return 0 <= index < self.n_artists

    def album_exists(self, slot: int) -> bool:
        artist, k = divmod(slot, ALBUM_SLOTS_PER_ARTIST)
        return self.artist_exists(artist) and slot >= 0 and k < self._album_count(artist)

    def track_exists(self, slot: int) -> bool:
        album, k = divmod(slot, TRACK_SLOTS_PER_ALBUM)
        return slot >= 0 and self.album_exists(album) and k < self.album(album).track_count

    def playlist_exists(self, index: int) -> bool:
        return 0 <= index < self.n_playlists

    def show_exists(self, index: int) -> bool:
        return 0 <= index < self.n_shows

    def episode_exists(self, slot: int) -> bool:
        show, k = divmod(slot, EPISODE_SLOTS_PER_SHOW)
        return slot >= 0 and self.show_exists(show) and k < self.show(show).total_episodes

    def lookup(self, kind: Kind, value: str) -> int | None:
        """Index of the existing object of ``kind`` with id ``value``, else None."""
        index = self.codec.decode(kind, value)
        if index is None:
            return None
        exists = {
            Kind.ARTIST: self.artist_exists,
            Kind.ALBUM: self.album_exists,
            Kind.TRACK: self.track_exists,
            Kind.PLAYLIST: self.playlist_exists,
            Kind.SHOW: self.show_exists,
            Kind.EPISODE: self.episode_exists,
        }[kind]
        return index if exists(index) else None

    def artist_albums(self, artist: int) -> range:
        """Album slots of ``artist`` (its own releases, in slot order)."""
        first = artist * ALBUM_SLOTS_PER_ARTIST
        return range(first, first + self._album_count(artist))

    def album_tracks(self, album: int) -> range:
        first = album * TRACK_SLOTS_PER_ALBUM
        return range(first, first + self.album(album).track_count)

    def show_episodes(self, show: int) -> range:
        first = show * EPISODE_SLOTS_PER_SHOW
        return range(first, first + self.show(show).total_episodes)

    def estimated_track_count(self, sample: int = 2_000) -> int:
        """Tracks in the catalog, extrapolated from evenly spaced artists (no full scan)."""
        step = max(1, self.n_artists // sample)
        artists = range(0, self.n_artists, step)
        tracks = sum(self.album(a).track_count for r in artists for a in self.artist_albums(r))
        return round(tracks * self.n_artists / len(artists))

    def pick_track(self, rng: random.Random, artist: int | None = None) -> int:
        """A uniformly drawn existing track (of ``artist`` when given)."""
        if artist is None:
            artist = rng.randrange(self.n_artists)
        album = rng.choice(self.artist_albums(artist))
        return rng.choice(self.album_tracks(album))

    def distinct_tracks(self, key: int, start: int, count: int) -> list[int]:
        """Positions ``start .. start+count`` of a keyed sequence of distinct tracks.

        Position ``i`` maps to a distinct artist through an affine permutation, then to one of
        that artist's tracks, so a sequence is duplicate-free up to ``n_artists`` positions.
        """
        a, b = affine_permutation(self.n_artists, key)
        out = []
        for i in range(start, min(start + count, self.n_artists)):
            artist = (a * i + b) % self.n_artists
            out.append(self.pick_track(_rng(self.seed, "seq", key, i), artist))
        return out

    # ------------------------------------------------------------------ generators
    def _count_albums(self, artist: int) -> int:
        rng = _rng(self.seed, "artist-albums", artist)
        return 1 + min(
            ALBUM_SLOTS_PER_ARTIST - 1, int(ALBUM_SLOTS_PER_ARTIST * rng.random() ** 1.6)
        )

    def _images(self, rng: random.Random, kind: str, index: int) -> tuple[Image, ...]:
        digest = _hex(self.seed, kind, index)[:24]
        return tuple(
            Image(f"https://i.scdn.co/image/ab67616d{size:04d}{digest}", size, size)
            for size in (640, 300, 64)
        )

    def _artist(self, index: int) -> Artist:
        rng = _rng(self.seed, "artist", index)
        pattern = rng.random()
        if pattern < 0.35:
            name = f"The {rng.choice(_ADJ)} {rng.choice(_NOUN)}"
        elif pattern < 0.7:
            name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        elif pattern < 0.85:
            name = f"{rng.choice(_ADJ)} {rng.choice(_NOUN)}"
        else:
            name = f"DJ {rng.choice(_FIRST)}"
        name = _decorate(rng, name, 0.05, 0.02)
        genres = tuple(sorted(set(rng.sample(_GENRES, rng.choice((0, 1, 1, 2, 2, 3))))))
        images = () if rng.random() < 0.1 else self._images(rng, "artist", index)
        return Artist(
            index=index,
            id=self.codec.encode(Kind.ARTIST, index),
            name=name,
            genres=genres,
            images=images,
            popularity=int(100 * rng.random() ** 2),
            followers=int(10 ** (1 + 6 * rng.random())),
            album_count=self._album_count(index),
        )

    def _album(self, slot: int) -> Album:
        rng = _rng(self.seed, "album", slot)
        draw = rng.random()
        if draw < 0.4:
            album_type, tracks = "single", rng.randint(1, 4)
        elif draw < 0.9:
            album_type, tracks = "album", rng.randint(7, 18)
        else:
            album_type, tracks = "compilation", rng.randint(12, 24)
        year = rng.randint(1962, 2026)
        day = date(year, 1, 1) + timedelta(days=rng.randrange(365))
        precision_draw = rng.random()
        if precision_draw < 0.08:
            precision, release = "year", f"{year}"
        elif precision_draw < 0.12:
            precision, release = "month", day.strftime("%Y-%m")
        else:
            precision, release = "day", day.isoformat()
        name = f"{rng.choice(_ADJ)} {rng.choice(_NOUN)}"
        if album_type == "compilation":
            name = f"The Best of {name}"
        elif rng.random() < 0.05:
            name += f" ({rng.choice(('Deluxe Edition', 'Remastered', 'Live'))})"
        return Album(
            slot=slot,
            id=self.codec.encode(Kind.ALBUM, slot),
            artist=slot // ALBUM_SLOTS_PER_ARTIST,
            name=_decorate(rng, name, 0.04, 0.02),
            album_type=album_type,
            track_count=tracks,
            release_date=release,
            release_date_precision=precision,
            label=rng.choice(_LABELS),
            popularity=int(100 * rng.random() ** 2),
            upc=f"{rng.randrange(10**12):012d}",
            images=self._images(rng, "album", slot),
            markets=tuple(sorted(rng.sample(MARKETS, rng.randint(1, len(MARKETS))))),
            year=year,
        )

    def _track(self, slot: int) -> Track:
        rng = _rng(self.seed, "track", slot)
        album_slot, position = divmod(slot, TRACK_SLOTS_PER_ALBUM)
        album = self.album(album_slot)
        artists = [album.artist]
        if rng.random() < 0.15 and self.n_artists > 1:
            for _ in range(rng.choice((1, 1, 2))):
                other = rng.randrange(self.n_artists)
                if other not in artists:
                    artists.append(other)
        discs = 2 if album.track_count > 16 else 1
        per_disc = math.ceil(album.track_count / discs)
        name_draw = rng.random()
        if name_draw < 0.5:
            name = f"{rng.choice(_ADJ)} {rng.choice(_NOUN)}"
        elif name_draw < 0.75:
            name = f"{rng.choice(_NOUN)} of {rng.choice(_NOUN)}"
        else:
            name = rng.choice(_NOUN)
        if len(artists) > 1 and rng.random() < 0.6:
            name += f" (feat. {self.artist(artists[1]).name})"
        elif rng.random() < 0.05:
            name += f" - Remastered {rng.randint(2005, 2024)}"
        has_preview = rng.random() < 0.3
        return Track(
            slot=slot,
            id=self.codec.encode(Kind.TRACK, slot),
            album=album_slot,
            artists=tuple(artists),
            name=_decorate(rng, name, 0.04, 0.02),
            disc_number=1 + position // per_disc,
            track_number=1 + position % per_disc,
            duration_ms=rng.randint(95_000, 420_000),
            explicit=rng.random() < 0.12,
            playable=rng.random() >= 0.03,
            popularity=int(100 * rng.random() ** 2),
            isrc=f"{rng.choice(('US', 'GB', 'SE', 'DE', 'JP'))}"
            f"{_hex(self.seed, 'isrc', slot)[:3].upper()}{album.year % 100:02d}"
            f"{rng.randrange(100000):05d}",
            preview_url=(
                f"https://p.scdn.co/mp3-preview/{_hex(self.seed, 'preview', slot)}"
                if has_preview
                else None
            ),
            relinked=rng.random() < 0.02,
        )

    def _show(self, index: int) -> Show:
        rng = _rng(self.seed, "show", index)
        name = f"The {rng.choice(_ADJ)} {rng.choice(_SHOW_WORDS)}"
        return Show(
            index=index,
            id=self.codec.encode(Kind.SHOW, index),
            name=_decorate(rng, name, 0.03, 0.05),
            publisher=f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
            description=f"Conversations about {rng.choice(_NOUN).lower()} and more.",
            languages=rng.choice(_LANGS),
            explicit=rng.random() < 0.2,
            total_episodes=rng.randint(5, EPISODE_SLOTS_PER_SHOW),
            images=self._images(rng, "show", index),
            markets=tuple(sorted(rng.sample(MARKETS, rng.randint(5, 30)))),
        )

    def _episode(self, slot: int) -> Episode:
        rng = _rng(self.seed, "episode", slot)
        show_index, number = divmod(slot, EPISODE_SLOTS_PER_SHOW)
        show = self.show(show_index)
        released = self.epoch - timedelta(days=7 * (show.total_episodes - number))
        return Episode(
            slot=slot,
            id=self.codec.encode(Kind.EPISODE, slot),
            show=show_index,
            name=f"#{number + 1}: {rng.choice(_ADJ)} {rng.choice(_NOUN)}",
            description=f"Episode {number + 1} of {show.name}.",
            duration_ms=rng.randint(600_000, 7_200_000),
            explicit=show.explicit,
            release_date=released.date().isoformat(),
            release_date_precision="day",
            languages=show.languages,
            images=show.images,
        )

    # ------------------------------------------------------------------ users and playlists
    def other_user(self, index: int) -> Owner:
        rng = _rng(self.seed, "user", index)
        if index == 0:
            return Owner("spotify", "Spotify")
        name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        display = None if rng.random() < 0.1 else name
        return Owner(self.codec.encode(Kind.USER, index), display)

    def playlist_owner(self, index: int) -> Owner:
        if index < self.owned_playlists:
            return self.user
        if index < self.owned_playlists + self.collaborative_playlists:
            return self.other_user(1 + index % (self.n_users - 1))
        return self.other_user(index % self.n_users)

    def user_index(self, user_id: str) -> int | None:
        """Index of the generated user with ``user_id`` (``spotify`` is 0), else None."""
        if user_id == "spotify":
            return 0
        index = self.codec.decode(Kind.USER, user_id)
        return index if index is not None and 0 < index < self.n_users else None

    def playlists_owned_by(self, user: int) -> list[int]:
        """Catalog playlists owned by generated user ``user`` (not the configured user)."""
        shared = self.owned_playlists + self.collaborative_playlists
        owned = [p for p in range(user, self.n_playlists, self.n_users) if p >= shared]
        if user > 0:
            owned += [
                p for p in range(self.owned_playlists, shared) if 1 + p % (self.n_users - 1) == user
            ]
        return sorted(owned)

    def is_collaborative(self, index: int) -> bool:
        return self.owned_playlists <= index < self.owned_playlists + self.collaborative_playlists

    def user_can_read_items(self, index: int) -> bool:
        """Owner or collaborator: the only playlists whose items Development Mode serves."""
        return index < self.owned_playlists + self.collaborative_playlists

    def _playlist_name(self, index: int, generated: str) -> str:
        if index < min(self.owned_playlists, len(self._playlist_names)):
            return self._playlist_names[index]
        return generated

    def _playlist(self, index: int) -> Playlist:
        rng = _rng(self.seed, "playlist", index)
        owner = self.playlist_owner(index)
        collaborative = self.is_collaborative(index)
        if index < self.owned_playlists:
            # The user's own playlists cover the edge cases: an empty one and a long one.
            sizes = (0, 237, 51, 12, 100, 49)
            count = sizes[index] if index < len(sizes) else rng.randint(1, 150)
        else:
            count = rng.randint(5, 120)
        count = min(count, self.n_artists)
        name = f"{rng.choice(_ADJ)} {rng.choice(_NOUN)}"
        if owner.id == "spotify":
            name = f"This Is {self.artist(rng.randrange(self.n_artists)).name}"
        created = self.epoch - timedelta(days=rng.randint(30, 3000))
        images: tuple[Image, ...]
        if count == 0:
            images = ()
        elif count >= 4:
            images = (
                Image(f"https://mosaic.scdn.co/640/{_hex(self.seed, 'm', index)}", None, None),
            )
        else:
            images = self._images(rng, "playlist", index)[:1]
        return Playlist(
            index=index,
            id=self.codec.encode(Kind.PLAYLIST, index),
            owner=owner,
            # Drawn even when the name is configured, so every other field stays the same.
            name=self._playlist_name(index, _decorate(rng, name, 0.05, 0.08)),
            description="" if rng.random() < 0.5 else f"All the {rng.choice(_NOUN).lower()}.",
            public=(not collaborative) and rng.random() < 0.7,
            collaborative=collaborative,
            item_count=count,
            followers=int(10 ** (4 * rng.random())) if owner.id != "spotify" else 10**6,
            snapshot_id=_hex(self.seed, "snapshot", index)[:32],
            images=images,
            created_at=created,
        )

    def playlist_entries(self, index: int, start: int, count: int) -> list[PlaylistEntry]:
        """Entries ``start .. start+count`` of playlist ``index`` (clipped to its length)."""
        playlist = self.playlist(index)
        stop = min(start + count, playlist.item_count)
        if start >= stop:
            return []
        tracks = self.distinct_tracks(10_000_019 * (index + 1), start, stop - start)
        span = max(1.0, (self.epoch - playlist.created_at).total_seconds() - 86_400)
        entries = []
        for position, track in zip(range(start, stop), tracks, strict=True):
            rng = _rng(self.seed, "entry", index, position)
            added_at = playlist.created_at + timedelta(
                seconds=int(span * position / max(1, playlist.item_count)) + rng.randrange(600)
            )
            added_by = playlist.owner
            if playlist.collaborative and rng.random() < 0.5:
                added_by = self.user
            draw = rng.random()
            if draw < self._null_rate:
                entries.append(PlaylistEntry(position, "null", -1, added_at, added_by))
            elif draw < self._null_rate + self._local_rate:
                entries.append(
                    PlaylistEntry(
                        position,
                        "local",
                        -1,
                        added_at,
                        added_by,
                        local_name=_decorate(rng, f"{rng.choice(_NOUN)} (demo)", 0.1, 0.1),
                        local_artist=f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                        local_album="" if rng.random() < 0.3 else f"{rng.choice(_ADJ)} Tapes",
                        local_duration_ms=rng.randint(60_000, 400_000),
                    )
                )
            elif draw < self._null_rate + self._local_rate + self._episode_rate:
                show = rng.randrange(self.n_shows)
                episode = rng.choice(self.show_episodes(show))
                entries.append(PlaylistEntry(position, "episode", episode, added_at, added_by))
            else:
                entries.append(PlaylistEntry(position, "track", track, added_at, added_by))
        return entries

    # ------------------------------------------------------------------ search
    def search_total(self, query: str, kind: str) -> int:
        digest = int(_hex(self.seed, "search", query.strip().casefold(), kind)[:12], 16)
        if digest % 23 == 0:
            return 0
        population = self.n_playlists if kind == "playlist" else self.n_artists
        return min(population, 1 + digest % 420)

    def search_page(self, query: str, kind: str, offset: int, limit: int) -> list[int]:
        """Indices (slots) of search hits ``offset .. offset+limit`` for ``kind``."""
        total = self.search_total(query, kind)
        key = int(_hex(self.seed, "search-key", query.strip().casefold(), kind)[:12], 16)
        positions = range(offset, min(offset + limit, total))
        if kind == "playlist":
            a, b = affine_permutation(self.n_playlists, key)
            return [(a * i + b) % self.n_playlists for i in positions]
        a, b = affine_permutation(self.n_artists, key)
        artists = [(a * i + b) % self.n_artists for i in positions]
        if kind == "artist":
            return artists
        out = []
        for i, artist in zip(positions, artists, strict=True):
            rng = _rng(self.seed, "search-hit", key, i)
            album = rng.choice(self.artist_albums(artist))
            out.append(album if kind == "album" else rng.choice(self.album_tracks(album)))
        return out

    def related_artists(self, artist: int, count: int = 20) -> list[int]:
        a, b = affine_permutation(self.n_artists, 7_777 + artist * 104_729)
        related = [(a * i + b) % self.n_artists for i in range(min(count + 1, self.n_artists))]
        return [r for r in related if r != artist][:count]
