"""JSON shapes of the contract, built from catalog records for one request.

Why one rule for both modes: Development Mode drops exactly the properties the contract marks
``deprecated: true`` (Track ``popularity``/``available_markets``/``linked_from``/``preview_url``,
Album ``popularity``/``label``/``available_markets``/``genres``, discography ``album_group``,
Artist ``popularity``/``followers``/``genres``, user ``country``/``email``/``product``/...), and
uses the new names ``items``/``item`` for playlist contents; ``extended`` mode sends every
deprecated property and the old names ``tracks``/``track`` instead. ``is_playable`` (and
``restrictions``) appear only when the request names a market (track relinking), as on Spotify.

Real-data oddities are kept where Spotify has them: local files carry ``null`` ids and hrefs,
removed playlist entries are ``null``, recently-played ``context`` may be ``null``.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus, urlencode

from .catalog import MARKETS, Catalog, Image, Owner, PlaylistEntry
from .config import EmulatorConfig
from .ids import Kind
from .library import Play

Json = dict[str, Any]
OPEN = "https://open.spotify.com"


def iso_seconds(ts: datetime) -> str:
    """``2026-11-24T06:40:28Z`` (added_at style)."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_millis(ms: int) -> str:
    """``2026-11-24T06:40:28.123Z`` (played_at style)."""
    ts = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _images(images: tuple[Image, ...]) -> list[Json]:
    return [{"url": i.url, "height": i.height, "width": i.width} for i in images]


class Serializer:
    """Builds response bodies for one request (base URL, mode, market, scopes)."""

    def __init__(
        self,
        catalog: Catalog,
        config: EmulatorConfig,
        api_base: str,
        *,
        market: str | None = None,
        scopes: frozenset[str] = frozenset(),
    ) -> None:
        self.catalog = catalog
        self.config = config
        self.api = api_base.rstrip("/")
        self.extended = config.mode == "extended"
        self.market = market
        self.scopes = scopes

    # ------------------------------------------------------------------ helpers
    def _ext(self, kind: str, ident: str) -> Json:
        return {"spotify": f"{OPEN}/{kind}/{ident}"}

    def page_url(self, path: str, params: dict[str, str], offset: int, limit: int) -> str:
        query = urlencode({"offset": offset, "limit": limit, **params})
        return f"{self.api}{path}?{query}"

    def paging(
        self,
        path: str,
        params: dict[str, str],
        items: list[Any],
        offset: int,
        limit: int,
        total: int,
    ) -> Json:
        """An offset-paging object with absolute ``href``/``next``/``previous``."""
        return {
            "href": self.page_url(path, params, offset, limit),
            "items": items,
            "limit": limit,
            "next": (
                self.page_url(path, params, offset + limit, limit)
                if offset + limit < total
                else None
            ),
            "offset": offset,
            "previous": (
                self.page_url(path, params, max(0, offset - limit), limit) if offset > 0 else None
            ),
            "total": total,
        }

    # ------------------------------------------------------------------ artists
    def simple_artist(self, index: int) -> Json:
        artist = self.catalog.artist(index)
        return {
            "external_urls": self._ext("artist", artist.id),
            "href": f"{self.api}/artists/{artist.id}",
            "id": artist.id,
            "name": artist.name,
            "type": "artist",
            "uri": f"spotify:artist:{artist.id}",
        }

    def artist(self, index: int) -> Json:
        artist = self.catalog.artist(index)
        body = self.simple_artist(index)
        body["images"] = _images(artist.images)
        if self.extended:
            body["followers"] = {"href": None, "total": artist.followers}
            body["genres"] = list(artist.genres)
            body["popularity"] = artist.popularity
        return body

    # ------------------------------------------------------------------ albums
    def simple_album(self, slot: int, *, discography_of: int | None = None) -> Json:
        album = self.catalog.album(slot)
        body: Json = {
            "album_type": album.album_type,
            "total_tracks": album.track_count,
            "external_urls": self._ext("album", album.id),
            "href": f"{self.api}/albums/{album.id}",
            "id": album.id,
            "images": _images(album.images),
            "name": album.name,
            "release_date": album.release_date,
            "release_date_precision": album.release_date_precision,
            "type": "album",
            "uri": f"spotify:album:{album.id}",
            "artists": [self.simple_artist(album.artist)],
        }
        if self.extended:
            body["available_markets"] = list(album.markets)
            if discography_of is not None:
                body["album_group"] = (
                    album.album_type if album.artist == discography_of else "appears_on"
                )
        return body

    def album(self, slot: int) -> Json:
        album = self.catalog.album(slot)
        body = self.simple_album(slot)
        tracks = self.catalog.album_tracks(slot)
        limit = 50
        body["tracks"] = self.paging(
            f"/albums/{album.id}/tracks",
            {},
            [self.simple_track(t) for t in tracks[:limit]],
            0,
            limit,
            len(tracks),
        )
        body["copyrights"] = [
            {"text": f"© {album.year} {album.label}", "type": "C"},
            {"text": f"℗ {album.year} {album.label}", "type": "P"},
        ]
        body["external_ids"] = {"upc": album.upc}
        if self.extended:
            body["genres"] = []
            body["label"] = album.label
            body["popularity"] = album.popularity
        return body

    # ------------------------------------------------------------------ tracks
    def _track_common(self, slot: int) -> Json:
        track = self.catalog.track(slot)
        body: Json = {
            "artists": [self.simple_artist(a) for a in track.artists],
            "disc_number": track.disc_number,
            "duration_ms": track.duration_ms,
            "explicit": track.explicit,
            "external_urls": self._ext("track", track.id),
            "href": f"{self.api}/tracks/{track.id}",
            "id": track.id,
            "name": track.name,
            "track_number": track.track_number,
            "type": "track",
            "uri": f"spotify:track:{track.id}",
            "is_local": False,
        }
        if self.market is not None:
            body["is_playable"] = track.playable
            if not track.playable:
                body["restrictions"] = {"reason": "market"}
        if self.extended:
            body["available_markets"] = list(self.catalog.album(track.album).markets)
            body["preview_url"] = track.preview_url
            if self.market is not None and track.relinked:
                # Track relinking: the requested track was replaced by an equivalent one.
                original = f"{track.id[:-4]}{track.id[-4:][::-1]}"
                body["linked_from"] = {
                    "external_urls": self._ext("track", original),
                    "href": f"{self.api}/tracks/{original}",
                    "id": original,
                    "type": "track",
                    "uri": f"spotify:track:{original}",
                }
        return body

    def simple_track(self, slot: int) -> Json:
        return self._track_common(slot)

    def track(self, slot: int) -> Json:
        track = self.catalog.track(slot)
        body = self._track_common(slot)
        body["album"] = self.simple_album(track.album)
        body["external_ids"] = {"isrc": track.isrc}
        if self.extended:
            body["popularity"] = track.popularity
        return body

    def local_track(self, entry: PlaylistEntry) -> Json:
        """A local file as Spotify sends it: ids, hrefs and album fields are null."""
        seconds = entry.local_duration_ms // 1000
        uri = "spotify:local:" + ":".join(
            quote_plus(part) for part in (entry.local_artist, entry.local_album, entry.local_name)
        )
        album: Json = {
            "album_type": None,
            "total_tracks": 0,
            "external_urls": {},
            "href": None,
            "id": None,
            "images": [],
            "name": entry.local_album,
            "release_date": None,
            "release_date_precision": None,
            "type": "album",
            "uri": None,
            "artists": [],
        }
        body: Json = {
            "album": album,
            "artists": [
                {
                    "external_urls": {},
                    "href": None,
                    "id": None,
                    "name": entry.local_artist,
                    "type": "artist",
                    "uri": None,
                }
            ],
            "disc_number": 0,
            "duration_ms": entry.local_duration_ms,
            "explicit": False,
            "external_ids": {},
            "external_urls": {},
            "href": None,
            "id": None,
            "is_local": True,
            "name": entry.local_name,
            "track_number": 0,
            "type": "track",
            "uri": f"{uri}:{seconds}",
        }
        if self.extended:
            album["available_markets"] = []
            body["available_markets"] = []
            body["popularity"] = 0
            body["preview_url"] = None
        return body

    # ------------------------------------------------------------------ shows and episodes
    def simple_show(self, index: int) -> Json:
        show = self.catalog.show(index)
        body: Json = {
            "copyrights": [],
            "description": show.description,
            "html_description": f"<p>{show.description}</p>",
            "explicit": show.explicit,
            "external_urls": self._ext("show", show.id),
            "href": f"{self.api}/shows/{show.id}",
            "id": show.id,
            "images": _images(show.images),
            "is_externally_hosted": False,
            "languages": list(show.languages),
            "media_type": "audio",
            "name": show.name,
            "type": "show",
            "uri": f"spotify:show:{show.id}",
            "total_episodes": show.total_episodes,
        }
        if self.extended:
            body["available_markets"] = list(show.markets)
            body["publisher"] = show.publisher
        return body

    def simple_episode(self, slot: int) -> Json:
        episode = self.catalog.episode(slot)
        body: Json = {
            "description": episode.description,
            "html_description": f"<p>{episode.description}</p>",
            "duration_ms": episode.duration_ms,
            "explicit": episode.explicit,
            "external_urls": self._ext("episode", episode.id),
            "href": f"{self.api}/episodes/{episode.id}",
            "id": episode.id,
            "images": _images(episode.images),
            "is_externally_hosted": False,
            "is_playable": True,
            "languages": list(episode.languages),
            "name": episode.name,
            "release_date": episode.release_date,
            "release_date_precision": episode.release_date_precision,
            "type": "episode",
            "uri": f"spotify:episode:{episode.id}",
        }
        if self.extended:
            body["audio_preview_url"] = None
            body["language"] = episode.languages[0]
        return body

    def episode(self, slot: int) -> Json:
        body = self.simple_episode(slot)
        body["show"] = self.simple_show(self.catalog.episode(slot).show)
        return body

    # ------------------------------------------------------------------ users and playlists
    def playlist_user(self, owner: Owner) -> Json:
        return {
            "external_urls": self._ext("user", owner.id),
            "href": f"{self.api}/users/{owner.id}",
            "id": owner.id,
            "type": "user",
            "uri": f"spotify:user:{owner.id}",
        }

    def playlist_owner(self, owner: Owner) -> Json:
        return {**self.playlist_user(owner), "display_name": owner.display_name}

    def public_user(self, owner: Owner) -> Json:
        body = {**self.playlist_owner(owner), "images": []}
        if self.extended:
            body["followers"] = {"href": None, "total": 0 if owner.id != "spotify" else 10**7}
        return body

    def private_user(self) -> Json:
        cfg = self.config
        owner = Owner(cfg.user_id, cfg.user_display_name)
        body: Json = {
            "account_id": self.catalog.codec.encode(Kind.USER, 1)[:10],
            **self.playlist_owner(owner),
            "images": [],
        }
        if self.extended:
            body["followers"] = {"href": None, "total": 3}
            if "user-read-private" in self.scopes:
                body["country"] = cfg.user_country
                body["product"] = "premium"
                body["explicit_content"] = {"filter_enabled": False, "filter_locked": False}
            if "user-read-email" in self.scopes:
                body["email"] = f"{cfg.user_id}@example.invalid"
        return body

    def _contents_ref(self, playlist_id: str, total: int) -> tuple[str, Json]:
        if self.extended:
            return "tracks", {"href": f"{self.api}/playlists/{playlist_id}/tracks", "total": total}
        return "items", {"href": f"{self.api}/playlists/{playlist_id}/items", "total": total}

    def simple_playlist(self, index: int) -> Json:
        playlist = self.catalog.playlist(index)
        name, ref = self._contents_ref(playlist.id, playlist.item_count)
        return {
            "collaborative": playlist.collaborative,
            "description": playlist.description,
            "external_urls": self._ext("playlist", playlist.id),
            "href": f"{self.api}/playlists/{playlist.id}",
            "id": playlist.id,
            "images": _images(playlist.images),
            "name": playlist.name,
            "owner": self.playlist_owner(playlist.owner),
            "public": playlist.public,
            "snapshot_id": playlist.snapshot_id,
            name: ref,
            "type": "playlist",
            "uri": f"spotify:playlist:{playlist.id}",
        }

    def playlist(self, index: int, *, include_items: bool) -> Json:
        playlist = self.catalog.playlist(index)
        body = self.simple_playlist(index)
        body.pop("items", None)
        body.pop("tracks", None)
        body["followers"] = {"href": None, "total": playlist.followers}
        if self.extended:
            limit = 100
            body["tracks"] = self.playlist_page(index, 0, limit, path_suffix="tracks")
        elif include_items:
            limit = 50
            body["items"] = self.playlist_page(index, 0, limit, path_suffix="items")
        return body

    def playlist_entry(self, entry: PlaylistEntry) -> Json:
        item: Json | None
        if entry.kind == "track":
            item = self.track(entry.index)
        elif entry.kind == "episode":
            item = self.episode(entry.index)
        elif entry.kind == "local":
            item = self.local_track(entry)
        else:
            item = None
        return {
            "added_at": iso_seconds(entry.added_at),
            "added_by": self.playlist_user(entry.added_by),
            "is_local": entry.kind == "local",
            ("track" if self.extended else "item"): item,
        }

    def playlist_page(
        self,
        index: int,
        offset: int,
        limit: int,
        *,
        path_suffix: str,
        params: dict[str, str] | None = None,
    ) -> Json:
        playlist = self.catalog.playlist(index)
        entries = self.catalog.playlist_entries(index, offset, limit)
        return self.paging(
            f"/playlists/{playlist.id}/{path_suffix}",
            params or {},
            [self.playlist_entry(e) for e in entries],
            offset,
            limit,
            playlist.item_count,
        )

    # ------------------------------------------------------------------ player
    def context(self, context: tuple[str, int] | None) -> Json | None:
        if context is None:
            return None
        kind, index = context
        ident = {
            "album": lambda: self.catalog.album(index).id,
            "playlist": lambda: self.catalog.playlist(index).id,
            "artist": lambda: self.catalog.artist(index).id,
        }[kind]()
        return {
            "type": kind,
            "href": f"{self.api}/{kind}s/{ident}",
            "external_urls": self._ext(kind, ident),
            "uri": f"spotify:{kind}:{ident}",
        }

    def play(self, play: Play) -> Json:
        return {
            "track": self.track(play.track),
            "played_at": iso_millis(play.played_at_ms),
            "context": self.context(play.context),
        }

    def audio_features(self, slot: int) -> Json:
        track = self.catalog.track(slot)
        rng = random.Random(f"{self.catalog.seed}:features:{slot}")
        return {
            "acousticness": round(rng.random(), 4),
            "analysis_url": f"{self.api}/audio-analysis/{track.id}",
            "danceability": round(rng.random(), 3),
            "duration_ms": track.duration_ms,
            "energy": round(rng.random(), 3),
            "id": track.id,
            "instrumentalness": round(rng.random() ** 3, 4),
            "key": rng.randint(-1, 11),
            "liveness": round(rng.random() * 0.5, 4),
            "loudness": round(-30 + 28 * rng.random(), 3),
            "mode": rng.randint(0, 1),
            "speechiness": round(rng.random() * 0.4, 4),
            "tempo": round(60 + 120 * rng.random(), 3),
            "time_signature": rng.choice((3, 4, 4, 4, 5)),
            "track_href": f"{self.api}/tracks/{track.id}",
            "type": "audio_features",
            "uri": f"spotify:track:{track.id}",
            "valence": round(rng.random(), 3),
        }


__all__ = ["MARKETS", "Json", "Serializer", "iso_millis", "iso_seconds"]
