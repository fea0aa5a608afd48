"""Web API endpoint handlers (base path ``/v1``), one function per contract operation.

Why hand-parsed parameters: Spotify answers bad input with its own error body
(``{"error": {"status": 400, "message": "Invalid limit"}}``), not FastAPI's 422, so every
handler reads its query itself through the helpers below and raises :class:`ApiError`.
Cross-cutting concerns (rate limit, faults, auth, scopes, mode) live in :mod:`app`; a handler
only sees an authenticated :class:`Ctx`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams

from .accounts import AccessToken
from .catalog import MARKETS, Catalog
from .clock import Clock
from .config import EmulatorConfig
from .ids import Kind, is_base62_id
from .library import TIME_RANGES, Library
from .serialize import Json, Serializer, iso_seconds


class ApiError(Exception):
    """An error answered as ``{"error": {"status", "message"[, "reason"]}}``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.headers = headers or {}

    def body(self) -> Json:
        error: Json = {"status": self.status, "message": self.message}
        if self.reason is not None:
            error["reason"] = self.reason
        return {"error": error}


@dataclass
class Ctx:
    """Everything a handler needs for one authenticated request."""

    query: QueryParams
    path: dict[str, str]
    token: AccessToken
    ser: Serializer
    catalog: Catalog
    library: Library
    clock: Clock
    config: EmulatorConfig


Handler = Callable[[Ctx], Any]


@dataclass(frozen=True)
class Route:
    """A contract operation the emulator serves."""

    path: str
    handler: Handler
    removed_in_development: bool = False
    """Development Mode answers 403 (the 2026 removals)."""
    removed_everywhere: bool = False
    """Answered 403 in both modes (see the package docstring)."""
    needs_user: bool = False
    scopes_any: tuple[str, ...] = ()
    """The token must carry at least one of these scopes."""


# ---------------------------------------------------------------------- parameter helpers
def int_param(ctx: Ctx, name: str, default: int, low: int, high: int | None) -> int:
    raw = ctx.query.get(name)
    message = f"Invalid {name}"
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"-?\d+", raw):
        raise ApiError(400, message)
    value = int(raw)
    if value < low or (high is not None and value > high):
        raise ApiError(400, message)
    return value


def page_params(
    ctx: Ctx, *, default: int = 20, maximum: int = 50, max_offset: int | None = None
) -> tuple[int, int]:
    limit = int_param(ctx, "limit", default, 1, maximum)
    offset = int_param(ctx, "offset", 0, 0, max_offset)
    return offset, limit


def lookup(ctx: Ctx, kind: Kind, value: str) -> int:
    """Index of the object behind a path id: 400 if malformed, 404 if unknown."""
    if not is_base62_id(value):
        raise ApiError(400, "invalid id")
    index = ctx.catalog.lookup(kind, value)
    if index is None:
        raise ApiError(404, "Resource not found")
    return index


def passthrough(ctx: Ctx, *names: str) -> dict[str, str]:
    """Query parameters to repeat in paging links."""
    return {n: ctx.query[n] for n in names if ctx.query.get(n)}


def batch(ctx: Ctx, kind: Kind, maximum: int) -> list[int | None]:
    raw = ctx.query.get("ids")
    if not raw:
        raise ApiError(400, "Missing required field: ids")
    ids = raw.split(",")
    if len(ids) > maximum:
        raise ApiError(400, "Too many ids requested")
    if not all(is_base62_id(i) for i in ids):
        raise ApiError(400, "invalid id")
    return [ctx.catalog.lookup(kind, i) for i in ids]


# ---------------------------------------------------------------------- catalog endpoints
def get_artist(ctx: Ctx) -> Json:
    return ctx.ser.artist(lookup(ctx, Kind.ARTIST, ctx.path["id"]))


def get_artists(ctx: Ctx) -> Json:
    found = batch(ctx, Kind.ARTIST, 50)
    return {"artists": [None if i is None else ctx.ser.artist(i) for i in found]}


_GROUPS = ("album", "single", "appears_on", "compilation")


def get_artist_albums(ctx: Ctx) -> Json:
    artist = lookup(ctx, Kind.ARTIST, ctx.path["id"])
    offset, limit = page_params(ctx, default=5, maximum=10)
    raw_groups = ctx.query.get("include_groups")
    groups = set(_GROUPS)
    if raw_groups:
        groups = {g.strip() for g in raw_groups.split(",") if g.strip()}
        if not groups <= set(_GROUPS):
            raise ApiError(400, "Invalid include_groups")
    albums = [
        a for a in ctx.catalog.artist_albums(artist) if ctx.catalog.album(a).album_type in groups
    ]
    items = [
        ctx.ser.simple_album(a, discography_of=artist) for a in albums[offset : offset + limit]
    ]
    path = f"/artists/{ctx.catalog.artist(artist).id}/albums"
    return ctx.ser.paging(
        path, passthrough(ctx, "include_groups", "market"), items, offset, limit, len(albums)
    )


def get_artist_top_tracks(ctx: Ctx) -> Json:
    artist = lookup(ctx, Kind.ARTIST, ctx.path["id"])
    tracks = [t for a in ctx.catalog.artist_albums(artist) for t in ctx.catalog.album_tracks(a)]
    tracks.sort(key=lambda t: -ctx.catalog.track(t).popularity)
    return {"tracks": [ctx.ser.track(t) for t in tracks[:10]]}


def get_related_artists(ctx: Ctx) -> Json:
    artist = lookup(ctx, Kind.ARTIST, ctx.path["id"])
    return {"artists": [ctx.ser.artist(a) for a in ctx.catalog.related_artists(artist)]}


def get_album(ctx: Ctx) -> Json:
    return ctx.ser.album(lookup(ctx, Kind.ALBUM, ctx.path["id"]))


def get_albums(ctx: Ctx) -> Json:
    found = batch(ctx, Kind.ALBUM, 20)
    return {"albums": [None if i is None else ctx.ser.album(i) for i in found]}


def get_album_tracks(ctx: Ctx) -> Json:
    album = lookup(ctx, Kind.ALBUM, ctx.path["id"])
    offset, limit = page_params(ctx)
    tracks = ctx.catalog.album_tracks(album)
    items = [ctx.ser.simple_track(t) for t in tracks[offset : offset + limit]]
    path = f"/albums/{ctx.catalog.album(album).id}/tracks"
    return ctx.ser.paging(path, passthrough(ctx, "market"), items, offset, limit, len(tracks))


def get_track(ctx: Ctx) -> Json:
    return ctx.ser.track(lookup(ctx, Kind.TRACK, ctx.path["id"]))


def get_tracks(ctx: Ctx) -> Json:
    found = batch(ctx, Kind.TRACK, 50)
    return {"tracks": [None if i is None else ctx.ser.track(i) for i in found]}


def get_audio_features(ctx: Ctx) -> Json:
    return ctx.ser.audio_features(lookup(ctx, Kind.TRACK, ctx.path["id"]))


def get_several_audio_features(ctx: Ctx) -> Json:
    found = batch(ctx, Kind.TRACK, 100)
    return {"audio_features": [None if i is None else ctx.ser.audio_features(i) for i in found]}


def get_markets(ctx: Ctx) -> Json:
    return {"markets": list(MARKETS)}


def get_new_releases(ctx: Ctx) -> Json:
    offset, limit = page_params(ctx)
    total = min(100, ctx.catalog.n_artists)
    albums = ctx.catalog.search_page("tag:new", "album", offset, limit)
    items = [ctx.ser.simple_album(a) for a in albums]
    return {"albums": ctx.ser.paging("/browse/new-releases", {}, items, offset, limit, total)}


_SEARCH_TYPES = ("album", "artist", "playlist", "track", "show", "episode", "audiobook")


def search(ctx: Ctx) -> Json:
    query = ctx.query.get("q")
    if not query or not query.strip():
        raise ApiError(400, "No search query")
    raw_types = ctx.query.get("type")
    if not raw_types:
        raise ApiError(400, "Missing parameter type")
    types = [t.strip() for t in raw_types.split(",")]
    if not types or any(t not in _SEARCH_TYPES for t in types):
        raise ApiError(400, "Bad search type field")
    offset, limit = page_params(ctx, default=5, maximum=10, max_offset=1000)
    catalog, ser = ctx.catalog, ctx.ser
    body: Json = {}
    for kind in dict.fromkeys(types):
        params = {"q": query, "type": kind, **passthrough(ctx, "market")}
        if kind in ("show", "episode", "audiobook"):
            total = 0 if kind == "audiobook" else min(catalog.n_shows, 40)
            items: list[Json] = []
            for i in range(offset, min(offset + limit, total)):
                show = (i * 7 + len(query)) % catalog.n_shows
                if kind == "show":
                    items.append(ser.simple_show(show))
                else:
                    items.append(ser.simple_episode(catalog.show_episodes(show)[0]))
        else:
            total = catalog.search_total(query, kind)
            hits = catalog.search_page(query, kind, offset, limit)
            builders: dict[str, Callable[[int], Json]] = {
                "artist": ser.artist,
                "album": lambda slot: ser.simple_album(slot),
                "track": ser.track,
                "playlist": ser.simple_playlist,
            }
            build = builders[kind]
            items = [build(h) for h in hits]
        body[f"{kind}s"] = ser.paging("/search", params, items, offset, limit, total)
    return body


# ---------------------------------------------------------------------- playlists
def get_playlist(ctx: Ctx) -> Json:
    playlist = lookup(ctx, Kind.PLAYLIST, ctx.path["playlist_id"])
    readable = ctx.token.user_id is not None and ctx.catalog.user_can_read_items(playlist)
    return ctx.ser.playlist(playlist, include_items=readable)


def _playlist_items(ctx: Ctx, suffix: str, maximum: int) -> Json:
    playlist = lookup(ctx, Kind.PLAYLIST, ctx.path["playlist_id"])
    offset, limit = page_params(ctx, maximum=maximum)
    if suffix == "items" and not (
        ctx.token.user_id is not None and ctx.catalog.user_can_read_items(playlist)
    ):
        raise ApiError(403, "Forbidden")
    params = passthrough(ctx, "market", "additional_types")
    return ctx.ser.playlist_page(playlist, offset, limit, path_suffix=suffix, params=params)


def get_playlist_items(ctx: Ctx) -> Json:
    return _playlist_items(ctx, "items", 50)


def get_playlist_tracks(ctx: Ctx) -> Json:
    return _playlist_items(ctx, "tracks", 100)


def _user_playlists(ctx: Ctx, playlists: list[int], path: str) -> Json:
    offset, limit = page_params(ctx, max_offset=100_000)
    items = [ctx.ser.simple_playlist(p) for p in playlists[offset : offset + limit]]
    return ctx.ser.paging(path, {}, items, offset, limit, len(playlists))


def get_my_playlists(ctx: Ctx) -> Json:
    return _user_playlists(ctx, ctx.library.playlists, "/me/playlists")


def get_user(ctx: Ctx) -> Json:
    user_id = ctx.path["user_id"]
    if user_id == ctx.config.user_id:
        return ctx.ser.public_user(ctx.catalog.user)
    index = ctx.catalog.user_index(user_id)
    if index is None:
        raise ApiError(404, "Resource not found")
    return ctx.ser.public_user(ctx.catalog.other_user(index))


def get_user_playlists(ctx: Ctx) -> Json:
    user_id = ctx.path["user_id"]
    if user_id == ctx.config.user_id:
        playlists = [p for p in ctx.library.playlists if p < ctx.catalog.owned_playlists]
    else:
        index = ctx.catalog.user_index(user_id)
        if index is None:
            raise ApiError(404, "Resource not found")
        playlists = ctx.catalog.playlists_owned_by(index)
    return _user_playlists(ctx, playlists, f"/users/{user_id}/playlists")


# ---------------------------------------------------------------------- the user
def get_me(ctx: Ctx) -> Json:
    return ctx.ser.private_user()


def get_saved_tracks(ctx: Ctx) -> Json:
    offset, limit = page_params(ctx)
    saved = ctx.library.saved_tracks
    items = [
        {"added_at": iso_seconds(s.added_at), "track": ctx.ser.track(s.index)}
        for s in saved[offset : offset + limit]
    ]
    return ctx.ser.paging(
        "/me/tracks", passthrough(ctx, "market"), items, offset, limit, len(saved)
    )


def get_saved_albums(ctx: Ctx) -> Json:
    offset, limit = page_params(ctx)
    saved = ctx.library.saved_albums
    items = [
        {"added_at": iso_seconds(s.added_at), "album": ctx.ser.album(s.index)}
        for s in saved[offset : offset + limit]
    ]
    return ctx.ser.paging(
        "/me/albums", passthrough(ctx, "market"), items, offset, limit, len(saved)
    )


def _time_range(ctx: Ctx) -> str:
    value = ctx.query.get("time_range") or "medium_term"
    if value not in TIME_RANGES:
        raise ApiError(400, "Invalid time range")
    return value


def get_top_artists(ctx: Ctx) -> Json:
    time_range = _time_range(ctx)
    offset, limit = page_params(ctx)
    ranked = ctx.library.top_artists[time_range]
    items = [ctx.ser.artist(a) for a in ranked[offset : offset + limit]]
    return ctx.ser.paging(
        "/me/top/artists", {"time_range": time_range}, items, offset, limit, len(ranked)
    )


def get_top_tracks(ctx: Ctx) -> Json:
    time_range = _time_range(ctx)
    offset, limit = page_params(ctx)
    ranked = ctx.library.top_tracks[time_range]
    items = [ctx.ser.track(t) for t in ranked[offset : offset + limit]]
    return ctx.ser.paging(
        "/me/top/tracks", {"time_range": time_range}, items, offset, limit, len(ranked)
    )


def get_followed(ctx: Ctx) -> Json:
    if ctx.query.get("type") != "artist":
        raise ApiError(400, "Bad type, only artist is supported")
    limit = int_param(ctx, "limit", 20, 1, 50)
    after = ctx.query.get("after")
    followed = ctx.library.followed
    ids = [ctx.catalog.artist(a).id for a in followed]
    start = 0
    if after:
        if not is_base62_id(after):
            raise ApiError(400, "invalid id")
        start = next((i for i, ident in enumerate(ids) if ident > after), len(ids))
    page = followed[start : start + limit]
    more = start + limit < len(followed)
    base = ctx.ser.api
    params = f"type=artist&limit={limit}"
    last = ids[start + len(page) - 1] if page else None
    return {
        "artists": {
            "href": f"{base}/me/following?{params}" + (f"&after={after}" if after else ""),
            "items": [ctx.ser.artist(a) for a in page],
            "limit": limit,
            "next": f"{base}/me/following?{params}&after={last}" if more and last else None,
            "cursors": {"after": last if more else None},
            "total": len(followed),
        }
    }


def get_recently_played(ctx: Ctx) -> Json:
    limit = int_param(ctx, "limit", 20, 1, 50)
    after_raw, before_raw = ctx.query.get("after"), ctx.query.get("before")
    if after_raw and before_raw:
        raise ApiError(400, "Only one of after and before may be specified")
    after = int_param(ctx, "after", 0, 0, None) if after_raw else None
    before = int_param(ctx, "before", 0, 0, None) if before_raw else None
    visible = ctx.library.recent_plays(ctx.clock.now_ms())  # newest first
    if after is not None:
        newer = [p for p in visible if p.played_at_ms > after]
        page = newer[-limit:]  # the plays right after the cursor
        more = len(newer) > len(page)
    else:
        older = [p for p in visible if before is None or p.played_at_ms < before]
        page = older[:limit]
        more = len(older) > len(page)
    base = f"{ctx.ser.api}/me/player/recently-played"
    href = f"{base}?limit={limit}"
    if after is not None:
        href += f"&after={after}"
    elif before is not None:
        href += f"&before={before}"
    cursors: Json | None = None
    next_url: str | None = None
    if page:
        newest, oldest = page[0].played_at_ms, page[-1].played_at_ms
        cursors = {"after": str(newest), "before": str(oldest)}
        if more:
            next_url = (
                f"{base}?limit={limit}&after={newest}"
                if after is not None
                else f"{base}?limit={limit}&before={oldest}"
            )
    return {
        "items": [ctx.ser.play(p) for p in page],
        "next": next_url,
        "cursors": cursors,
        "limit": limit,
        "href": href,
    }


def removed(ctx: Ctx) -> Json:
    """Operations withdrawn from every new app (audio analysis, recommendations, browse)."""
    raise ApiError(403, "Forbidden")


# ---------------------------------------------------------------------- the route table
_PLAYLIST_SCOPES = ("playlist-read-private", "playlist-read-collaborative")

ROUTES: tuple[Route, ...] = (
    Route("/search", search),
    Route("/artists", get_artists, removed_in_development=True),
    Route("/artists/{id}", get_artist),
    Route("/artists/{id}/albums", get_artist_albums),
    Route("/artists/{id}/top-tracks", get_artist_top_tracks, removed_in_development=True),
    Route("/artists/{id}/related-artists", get_related_artists, removed_in_development=True),
    Route("/albums", get_albums, removed_in_development=True),
    Route("/albums/{id}", get_album),
    Route("/albums/{id}/tracks", get_album_tracks),
    Route("/tracks", get_tracks, removed_in_development=True),
    Route("/tracks/{id}", get_track),
    Route("/audio-features", get_several_audio_features, removed_in_development=True),
    Route("/audio-features/{id}", get_audio_features, removed_in_development=True),
    Route("/audio-analysis/{id}", removed, removed_everywhere=True),
    Route("/recommendations", removed, removed_everywhere=True),
    Route("/recommendations/available-genre-seeds", removed, removed_everywhere=True),
    Route("/markets", get_markets, removed_in_development=True),
    Route("/browse/new-releases", get_new_releases, removed_in_development=True),
    Route("/browse/featured-playlists", removed, removed_everywhere=True),
    Route("/browse/categories", removed, removed_everywhere=True),
    Route("/browse/categories/{category_id}", removed, removed_everywhere=True),
    Route("/browse/categories/{category_id}/playlists", removed, removed_everywhere=True),
    Route("/playlists/{playlist_id}", get_playlist),
    Route(
        "/playlists/{playlist_id}/items",
        get_playlist_items,
        needs_user=True,
        scopes_any=_PLAYLIST_SCOPES,
    ),
    Route("/playlists/{playlist_id}/tracks", get_playlist_tracks, removed_in_development=True),
    Route("/users/{user_id}", get_user, removed_in_development=True),
    Route("/users/{user_id}/playlists", get_user_playlists, removed_in_development=True),
    Route("/me", get_me, needs_user=True),
    Route("/me/playlists", get_my_playlists, needs_user=True, scopes_any=_PLAYLIST_SCOPES),
    Route("/me/tracks", get_saved_tracks, needs_user=True, scopes_any=("user-library-read",)),
    Route("/me/albums", get_saved_albums, needs_user=True, scopes_any=("user-library-read",)),
    Route("/me/top/artists", get_top_artists, needs_user=True, scopes_any=("user-top-read",)),
    Route("/me/top/tracks", get_top_tracks, needs_user=True, scopes_any=("user-top-read",)),
    Route("/me/following", get_followed, needs_user=True, scopes_any=("user-follow-read",)),
    Route(
        "/me/player/recently-played",
        get_recently_played,
        needs_user=True,
        scopes_any=("user-read-recently-played",),
    ),
)
