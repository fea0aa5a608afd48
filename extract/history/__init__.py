"""A dlt source for Spotify's privacy export: every play since the account began.

Spotify's API shows only the last 50 plays; the privacy export ("Extended streaming history", or
the shorter "Account data") holds them all. :func:`streaming_history_source` loads an export (a
zip, a folder, or one JSON file) into one bronze table, ``streaming_history``, merged on a
natural ``play_key`` (see :mod:`.parser`) so that importing the same or an overlapping export
again adds nothing. The merge is insert-only: a play already in bronze keeps the row it was
first imported with.

Row layout (see :data:`settings.COLUMNS`): ``play_key``, ``played_at`` (the end time ``ts``, UTC),
``track_id`` (from ``spotify:track:<id>``, else null), ``kind`` (track, episode, audiobook,
unknown), ``ms_played``, ``export_format`` (extended, account_data), ``source_file`` (the path
inside the export), ``payload`` (the record as exported, ``jsonb``, minus dropped PII, hashed
PII replaced by its hash), ``imported_at`` and dlt's ``_dlt_load_id``.

Speed: each file is streamed with ``ijson`` and written as a CSV file in the table's column
order, which dlt imports as is (``dlt.mark.with_file_import``) and PostgreSQL reads with ``COPY``;
dlt's own extract and normalize steps never see a row. Files are parsed in two worker processes
(:mod:`.workers`).

All or nothing: every file of the export is parsed and validated before the first one is handed
to dlt. A bad file raises :class:`HistoryFileError` naming it, the extract step fails, and no row
of that import (from any file) reaches the destination.

This package imports nothing of the application; configuration (the PII policy and its salt,
where to stage files) arrives as arguments.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
from dlt.sources import DltResource

from .parser import (
    Export,
    HistoryFile,
    HistoryFileError,
    PiiPolicy,
    StagedFile,
    is_history_file,
    open_export,
)
from .settings import COLUMNS, PII_FIELDS, TABLE
from .workers import DEFAULT_WORKERS, stage_files

__all__ = [
    "COLUMNS",
    "PII_FIELDS",
    "TABLE",
    "Export",
    "HistoryFile",
    "HistoryFileError",
    "ImportReport",
    "PiiPolicy",
    "StagedFile",
    "is_history_file",
    "open_export",
    "streaming_history_source",
]


@dataclass
class ImportReport:
    """What an import found: the files staged (rows, kinds, repeats) and the files skipped."""

    files: list[StagedFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)


class ImportProgress:
    """Callbacks an import reports to (all optional; the default does nothing)."""

    def found(self, files: list[HistoryFile], skipped: list[str]) -> None:
        """The export's history files are known (sizes in bytes, uncompressed)."""

    def file_started(self, file: HistoryFile) -> None:
        """``file`` is being parsed."""

    def advance(self, nbytes: int) -> None:
        """``nbytes`` more of the current file were read."""

    def file_done(self, staged: StagedFile) -> None:
        """``file`` was parsed and validated completely."""


@dlt.source(name="spotify_history", max_table_nesting=0)
def streaming_history_source(
    path: str,
    staging_dir: str,
    pii: PiiPolicy | None = None,
    report: ImportReport | None = None,
    progress: ImportProgress | None = None,
    imported_at: datetime | None = None,
    workers: int = DEFAULT_WORKERS,
) -> DltResource:
    """The plays of the export at ``path`` (a zip, a folder or a JSON file).

    ``staging_dir`` receives one CSV file per history file (dlt hard-links it into its load
    package when on the same file system, so put it beside the pipelines folder); the caller
    removes it after the run. ``pii`` says whether IP addresses, user agents and the username
    are dropped (the default) or kept as a salted hash. ``workers`` processes parse the files
    (one: in this process).
    """
    policy = pii or PiiPolicy()
    found = report if report is not None else ImportReport()
    events = progress or ImportProgress()

    @dlt.resource(
        name=TABLE,
        primary_key="play_key",
        # Insert-only: a play already in bronze is left as it is (no delete, no rewrite), which
        # keeps a re-import cheap. It needs unique keys in the load: `stage_files` sees to that.
        write_disposition={"disposition": "merge", "strategy": "insert-only"},
        columns=COLUMNS,
    )
    def streaming_history() -> Iterator[Any]:
        load_id = dlt.current.load_package_state()["load_id"]
        at = (imported_at or datetime.now(UTC)).astimezone(UTC).isoformat()
        folder = Path(staging_dir)
        folder.mkdir(parents=True, exist_ok=True)
        with open_export(path) as export:
            found.skipped = list(export.skipped)
            events.found(export.files, export.skipped)
            found.files = stage_files(
                export.files,
                folder,
                pii=policy,
                imported_at=at,
                load_id=load_id,
                workers=workers,
                on_started=events.file_started,
                on_bytes=events.advance,
                on_done=events.file_done,
            )
        # Only now, every file parsed and valid, does dlt receive any of them.
        for staged in found.files:
            if staged.rows:
                yield dlt.mark.with_file_import(str(staged.csv_path), "csv", staged.rows)

    return streaming_history
