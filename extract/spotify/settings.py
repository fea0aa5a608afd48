"""Constants of the Spotify Web API as the 2026 contract states them (spec/spotify/openapi.yml)."""

from __future__ import annotations

TIME_RANGES = ("short_term", "medium_term", "long_term")

# Page sizes: the largest each endpoint accepts.
RECENTLY_PLAYED_LIMIT = 50
TOP_LIMIT = 50
SAVED_LIMIT = 50
PLAYLISTS_LIMIT = 50
PLAYLIST_ITEMS_LIMIT = 50
FOLLOWING_LIMIT = 50
ALBUM_TRACKS_LIMIT = 50
ARTIST_ALBUMS_LIMIT = 10  # Development Mode: 1..10
SEARCH_LIMIT = 10  # Development Mode: 1..10

# Batch endpoints (extended quota only) and their id-count limits.
BATCH_LIMITS = {"artists": 50, "albums": 20, "tracks": 50}

# Recently played only ever shows the last 50 plays.
RECENTLY_PLAYED_WINDOW = 50
