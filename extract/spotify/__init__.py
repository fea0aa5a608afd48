"""dlt sources for the Spotify Web API: a listener's own data and the catalog it references.

Every bronze table keeps objects as Spotify sent them: one row per object with its natural key,
the whole object as ``payload`` (``jsonb``; nested objects are not exploded, ``max_table_nesting``
is 0), the ``endpoint`` it came from and ``requested_at``; dlt adds ``_dlt_load_id``.

* :func:`spotify_user_source` (a PKCE user token): ``recently_played`` (incremental on
  ``played_at`` through the ``after`` cursor, appended), ``top_artists``/``top_tracks`` (a dated
  snapshot per time range, merged on the day so a re-run does not double it), ``saved_tracks``,
  ``saved_albums``, ``followed_artists``, ``playlists`` and ``playlist_items`` (current state,
  replaced each run).
* :func:`spotify_catalog_source` (an app token): ``artists``, ``albums``, ``album_tracks`` and
  ``tracks`` for the ids a :class:`CatalogWork` names, merged on their ids; batch endpoints when
  the app has extended quota, single-item endpoints otherwise (or after a 403 on a batch call).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

import dlt
from dlt.sources import DltResource

from .client import JSON, SpotifyClient, SpotifyError, SpotifyHTTPError
from .settings import (
    ALBUM_TRACKS_LIMIT,
    ARTIST_ALBUMS_LIMIT,
    BATCH_LIMITS,
    FOLLOWING_LIMIT,
    PLAYLIST_ITEMS_LIMIT,
    PLAYLISTS_LIMIT,
    RECENTLY_PLAYED_LIMIT,
    SAVED_LIMIT,
    SEARCH_LIMIT,
    TIME_RANGES,
    TOP_LIMIT,
)

__all__ = [
    "BRONZE_TABLES",
    "CatalogWork",
    "ExtractCounters",
    "spotify_catalog_source",
    "spotify_user_source",
]

log = logging.getLogger(__name__)

ApiMode = Literal["auto", "development", "extended"]

PAYLOAD = {"payload": {"data_type": "json", "nullable": False}}
COMMON_COLUMNS: dict[str, Any] = {
    **PAYLOAD,
    "endpoint": {"data_type": "text", "nullable": False},
    "requested_at": {"data_type": "timestamp", "nullable": False},
}

USER_TABLES = (
    "recently_played",
    "top_artists",
    "top_tracks",
    "saved_tracks",
    "saved_albums",
    "followed_artists",
    "playlists",
    "playlist_items",
)
CATALOG_TABLES = ("artists", "albums", "album_tracks", "tracks")
BRONZE_TABLES = USER_TABLES + CATALOG_TABLES


@dataclass
class ExtractCounters:
    """What the sources counted besides rows: skips, warnings, fallbacks."""

    skipped_playlists: int = 0
    missing_ids: int = 0
    batch_fallback: bool = False
    possible_history_gap: bool = False
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        log.warning(message)
        self.warnings.append(message)


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


def _now() -> datetime:
    return datetime.now(UTC)


def _row(payload: JSON, endpoint: str, requested_at: datetime, **keys: Any) -> dict[str, Any]:
    return {**keys, "payload": payload, "endpoint": endpoint, "requested_at": requested_at}


def _parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _entry_object(entry: JSON) -> JSON | None:
    """A playlist entry's track or episode; the 2026 API calls it ``item``, older ones ``track``."""
    obj = entry.get("item", entry.get("track"))
    return obj if isinstance(obj, dict) else None


# ---------------------------------------------------------------------------- user data


@dlt.source(name="spotify_user", max_table_nesting=0)
def spotify_user_source(
    client: SpotifyClient,
    counters: ExtractCounters | None = None,
    snapshot_date: date | None = None,
    time_ranges: Sequence[str] = TIME_RANGES,
) -> Iterable[DltResource]:
    """A listener's own data (needs a user token with the scopes of ``settings.USER_SCOPES``)."""
    counts = counters or ExtractCounters()
    day = snapshot_date or _now().date()

    @dlt.resource(
        name="recently_played",
        primary_key=("played_at", "track_id"),
        write_disposition="append",
        columns={**COMMON_COLUMNS, "played_at": {"data_type": "timestamp", "nullable": False}},
    )
    def recently_played(
        played_at: dlt.sources.incremental[datetime] = dlt.sources.incremental(  # noqa: B008
            "played_at", initial_value=None, last_value_func=max
        ),
    ) -> Iterator[list[dict[str, Any]]]:
        """Plays after the last one loaded; run often enough, no play of the window is lost."""
        params: dict[str, Any] = {"limit": RECENTLY_PLAYED_LIMIT}
        last = played_at.last_value
        if last is not None:
            params["after"] = int(last.timestamp() * 1000)
        endpoint = "/me/player/recently-played"
        next_url: str | None = endpoint
        query: dict[str, Any] | None = params
        while next_url:
            requested_at = _now()
            page = client.get(next_url, query, auth="user")
            rows = []
            for item in page.get("items") or []:
                track = item.get("track") or item.get("item") or {}
                rows.append(
                    _row(
                        item,
                        endpoint,
                        requested_at,
                        played_at=_parse_ts(item["played_at"]),
                        track_id=track.get("id"),
                    )
                )
            if last is not None and len(rows) >= RECENTLY_PLAYED_LIMIT:
                oldest = min(r["played_at"] for r in rows)
                if oldest > last:
                    counts.possible_history_gap = True
                    counts.warn(
                        "recently_played: more than 50 plays since the last run; plays older than "
                        f"{oldest.isoformat()} may be missing (run more often)."
                    )
            yield rows
            # With `after`, Spotify pages forward in time through cursors.after.
            next_url = page.get("next")
            query = None
            if not rows:
                break

    def _top(kind: str) -> Callable[[], Iterator[list[dict[str, Any]]]]:
        def top() -> Iterator[list[dict[str, Any]]]:
            endpoint = f"/me/top/{kind}"
            for time_range in time_ranges:
                rank = 0
                for page in client.paginate(
                    endpoint, {"time_range": time_range, "limit": TOP_LIMIT}, auth="user"
                ):
                    requested_at = _now()
                    rows = []
                    for obj in page.get("items") or []:
                        rank += 1
                        rows.append(
                            _row(
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

        return top

    top_columns = {
        **COMMON_COLUMNS,
        "snapshot_date": {"data_type": "date", "nullable": False},
        "time_range": {"data_type": "text", "nullable": False},
        "rank": {"data_type": "bigint", "nullable": False},
    }
    top_artists = dlt.resource(
        _top("artists"),
        name="top_artists",
        primary_key=("snapshot_date", "time_range", "rank"),
        write_disposition="merge",
        columns=top_columns,
    )
    top_tracks = dlt.resource(
        _top("tracks"),
        name="top_tracks",
        primary_key=("snapshot_date", "time_range", "rank"),
        write_disposition="merge",
        columns=top_columns,
    )

    def _library(
        name: str,
        endpoint: str,
        key: str,
        object_of: Callable[[JSON], JSON | None],
        params: dict[str, Any],
        page_key: str | None = None,
    ) -> DltResource:
        """A list the user keeps (saved tracks, ...): its current state, replaced each run."""

        def items() -> Iterator[list[dict[str, Any]]]:
            for page in client.paginate(endpoint, params, auth="user", key=page_key):
                requested_at = _now()
                rows = []
                for item in page.get("items") or []:
                    obj = object_of(item) if item else None
                    if obj and obj.get("id"):
                        rows.append(_row(item, endpoint, requested_at, **{key: obj["id"]}))
                yield rows

        return dlt.resource(
            items, name=name, primary_key=key, write_disposition="replace", columns=COMMON_COLUMNS
        )

    saved_tracks = _library(
        "saved_tracks", "/me/tracks", "track_id", lambda i: i.get("track"), {"limit": SAVED_LIMIT}
    )
    saved_albums = _library(
        "saved_albums", "/me/albums", "album_id", lambda i: i.get("album"), {"limit": SAVED_LIMIT}
    )
    followed_artists = _library(
        "followed_artists",
        "/me/following",
        "artist_id",
        lambda i: i,
        {"type": "artist", "limit": FOLLOWING_LIMIT},
        page_key="artists",
    )
    playlists = _library(
        "playlists", "/me/playlists", "playlist_id", lambda i: i, {"limit": PLAYLISTS_LIMIT}
    )

    me: dict[str, Any] = {}

    def _me() -> JSON:
        if not me:
            me.update(client.get("/me", auth="user"))
        return me

    @dlt.transformer(
        data_from=playlists,
        name="playlist_items",
        primary_key=("playlist_id", "position"),
        write_disposition="replace",
        columns={**COMMON_COLUMNS, "position": {"data_type": "bigint", "nullable": False}},
    )
    def playlist_items(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
        """Entries of the playlists the user owns or collaborates on (others answer 403)."""
        user_id = _me().get("id")
        for row in rows:
            playlist = row["payload"]
            owner = (playlist.get("owner") or {}).get("id")
            if owner != user_id and not playlist.get("collaborative"):
                continue
            playlist_id = playlist["id"]
            endpoint = "/playlists/{id}/items"
            position = 0
            try:
                for page in client.paginate(
                    f"/playlists/{playlist_id}/items",
                    {"limit": PLAYLIST_ITEMS_LIMIT},
                    auth="user",
                ):
                    requested_at = _now()
                    out = []
                    for entry in page.get("items") or []:
                        # A null entry (a removed track) still holds its position.
                        out.append(
                            _row(
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
                counts.skipped_playlists += 1
                counts.warn(f"playlist {playlist_id}: items not readable (403), skipped")

    return (
        recently_played,
        top_artists,
        top_tracks,
        saved_tracks,
        saved_albums,
        followed_artists,
        playlists,
        playlist_items,
    )


# ---------------------------------------------------------------------------- catalog


def _chunks(ids: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


class _CatalogFetcher:
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
                for chunk in _chunks(pending, size):
                    body = self.client.get(f"/{kind}", {"ids": ",".join(chunk)})
                    for obj in body.get(kind) or []:
                        if obj is None:
                            self.counters.missing_ids += 1
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
        for object_id in pending:
            try:
                obj = self.client.get(f"/{kind}/{object_id}")
            except SpotifyHTTPError as exc:
                if exc.status in (400, 404):
                    self.counters.missing_ids += 1
                    self.counters.warn(f"{kind[:-1]} {object_id}: {exc.status}, skipped")
                    continue
                raise
            yield obj, f"/{kind}/{{id}}"


@dlt.source(name="spotify_catalog", max_table_nesting=0)
def spotify_catalog_source(
    client: SpotifyClient,
    work: CatalogWork,
    api_mode: ApiMode = "auto",
    counters: ExtractCounters | None = None,
    search_pages: int = 1,
) -> Iterable[DltResource]:
    """Catalog objects for the ids in ``work`` (app token; Client Credentials)."""
    counts = counters or ExtractCounters()
    fetcher = _CatalogFetcher(client, api_mode, counts)
    discovered: dict[str, dict[str, None]] = {"artists": {}, "albums": {}, "tracks": {}}

    def _add(kind: str, ids: Iterable[str | None]) -> None:
        for object_id in ids:
            if object_id and object_id not in work.known_ids:
                discovered[kind][object_id] = None

    _add("artists", work.artist_ids)
    _add("albums", work.album_ids)
    _add("tracks", work.track_ids)

    def _discover() -> None:
        """Seeds: the albums of seed artists and the results of search queries."""
        _add("artists", work.seed_artist_ids)
        for artist_id in work.seed_artist_ids:
            try:
                for page in client.paginate(
                    f"/artists/{artist_id}/albums",
                    {"include_groups": "album,single", "limit": ARTIST_ALBUMS_LIMIT},
                ):
                    _add("albums", (a.get("id") for a in page.get("items") or [] if a))
            except SpotifyHTTPError as exc:
                if exc.status not in (400, 404):
                    raise
                counts.warn(f"seed artist {artist_id}: {exc.status}, skipped")
        for query in work.search_queries:
            offset = 0
            for _ in range(search_pages):
                body = client.get(
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
                    _add(kind, (o.get("id") for o in items if o))
                offset += SEARCH_LIMIT
                if not (body.get("tracks") or {}).get("next"):
                    break

    def _rows(table: str, rows: list[dict[str, Any]]) -> Any:
        return dlt.mark.with_hints(rows, dlt.mark.make_hints(**_CATALOG_HINTS[table]))

    @dlt.resource(name="catalog", max_table_nesting=0)
    def catalog() -> Iterator[Any]:
        """Tracks, then albums (and their tracks), then every artist they name, in that order.

        One resource rather than four so that the order holds: the tracks fetched in this run
        name albums and artists, and the albums name artists, which must come in the same run.
        """
        _discover()
        for obj, endpoint in fetcher.fetch("tracks", list(discovered["tracks"])):
            _add("albums", [(obj.get("album") or {}).get("id")])
            _add("artists", (a.get("id") for a in obj.get("artists") or []))
            yield _rows("tracks", [_row(obj, endpoint, _now(), track_id=obj.get("id"))])
        for obj, endpoint in fetcher.fetch("albums", list(discovered["albums"])):
            requested_at = _now()
            album_id = obj["id"]
            _add("artists", (a.get("id") for a in obj.get("artists") or []))
            yield _rows("albums", [_row(obj, endpoint, requested_at, album_id=album_id)])
            yield _rows("album_tracks", list(_album_tracks(obj, endpoint, requested_at)))
        for obj, endpoint in fetcher.fetch("artists", list(discovered["artists"])):
            yield _rows("artists", [_row(obj, endpoint, _now(), artist_id=obj.get("id"))])

    def _album_tracks(album: JSON, endpoint: str, requested_at: datetime) -> Iterator[JSON]:
        """The album's tracks (simplified): its first page and, if longer, the following ones."""
        album_id = album["id"]
        first = album.get("tracks") or {}
        for track in first.get("items") or []:
            if track and track.get("id"):
                yield _row(track, endpoint, requested_at, album_id=album_id, track_id=track["id"])
        if first.get("next"):
            for page in client.paginate(
                f"/albums/{album_id}/tracks",
                {"limit": ALBUM_TRACKS_LIMIT, "offset": len(first.get("items") or [])},
            ):
                page_at = _now()
                for track in page.get("items") or []:
                    if track and track.get("id"):
                        yield _row(
                            track,
                            "/albums/{id}/tracks",
                            page_at,
                            album_id=album_id,
                            track_id=track["id"],
                        )

    return (catalog,)


_CATALOG_HINTS: dict[str, dict[str, Any]] = {
    "albums": {"primary_key": "album_id"},
    "album_tracks": {"primary_key": ("album_id", "track_id")},
    "tracks": {"primary_key": "track_id"},
    "artists": {"primary_key": "artist_id"},
}
for _table, _hints in _CATALOG_HINTS.items():
    _hints.update(table_name=_table, write_disposition="merge", columns=COMMON_COLUMNS)


def is_retryable(exc: BaseException) -> bool:
    """Whether an extraction failure is worth an orchestrator's retry (not a refused credential)."""
    from .client import SpotifyAuthError

    return isinstance(exc, SpotifyError) and not isinstance(exc, SpotifyAuthError)
