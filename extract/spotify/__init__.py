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

import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import dlt
from dlt.sources import DltResource

from .client import SpotifyClient
from .helpers import (
    ApiMode,
    CatalogCrawl,
    CatalogFetcher,
    CatalogRow,
    CatalogWork,
    CurrentUser,
    ExtractCounters,
    Rows,
    library_pages,
    now,
    playlist_item_pages,
    recently_played_pages,
    top_pages,
)
from .settings import (
    FOLLOWING_LIMIT,
    PLAYLISTS_LIMIT,
    SAVED_LIMIT,
    TIME_RANGES,
)
from .staging import DLT_COLUMNS, BronzeStager

__all__ = [
    "BRONZE_TABLES",
    "CatalogRow",
    "CatalogWork",
    "ExtractCounters",
    "catalog_resource",
    "spotify_catalog_source",
    "spotify_user_source",
]

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


# ---------------------------------------------------------------------------- user data

TOP_COLUMNS: dict[str, Any] = {
    **COMMON_COLUMNS,
    "snapshot_date": {"data_type": "date", "nullable": False},
    "time_range": {"data_type": "text", "nullable": False},
    "rank": {"data_type": "bigint", "nullable": False},
}


@dlt.resource(
    name="recently_played",
    primary_key=("played_at", "track_id"),
    # Insert-only merge: a play already in bronze is never loaded twice, whichever pipeline
    # (the CLI's, or an Airflow shard's with its own cursor) fetched the window again.
    write_disposition={"disposition": "merge", "strategy": "insert-only"},
    columns={**COMMON_COLUMNS, "played_at": {"data_type": "timestamp", "nullable": False}},
)
def recently_played(
    client: SpotifyClient,
    counters: ExtractCounters,
    played_at: dlt.sources.incremental[datetime] = dlt.sources.incremental(  # noqa: B008
        "played_at", initial_value=None, last_value_func=max
    ),
) -> Rows:
    """Plays after the last one loaded; run often enough, no play of the window is lost."""
    yield from recently_played_pages(client, played_at.last_value, counters)


@dlt.resource(
    name="top_artists",
    primary_key=("snapshot_date", "time_range", "rank"),
    write_disposition="merge",
    columns=TOP_COLUMNS,
)
def top_artists(client: SpotifyClient, day: date, time_ranges: Sequence[str]) -> Rows:
    """The listener's top artists per time range: a snapshot of ``day``, merged on the day."""
    yield from top_pages(client, "artists", day, time_ranges)


@dlt.resource(
    name="top_tracks",
    primary_key=("snapshot_date", "time_range", "rank"),
    write_disposition="merge",
    columns=TOP_COLUMNS,
)
def top_tracks(client: SpotifyClient, day: date, time_ranges: Sequence[str]) -> Rows:
    """The listener's top tracks per time range: a snapshot of ``day``, merged on the day."""
    yield from top_pages(client, "tracks", day, time_ranges)


@dlt.resource(
    name="saved_tracks", primary_key="track_id", write_disposition="replace", columns=COMMON_COLUMNS
)
def saved_tracks(client: SpotifyClient) -> Rows:
    """The listener's saved tracks: their current state, replaced each run."""
    yield from library_pages(
        client, "/me/tracks", "track_id", lambda i: i.get("track"), {"limit": SAVED_LIMIT}
    )


@dlt.resource(
    name="saved_albums", primary_key="album_id", write_disposition="replace", columns=COMMON_COLUMNS
)
def saved_albums(client: SpotifyClient) -> Rows:
    """The listener's saved albums: their current state, replaced each run."""
    yield from library_pages(
        client, "/me/albums", "album_id", lambda i: i.get("album"), {"limit": SAVED_LIMIT}
    )


@dlt.resource(
    name="followed_artists",
    primary_key="artist_id",
    write_disposition="replace",
    columns=COMMON_COLUMNS,
)
def followed_artists(client: SpotifyClient) -> Rows:
    """The artists the listener follows: their current state, replaced each run."""
    yield from library_pages(
        client,
        "/me/following",
        "artist_id",
        lambda i: i,
        {"type": "artist", "limit": FOLLOWING_LIMIT},
        page_key="artists",
    )


@dlt.resource(
    name="playlists", primary_key="playlist_id", write_disposition="replace", columns=COMMON_COLUMNS
)
def playlists(client: SpotifyClient) -> Rows:
    """The listener's playlists: their current state, replaced each run."""
    yield from library_pages(
        client, "/me/playlists", "playlist_id", lambda i: i, {"limit": PLAYLISTS_LIMIT}
    )


@dlt.transformer(
    name="playlist_items",
    primary_key=("playlist_id", "position"),
    write_disposition="replace",
    columns={**COMMON_COLUMNS, "position": {"data_type": "bigint", "nullable": False}},
)
def playlist_items(
    rows: list[dict[str, Any]],
    client: SpotifyClient,
    user: CurrentUser,
    counters: ExtractCounters,
) -> Rows:
    """Entries of the playlists the listener owns or collaborates on (others answer 403)."""
    yield from playlist_item_pages(client, rows, user, counters)


@dlt.source(name="spotify_user", max_table_nesting=0)
def spotify_user_source(
    client: SpotifyClient,
    counters: ExtractCounters | None = None,
    snapshot_date: date | None = None,
    time_ranges: Sequence[str] = TIME_RANGES,
) -> Iterable[DltResource]:
    """A listener's own data.

    Needs a user token with the scopes ``user-read-recently-played``, ``user-top-read``,
    ``user-library-read``, ``playlist-read-private``, ``playlist-read-collaborative`` and
    ``user-follow-read`` (the login must ask for them).
    """
    counts = counters or ExtractCounters()
    day = snapshot_date or now().date()
    lists = playlists(client)
    return (
        recently_played(client, counts),
        top_artists(client, day, time_ranges),
        top_tracks(client, day, time_ranges),
        saved_tracks(client),
        saved_albums(client),
        followed_artists(client),
        lists,
        lists | playlist_items(client, CurrentUser(client), counts),
    )


# ---------------------------------------------------------------------------- catalog


@dlt.source(name="spotify_catalog", max_table_nesting=0)
def spotify_catalog_source(
    client: SpotifyClient,
    work: CatalogWork,
    api_mode: ApiMode = "auto",
    counters: ExtractCounters | None = None,
    search_pages: int = 1,
    staging_dir: str | None = None,
) -> Iterable[DltResource]:
    """Catalog objects for the ids in ``work`` (app token; Client Credentials).

    Rows are staged as CSV files (see :mod:`.staging`) under ``staging_dir``.
    """
    counts = counters or ExtractCounters()
    crawl = CatalogCrawl(client, work, CatalogFetcher(client, api_mode, counts), counts)
    return (catalog_resource(lambda: crawl.rows(search_pages), staging_dir),)


#: Key columns of each catalog table, in the order a :data:`CatalogRow` gives them.
CATALOG_KEYS: dict[str, tuple[str, ...]] = {
    "tracks": ("track_id",),
    "albums": ("album_id",),
    "album_tracks": ("album_id", "track_id"),
    "artists": ("artist_id",),
}

# The columns normalizing these rows would infer, in the same order (tables of earlier versions
# were created from inference): the payload's, the keys, then dlt's own.
_CATALOG_HINTS: dict[str, dict[str, Any]] = {
    table: {
        "table_name": table,
        # Staged rows are unique per key (see .staging): no sort to deduplicate them.
        "write_disposition": {
            "disposition": "merge",
            "strategy": "delete-insert",
            "deduplicated": True,
        },
        "primary_key": keys[0] if len(keys) == 1 else keys,
        "columns": {
            **COMMON_COLUMNS,
            **{k: {"data_type": "text", "nullable": False} for k in keys},
            **DLT_COLUMNS,
        },
    }
    for table, keys in CATALOG_KEYS.items()
}


def catalog_resource(
    rows: Callable[[], Iterator[CatalogRow]], staging_dir: str | None = None
) -> DltResource:
    """The ``catalog`` resource: the rows ``rows()`` yields, staged as CSV, imported by dlt.

    Rows are written to ``0600`` CSV files under ``staging_dir`` (default: the pipeline's
    working folder, so that dlt hard-links them into the load package) and handed to dlt once
    ``rows()`` is exhausted; the files are removed when the resource ends, however it ends.
    """

    # dlt merges the hints given with an imported file into the resource's own, so that four
    # tables would pile their columns onto one another: each table gets a variant of its own
    # hints instead, and a file's data item (which dlt passes on to the dynamic table-name hint
    # and otherwise discards) is the name of its table.

    @dlt.resource(name="catalog", max_table_nesting=0, table_name=lambda table: str(table))
    def catalog() -> Iterator[Any]:
        root = Path(staging_dir or Path(dlt.current.pipeline().working_dir) / "catalog-staging")
        folder = root / uuid.uuid4().hex
        load_id = dlt.current.load_package_state()["load_id"]
        stager = BronzeStager(folder, load_id, CATALOG_KEYS)
        try:
            for table, keys, payload, endpoint, requested_at in rows():
                stager.write(table, keys, payload, endpoint, requested_at)
            for staged in stager.close():
                hints = dlt.mark.make_hints(**_CATALOG_HINTS[staged.table])
                yield dlt.mark.with_hints([], hints, create_table_variant=True)
                for path, count in staged.files:
                    yield dlt.mark.with_file_import(str(path), "csv", count, staged.table)
        finally:
            stager.abort()
            shutil.rmtree(folder, ignore_errors=True)

    return catalog
