"""Paging and row helpers of the Spotify sources: the generators behind their resources.

Each generator pages an endpoint with a :class:`~.client.SpotifyClient` and yields one list of
bronze rows per page (see :func:`bronze_row`); the resources in ``__init__`` give them names,
keys and write dispositions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal
from urllib.parse import quote

from dlt.common.utils import chunks

from .client import JSON, SpotifyClient, SpotifyHTTPError
from .settings import (
    ALBUM_TRACKS_LIMIT,
    ARTIST_ALBUMS_LIMIT,
    BATCH_LIMITS,
    PLAYLIST_ITEMS_LIMIT,
    RECENTLY_PLAYED_LIMIT,
    RECENTLY_PLAYED_WINDOW,
    SEARCH_LIMIT,
    TOP_LIMIT,
)

log = logging.getLogger(__name__)

ApiMode = Literal["auto", "development", "extended"]
Rows = Iterator[list[dict[str, Any]]]


@dataclass
class ExtractCounters:
    """What the sources counted besides rows: skips, warnings, fallbacks."""

    skipped_playlists: int = 0
    missing_ids: int = 0
    missing: list[tuple[str, str]] = field(default_factory=list)
    """(kind, id) of catalog objects the API answered as unknown (404 or 400, or null)."""
    batch_fallback: bool = False
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        log.warning(message)
        self.warnings.append(message)


def now() -> datetime:
    return datetime.now(UTC)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def bronze_row(payload: JSON, endpoint: str, requested_at: datetime, **keys: Any) -> dict[str, Any]:
    """A bronze row: its natural key, the object as Spotify sent it, where and when from."""
    return {**keys, "payload": payload, "endpoint": endpoint, "requested_at": requested_at}


def segment(value: str) -> str:
    """An id as one URL path segment: ids from the configuration or the API may hold ``/``,
    ``?`` or ``..``, which must never reach another endpoint."""
    return quote(str(value), safe="")


def parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# ---------------------------------------------------------------------------- user data


def recently_played_pages(
    client: SpotifyClient, last: datetime | None, counters: ExtractCounters
) -> Rows:
    """Plays after ``last`` (all the API keeps without it), one list per page, oldest page first.

    A full first page after ``last`` may mean plays were lost in between: a warning says so.
    """
    params: dict[str, Any] = {"limit": RECENTLY_PLAYED_LIMIT}
    if last is not None:
        params["after"] = int(last.timestamp() * 1000)
    endpoint = "/me/player/recently-played"
    next_url: str | None = endpoint
    query: dict[str, Any] | None = params
    while next_url:
        requested_at = now()
        page = client.get(next_url, query, auth="user")
        rows = []
        for item in page.get("items") or []:
            track = item.get("track") or item.get("item") or {}
            rows.append(
                bronze_row(
                    item,
                    endpoint,
                    requested_at,
                    played_at=parse_ts(item["played_at"]),
                    track_id=track.get("id"),
                )
            )
        if last is not None and len(rows) >= RECENTLY_PLAYED_LIMIT:
            oldest = min(r["played_at"] for r in rows)
            if oldest > last:
                counters.warn(
                    f"recently_played: more than {RECENTLY_PLAYED_WINDOW} plays since the last "
                    "run; plays older than "
                    f"{oldest.isoformat()} may be missing (run more often)."
                )
        yield rows
        # With `after`, Spotify pages forward in time through cursors.after.
        next_url = page.get("next")
        query = None
        if not rows:
            break


def top_pages(client: SpotifyClient, kind: str, day: date, time_ranges: Sequence[str]) -> Rows:
    """The listener's top ``kind`` (artists or tracks) per time range, ranked, dated ``day``."""
    endpoint = f"/me/top/{kind}"
    for time_range in time_ranges:
        rank = 0
        for page in client.paginate(
            endpoint, {"time_range": time_range, "limit": TOP_LIMIT}, auth="user"
        ):
            requested_at = now()
            rows = []
            for obj in page.get("items") or []:
                rank += 1
                rows.append(
                    bronze_row(
                        obj,
                        endpoint,
                        requested_at,
                        snapshot_date=day,
                        time_range=time_range,
                        rank=rank,
                        **{f"{kind[:-1]}_id": obj.get("id")},
                    )
                )
            yield rows


def library_pages(
    client: SpotifyClient,
    endpoint: str,
    key: str,
    object_of: Callable[[JSON], JSON | None],
    params: dict[str, Any],
    page_key: str | None = None,
) -> Rows:
    """A list the listener keeps (saved tracks, ...): a row per item whose object has an id."""
    for page in client.paginate(endpoint, params, auth="user", key=page_key):
        requested_at = now()
        rows = []
        for item in page.get("items") or []:
            obj = object_of(item) if item else None
            if obj and obj.get("id"):
                rows.append(bronze_row(item, endpoint, requested_at, **{key: obj["id"]}))
        yield rows


class CurrentUser:
    """The listener's profile (``/me``), fetched once, when first needed."""

    def __init__(self, client: SpotifyClient) -> None:
        self._client = client
        self._profile: JSON = {}

    @property
    def id(self) -> str | None:
        if not self._profile:
            self._profile.update(self._client.get("/me", auth="user"))
        return self._profile.get("id")


def playlist_item_pages(
    client: SpotifyClient,
    playlist_rows: list[dict[str, Any]],
    user: CurrentUser,
    counters: ExtractCounters,
) -> Rows:
    """Entries of the playlists the listener owns or collaborates on (others answer 403)."""
    user_id = user.id
    for row in playlist_rows:
        playlist = row["payload"]
        owner = (playlist.get("owner") or {}).get("id")
        if owner != user_id and not playlist.get("collaborative"):
            continue
        playlist_id = playlist["id"]
        endpoint = "/playlists/{id}/items"
        position = 0
        try:
            for page in client.paginate(
                f"/playlists/{segment(playlist_id)}/items",
                {"limit": PLAYLIST_ITEMS_LIMIT},
                auth="user",
            ):
                requested_at = now()
                out = []
                for entry in page.get("items") or []:
                    # A null entry (a removed track) still holds its position.
                    out.append(
                        bronze_row(
                            entry if isinstance(entry, dict) else {"item": None},
                            endpoint,
                            requested_at,
                            playlist_id=playlist_id,
                            position=position,
                        )
                    )
                    position += 1
                yield out
        except SpotifyHTTPError as exc:
            if exc.status != 403:
                raise
            counters.skipped_playlists += 1
            counters.warn(f"playlist {playlist_id}: items not readable (403), skipped")


# ---------------------------------------------------------------------------- catalog


@dataclass
class CatalogWork:
    """Which catalog objects to fetch (computed by the caller from what bronze already holds)."""

    artist_ids: Sequence[str] = ()
    album_ids: Sequence[str] = ()
    track_ids: Sequence[str] = ()
    seed_artist_ids: Sequence[str] = ()  # their albums are listed, then fetched
    search_queries: Sequence[str] = ()
    # Ids with a fresh full object already in bronze: never fetched, even when a track or an
    # album fetched in this run names them.
    known_ids: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not (
            self.artist_ids
            or self.album_ids
            or self.track_ids
            or self.seed_artist_ids
            or self.search_queries
        )


#: One bronze row of the catalog: (table, key values, payload, endpoint, requested_at ISO 8601).
CatalogRow = tuple[str, Sequence[str | None], JSON, str, str]


class CatalogFetcher:
    """Single-item or batch gets of catalog objects, with the batch fallback on a 403."""

    def __init__(self, client: SpotifyClient, mode: ApiMode, counters: ExtractCounters) -> None:
        self.client = client
        self.use_batch = mode != "development"
        self.mode = mode
        self.counters = counters

    def fetch(self, kind: str, ids: Sequence[str]) -> Iterator[tuple[JSON, str]]:
        """Yield (object, endpoint) for each id that exists; unknown ids are counted and skipped."""
        pending = list(dict.fromkeys(i for i in ids if i))
        if self.use_batch and pending:
            size = BATCH_LIMITS[kind]
            try:
                for chunk in chunks(pending, size):
                    try:
                        body = self.client.get(f"/{kind}", {"ids": ",".join(chunk)})
                    except SpotifyHTTPError as exc:
                        if exc.status != 400:
                            raise
                        # One malformed id (a bad seed id in the configuration) refuses the
                        # whole batch: get this chunk's ids one by one, skipping the bad ones.
                        yield from self._singles(kind, chunk)
                        pending = pending[len(chunk) :]
                        continue
                    for object_id, obj in zip(chunk, body.get(kind) or [], strict=False):
                        if obj is None:
                            self.counters.missing_ids += 1
                            self.counters.missing.append((kind, object_id))
                            continue
                        yield obj, f"/{kind}"
                    pending = pending[len(chunk) :]
                return
            except SpotifyHTTPError as exc:
                if exc.status != 403 or self.mode == "extended":
                    raise
                self.use_batch = False
                self.counters.batch_fallback = True
                log.info("batch endpoints refused (403): Development Mode, using single gets")
        yield from self._singles(kind, pending)

    def _singles(self, kind: str, ids: Sequence[str]) -> Iterator[tuple[JSON, str]]:
        for object_id in ids:
            try:
                obj = self.client.get(f"/{kind}/{segment(object_id)}")
            except SpotifyHTTPError as exc:
                if exc.status in (400, 404):
                    self.counters.missing_ids += 1
                    self.counters.missing.append((kind, object_id))
                    self.counters.warn(f"{kind[:-1]} {object_id}: {exc.status}, skipped")
                    continue
                raise
            yield obj, f"/{kind}/{{id}}"


class CatalogCrawl:
    """The catalog objects of one run: the ids to fetch, growing with what fetched objects name."""

    def __init__(
        self,
        client: SpotifyClient,
        work: CatalogWork,
        fetcher: CatalogFetcher,
        counters: ExtractCounters,
    ) -> None:
        self.client = client
        self.work = work
        self.fetcher = fetcher
        self.counters = counters
        self.ids: dict[str, dict[str, None]] = {"artists": {}, "albums": {}, "tracks": {}}
        self.add("artists", work.artist_ids)
        self.add("albums", work.album_ids)
        self.add("tracks", work.track_ids)

    def add(self, kind: str, ids: Iterable[str | None]) -> None:
        """Ids to fetch, but those with a fresh full object in bronze already."""
        for object_id in ids:
            if object_id and object_id not in self.work.known_ids:
                self.ids[kind][object_id] = None

    def discover(self, search_pages: int) -> None:
        """Seeds: the albums of seed artists and the results of search queries."""
        work = self.work
        self.add("artists", work.seed_artist_ids)
        for artist_id in work.seed_artist_ids:
            try:
                for page in self.client.paginate(
                    f"/artists/{segment(artist_id)}/albums",
                    {"include_groups": "album,single", "limit": ARTIST_ALBUMS_LIMIT},
                ):
                    self.add("albums", (a.get("id") for a in page.get("items") or [] if a))
            except SpotifyHTTPError as exc:
                if exc.status not in (400, 404):
                    raise
                self.counters.warn(f"seed artist {artist_id}: {exc.status}, skipped")
        for query in work.search_queries:
            offset = 0
            for _ in range(search_pages):
                body = self.client.get(
                    "/search",
                    {
                        "q": query,
                        "type": "artist,album,track",
                        "limit": SEARCH_LIMIT,
                        "offset": offset,
                    },
                )
                for kind in ("artists", "albums", "tracks"):
                    items = (body.get(kind) or {}).get("items") or []
                    self.add(kind, (o.get("id") for o in items if o))
                offset += SEARCH_LIMIT
                if not (body.get("tracks") or {}).get("next"):
                    break

    def rows(self, search_pages: int) -> Iterator[CatalogRow]:
        """Tracks, then albums (and their tracks), then every artist they name, in that order.

        One resource rather than four so that the order holds: the tracks fetched in this run
        name albums and artists, and the albums name artists, which must come in the same run.
        """
        self.discover(search_pages)
        for obj, endpoint in self.fetcher.fetch("tracks", list(self.ids["tracks"])):
            self.add("albums", [(obj.get("album") or {}).get("id")])
            self.add("artists", (a.get("id") for a in obj.get("artists") or []))
            yield "tracks", (obj.get("id"),), obj, endpoint, now_iso()
        for obj, endpoint in self.fetcher.fetch("albums", list(self.ids["albums"])):
            requested_at = now_iso()
            self.add("artists", (a.get("id") for a in obj.get("artists") or []))
            yield "albums", (obj["id"],), obj, endpoint, requested_at
            yield from self.album_tracks(obj, endpoint, requested_at)
        for obj, endpoint in self.fetcher.fetch("artists", list(self.ids["artists"])):
            yield "artists", (obj.get("id"),), obj, endpoint, now_iso()

    def album_tracks(self, album: JSON, endpoint: str, requested_at: str) -> Iterator[CatalogRow]:
        """The album's tracks (simplified): its first page and, if longer, the following ones."""
        album_id = album["id"]
        first = album.get("tracks") or {}
        for track in first.get("items") or []:
            if track and track.get("id"):
                yield "album_tracks", (album_id, track["id"]), track, endpoint, requested_at
        if first.get("next"):
            for page in self.client.paginate(
                f"/albums/{segment(album_id)}/tracks",
                {"limit": ALBUM_TRACKS_LIMIT, "offset": len(first.get("items") or [])},
            ):
                page_at = now_iso()
                for track in page.get("items") or []:
                    if track and track.get("id"):
                        yield (
                            "album_tracks",
                            (album_id, track["id"]),
                            track,
                            "/albums/{id}/tracks",
                            page_at,
                        )
