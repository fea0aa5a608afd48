"""Bronze rows written as CSV files that dlt imports as they are (``dlt.mark.with_file_import``).

dlt's own extract and normalize steps cost several times the load itself for rows that are one
big JSON object each (the catalog: ~2 KB per track). The catalog resource therefore writes its
rows straight into CSV files in the bronze table's layout (key columns, ``payload`` as JSON text,
``endpoint``, ``requested_at``, ``_dlt_load_id``, ``_dlt_id``), and hands each file to dlt, which
links it into the load package and loads it with PostgreSQL ``COPY``: load packages, the schema
(declared up front, identical to what normalizing the rows would infer), state and the merge on
the primary key stay dlt's.

Files are created ``0600`` (they hold whatever the API sent) and removed by the caller after the
run; a table's rows are split into files of :data:`FILE_MAX_ROWS` so that dlt copies them in
parallel.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

#: Rows per staged file: several files of a big table load in parallel.
FILE_MAX_ROWS = 25_000

#: The columns dlt adds to every bronze row, declared so the schema does not depend on inference.
DLT_COLUMNS: dict[str, dict[str, Any]] = {
    "_dlt_load_id": {"data_type": "text", "nullable": False},
    "_dlt_id": {"data_type": "text", "nullable": False, "unique": True, "row_key": True},
}


def quoted(text: str) -> str:
    """``text`` as a quoted CSV field (PostgreSQL's CSV: quotes doubled, nothing else escaped)."""
    return '"' + text.replace('"', '""') + '"'


@dataclass
class StagedTable:
    """The staged files of one table."""

    table: str
    files: list[tuple[Path, int]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(n for _, n in self.files)


class _TableWriter:
    def __init__(self, stager: BronzeStager, table: str, keys: Sequence[str]) -> None:
        self.stager = stager
        self.table = table
        header = ",".join((*keys, "payload", "endpoint", "requested_at", *DLT_COLUMNS)) + "\n"
        self.header = header.encode()
        self.staged = StagedTable(table)
        self.out: IO[bytes] | None = None
        self.path: Path | None = None
        self.rows = 0
        self.lines: list[bytes] = []
        # A key seen twice in one run (Spotify relinks a requested track to another id) is
        # written once: the merge trusts the staged rows to be unique (no sort to deduplicate).
        self.seen: set[tuple[str | None, ...]] = set()
        self.repeats = 0

    def _open(self) -> IO[bytes]:
        path = self.stager.folder / f"{self.table}.{len(self.staged.files)}.csv"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        out = open(fd, "wb")  # noqa: SIM115 - closed in _close
        out.write(self.header)
        self.out, self.path, self.rows = out, path, 0
        return out

    def write(self, keys: Sequence[str | None], payload: Any, endpoint: str, at: str) -> None:
        key = tuple(keys)
        if key in self.seen:
            self.repeats += 1
            return
        self.seen.add(key)
        out = self.out or self._open()
        fields = ",".join("" if k is None else quoted(k) for k in keys)
        self.lines.append(
            f"{fields},".encode()
            + b'"'
            + orjson.dumps(payload).replace(b'"', b'""')
            + f'",{quoted(endpoint)},{at},{self.stager.load_id},{self.stager.row_id()}\n'.encode()
        )
        self.rows += 1
        if len(self.lines) >= 1_000:
            out.writelines(self.lines)
            self.lines.clear()
        if self.rows >= self.stager.max_rows:
            self._close()

    def _close(self) -> None:
        if self.out is None:
            return
        self.out.writelines(self.lines)
        self.lines.clear()
        self.out.close()
        assert self.path is not None
        self.staged.files.append((self.path, self.rows))
        self.out = self.path = None


class BronzeStager:
    """Writes bronze rows of several tables to CSV files under ``folder`` (created ``0700``).

    ``keys`` names each table's key columns in the order :meth:`write` receives them.
    """

    def __init__(
        self,
        folder: Path,
        load_id: str,
        keys: Mapping[str, Sequence[str]],
        max_rows: int = FILE_MAX_ROWS,
    ) -> None:
        self.folder = folder
        self.load_id = load_id
        self.max_rows = max_rows
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._writers = {table: _TableWriter(self, table, k) for table, k in keys.items()}
        self._ids: list[str] = []

    def row_id(self) -> str:
        """A random row key like dlt's (base64 of 10 random bytes), drawn in bulk."""
        if not self._ids:
            raw = secrets.token_bytes(10 * 4096)
            self._ids = [
                base64.b64encode(raw[i : i + 10]).decode("ascii").rstrip("=")
                for i in range(0, len(raw), 10)
            ]
        return self._ids.pop()

    def write(
        self, table: str, keys: Sequence[str | None], payload: Any, endpoint: str, at: str
    ) -> None:
        """One row: ``keys`` in the table's key order, ``at`` an ISO 8601 time with offset."""
        self._writers[table].write(keys, payload, endpoint, at)

    def abort(self) -> None:
        """Close every open file (after a failure; the caller removes the folder)."""
        for writer in self._writers.values():
            if writer.out is not None:
                writer.out.close()
                writer.out = None

    def close(self) -> Iterator[StagedTable]:
        """Finish every file; the tables that received rows, in declaration order."""
        for writer in self._writers.values():
            writer._close()
            if writer.staged.files:
                yield writer.staged
