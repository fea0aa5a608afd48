"""What bronze already holds, so the catalog step fetches only what is new or stale.

Catalog ids are referenced by the user's data (tracks played, saved, in playlists; their albums
and artists) and by earlier catalog loads (album artists). A full object already present anywhere
in bronze (a full track inside a play, a full artist in the top lists, a full album among the
saved albums) counts as known when it is younger than the refresh age, so it is not fetched again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import psycopg
from psycopg import sql

from extract.spotify import CatalogWork

SCHEMA = "bronze"

# (table, SQL expression of a referenced id) per kind. Expressions read the payload as Spotify
# sent it, in old and new shapes (`track`/`item`).
_TRACK_OBJECTS = {
    "recently_played": "coalesce(payload->'track', payload->'item')",
    "saved_tracks": "payload->'track'",
    "top_tracks": "payload",
    "playlist_items": "coalesce(payload->'item', payload->'track')",
    "tracks": "payload",
}

_FULL_ARTISTS = {"artists": "payload", "top_artists": "payload", "followed_artists": "payload"}
_FULL_ALBUMS = {"albums": "payload", "saved_albums": "payload->'album'"}
# Every place a track occurs holds it in full (the "full" test is a key simplified tracks lack).
_FULL_TRACKS = _TRACK_OBJECTS


@dataclass(frozen=True)
class _Query:
    table: str
    select: str  # SQL selecting one text column "id" (may yield nulls)


def _existing_tables(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (SCHEMA,)
    ).fetchall()
    return {r[0] for r in rows}


def _ids(conn: psycopg.Connection, queries: Sequence[_Query], tables: set[str]) -> set[str]:
    parts = [
        sql.SQL(q.select).format(t=sql.Identifier(SCHEMA, q.table))
        for q in queries
        if q.table in tables
    ]
    if not parts:
        return set()
    union = sql.SQL(" UNION ").join(parts)
    query = sql.SQL("SELECT id FROM ({}) AS ids WHERE id IS NOT NULL").format(union)
    return {r[0] for r in conn.execute(query).fetchall()}


def _fresh_full(
    conn: psycopg.Connection,
    sources: dict[str, str],
    tables: set[str],
    max_age: timedelta,
    kind: str,
) -> set[str]:
    queries = [
        _Query(
            table,
            f"SELECT ({expr})->>'id' AS id FROM {{t}} "
            f"WHERE ({expr})->>'type' = '{kind}' "
            f"AND requested_at >= now() - interval '{int(max_age.total_seconds())} seconds'",
        )
        for table, expr in sources.items()
    ]
    # Full objects carry fields that simplified ones lack.
    marker = {"track": "album", "album": "tracks", "artist": "images"}[kind]
    queries = [
        _Query(q.table, q.select + f" AND ({sources[q.table]}) ? '{marker}'") for q in queries
    ]
    return _ids(conn, queries, tables)


#: Catalog ids the API answered as unknown, with when (written by the extract step).
MISSING_TABLE = "catalog_missing"


def _recently_missing(
    conn: psycopg.Connection, tables: set[str], kind: str, retry_age: timedelta
) -> set[str]:
    if MISSING_TABLE not in tables:
        return set()
    query = sql.SQL("SELECT object_id FROM {} WHERE kind = %s AND missing_at >= now() - %s").format(
        sql.Identifier(SCHEMA, MISSING_TABLE)
    )
    return {r[0] for r in conn.execute(query, (kind, retry_age)).fetchall()}


def catalog_work(
    conn: psycopg.Connection,
    *,
    refresh_age: timedelta,
    seed_artist_ids: Sequence[str] = (),
    search_queries: Sequence[str] = (),
    missing_retry_age: timedelta = timedelta(0),
) -> CatalogWork:
    """The catalog ids referenced in bronze that have no fresh full object there.

    Ids the API answered as unknown less than ``missing_retry_age`` ago are left out.
    """
    tables = _existing_tables(conn)
    track_refs = [
        _Query(t, f"SELECT ({e})->>'id' AS id FROM {{t}} WHERE ({e})->>'type' = 'track'")
        for t, e in _TRACK_OBJECTS.items()
    ] + [_Query("album_tracks", "SELECT track_id AS id FROM {t}")]
    album_refs = [
        _Query(t, f"SELECT ({e})->'album'->>'id' AS id FROM {{t}} WHERE ({e})->>'type' = 'track'")
        for t, e in _TRACK_OBJECTS.items()
    ] + [_Query("saved_albums", "SELECT album_id AS id FROM {t}")]
    artist_refs = (
        [
            _Query(
                t,
                f"SELECT jsonb_array_elements(coalesce(({e})->'artists', '[]'))->>'id' AS id "
                f"FROM {{t}} WHERE ({e})->>'type' = 'track'",
            )
            for t, e in _TRACK_OBJECTS.items()
        ]
        + [
            _Query(
                t,
                "SELECT jsonb_array_elements(coalesce("
                + e
                + "->'artists', '[]'))->>'id' AS id FROM {t}",
            )
            for t, e in _FULL_ALBUMS.items()
        ]
        + [
            _Query("top_artists", "SELECT artist_id AS id FROM {t}"),
            _Query("followed_artists", "SELECT artist_id AS id FROM {t}"),
        ]
    )
    # Only tracks the user data names are fetched in full; album tracks stay simplified rows.
    track_refs = [q for q in track_refs if q.table != "album_tracks"]
    # Plays imported from the privacy export name tracks by URI only.
    track_refs.append(
        _Query(
            "streaming_history",
            "SELECT track_id AS id FROM {t} WHERE kind = 'track' AND track_id IS NOT NULL",
        )
    )

    fresh_tracks = _fresh_full(conn, _FULL_TRACKS, tables, refresh_age, "track")
    fresh_albums = _fresh_full(conn, _FULL_ALBUMS, tables, refresh_age, "album")
    fresh_artists = _fresh_full(conn, _FULL_ARTISTS, tables, refresh_age, "artist")
    tracks = _ids(conn, track_refs, tables) - fresh_tracks
    albums = _ids(conn, album_refs, tables) - fresh_albums
    artists = _ids(conn, artist_refs, tables) - fresh_artists
    if missing_retry_age > timedelta(0):
        tracks -= _recently_missing(conn, tables, "tracks", missing_retry_age)
        albums -= _recently_missing(conn, tables, "albums", missing_retry_age)
        artists -= _recently_missing(conn, tables, "artists", missing_retry_age)
    known_seeds = _fresh_full(conn, {"artists": "payload"}, tables, refresh_age, "artist")
    return CatalogWork(
        known_ids=frozenset(fresh_tracks | fresh_albums | fresh_artists),
        artist_ids=sorted(artists),
        album_ids=sorted(albums),
        track_ids=sorted(tracks),
        seed_artist_ids=[a for a in seed_artist_ids if a not in known_seeds],
        search_queries=list(search_queries),
    )
