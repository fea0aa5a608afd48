"""Constants of the streaming-history import: file names, formats, PII fields, the bronze table."""

from __future__ import annotations

import re
from typing import Any, Literal

#: The bronze table every play lands in.
TABLE = "streaming_history"

ExportFormat = Literal["extended", "account_data"]
PiiMode = Literal["drop", "hash"]

#: History files inside an export, by base name. Extended history: ``Streaming_History_Audio_*``
#: and ``Streaming_History_Video_*`` (``endsong_N.json`` before 2023); account data:
#: ``StreamingHistory_music_N.json``, ``StreamingHistory_podcast_N.json`` (``StreamingHistoryN``
#: before 2023). Every other file of an export (Userdata.json, Playlist1.json, a PDF) is skipped.
HISTORY_FILE_RE = re.compile(
    r"(Streaming_History_(Audio|Video)_[^/]*|endsong_\d+|StreamingHistory(_music|_podcast)?_?\d*)"
    r"\.json",
    re.IGNORECASE,
)

#: Fields of extended history that identify a person: dropped, or kept as a salted hash.
PII_FIELDS = ("ip_addr", "ip_addr_decrypted", "user_agent_decrypted", "username")

#: Extended history: the fields that say what was played, most specific first.
URI_FIELDS = (
    ("spotify_track_uri", "track"),
    ("spotify_episode_uri", "episode"),
    ("audiobook_chapter_uri", "audiobook"),
    ("audiobook_uri", "audiobook"),
)
NAME_FIELDS = (
    "master_metadata_track_name",
    "master_metadata_album_artist_name",
    "master_metadata_album_album_name",
    "episode_name",
    "episode_show_name",
    "audiobook_title",
    "audiobook_chapter_title",
)
TRACK_URI_PREFIX = "spotify:track:"

#: Columns of the CSV files handed to dlt (constant columns last: they are formatted once).
CSV_COLUMNS = (
    "play_key",
    "played_at",
    "track_id",
    "kind",
    "ms_played",
    "payload",
    "export_format",
    "source_file",
    "imported_at",
    "_dlt_load_id",
)
#: Columns of the bronze table, in table order.
COLUMNS: dict[str, Any] = {
    "play_key": {"data_type": "text", "nullable": False},
    "played_at": {"data_type": "timestamp", "nullable": False},
    "track_id": {"data_type": "text", "nullable": True},
    "kind": {"data_type": "text", "nullable": False},
    "ms_played": {"data_type": "bigint", "nullable": False},
    "export_format": {"data_type": "text", "nullable": False},
    "source_file": {"data_type": "text", "nullable": False},
    "payload": {"data_type": "json", "nullable": False},
    "imported_at": {"data_type": "timestamp", "nullable": False},
    "_dlt_load_id": {"data_type": "text", "nullable": False},
}

#: Bumped if the play key's recipe ever changes (it is part of the hashed text).
PLAY_KEY_VERSION = "v1"
