"""Find the history files of an export, stream-parse and validate each, and stage it as CSV.

A file is read once, as a stream (``ijson``; a file is never held in memory as a whole), and
written to a CSV file (columns :data:`settings.CSV_COLUMNS`), ready for dlt's
``with_file_import`` and PostgreSQL's ``COPY``. A file that is not a history file, is truncated
or holds an invalid record raises :class:`HistoryFileError` naming it, and its partial CSV file
is removed: a file is handed to dlt whole or not at all.

The play key: ``blake2b(v1|format|ts|what|ms_played|n)``, where ``ts`` is the end time in UTC
(ISO 8601), ``what`` the Spotify URI (track, episode, audiobook chapter, audiobook) or, without
one, the names the record carries, and ``n`` numbers exact repeats (same format, ts, what and
ms_played) within one file in file order, from 0. The same record in another file or another
import (an overlapping newer export) therefore gets the same key, while genuine repeats within
a file stay separate plays.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import ijson
import orjson

from .settings import (
    CSV_COLUMNS,
    HISTORY_FILE_RE,
    NAME_FIELDS,
    PII_FIELDS,
    PLAY_KEY_VERSION,
    TRACK_URI_PREFIX,
    URI_FIELDS,
    ExportFormat,
    PiiMode,
)

#: The largest record (as JSON) a history file may hold; Spotify's plays are under 2 KB.
MAX_RECORD_BYTES = 64 * 1024
#: How often (bytes read) a file's progress is reported.
_PROGRESS_STEP = 1 << 20


class HistoryFileError(Exception):
    """An export, or one file of it, cannot be imported.

    ``label`` names it for the user; ``reason`` continues the sentence (``"is truncated ..."``).
    """

    def __init__(self, label: str, reason: str) -> None:
        reason = " ".join(reason.split())  # one line, whatever a parser's message held
        super().__init__(f"{label} {reason}")
        self.label = label
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised in a parsing worker process, it travels back pickled.
        return (type(self), (self.label, self.reason))


# ---------------------------------------------------------------------------- PII


@dataclass(frozen=True)
class PiiPolicy:
    """What happens to IP addresses, user agents and the username: dropped, or a salted hash.

    The hash is HMAC-SHA256 keyed by ``salt`` (hex digits): stable for one salt, so the same IP
    address compares equal across imports, yet not reversible by hashing guessed addresses
    without the salt.
    """

    mode: PiiMode = "drop"
    salt: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in ("drop", "hash"):
            raise ValueError(f"PII mode must be 'drop' or 'hash', not {self.mode!r}")
        if self.mode == "hash" and not self.salt:
            raise ValueError("hashing PII needs a salt")

    def hash(self, value: str) -> str:
        assert self.salt is not None
        return hmac.new(self.salt, value.encode(), hashlib.sha256).hexdigest()

    def apply(self, record: dict[str, Any]) -> None:
        """Drop or hash the PII fields of ``record`` in place."""
        for name in PII_FIELDS:
            if name not in record:
                continue
            if self.mode == "drop":
                del record[name]
            else:
                value = record[name]
                if value is not None:
                    record[name] = self.hash(str(value))


# ---------------------------------------------------------------------------- files


class FileOpener:
    """Opens a history file: a path, or a member of a zip archive.

    Picklable, so that a worker process can open the file itself: an archive already open in
    this process is reused here and reopened by path in another.
    """

    def __init__(
        self, path: Path, member: str | None = None, archive: zipfile.ZipFile | None = None
    ) -> None:
        self.path = path
        self.member = member
        self.archive = archive

    def __call__(self) -> IO[bytes]:
        if self.member is None:
            return self.path.open("rb")
        if self.archive is None:
            self.archive = zipfile.ZipFile(self.path)
        return self.archive.open(self.member)

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "member": self.member}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path, self.member, self.archive = state["path"], state["member"], None


@dataclass(frozen=True)
class HistoryFile:
    """One history file of an export."""

    label: str
    """How the user knows it: a path, or ``archive.zip:member``."""
    name: str
    """Kept in bronze as ``source_file``: the path inside the export (never the local path)."""
    size: int
    opener: Callable[[], IO[bytes]] = field(repr=False, compare=False)

    def open(self) -> IO[bytes]:
        return self.opener()


@dataclass
class Export:
    """The history files found under a path (a zip, a folder or one JSON file)."""

    path: Path
    files: list[HistoryFile]
    skipped: list[str]
    """Other files of the export (profile data, playlists, PDFs): not history, left alone."""


def is_history_file(name: str) -> bool:
    return HISTORY_FILE_RE.fullmatch(name.rsplit("/", 1)[-1]) is not None


def _read_error(label: str, exc: OSError) -> HistoryFileError:
    return HistoryFileError(label, f"cannot be read ({exc.strerror or exc})")


@contextlib.contextmanager
def open_export(path: Path | str) -> Iterator[Export]:
    """Find the history files under ``path``; a zip stays open while the export is in use."""
    path = Path(path)
    label = str(path)
    try:
        if path.is_dir():
            yield _folder_export(path)
            return
        if not path.exists():
            raise HistoryFileError(label, "does not exist")
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise _read_error(label, exc) from None
    if head.startswith(b"PK") or path.suffix.lower() == ".zip":
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:
            raise HistoryFileError(label, f"is not a readable zip archive ({exc})") from None
        except OSError as exc:
            raise _read_error(label, exc) from None
        with archive:
            yield _zip_export(path, archive)
        return
    # A single JSON file is taken as a history file whatever its name.
    yield Export(path, [HistoryFile(label, path.name, path.stat().st_size, FileOpener(path))], [])


def _folder_export(root: Path) -> Export:
    files: list[HistoryFile] = []
    skipped: list[str] = []

    def walk_error(exc: OSError) -> None:
        raise _read_error(exc.filename or str(root), exc)

    for dirpath, dirnames, filenames in os.walk(root, onerror=walk_error):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            relative = full.relative_to(root).as_posix()
            if not is_history_file(name):
                skipped.append(relative)
                continue
            try:
                size = full.stat().st_size
            except OSError as exc:
                raise _read_error(str(full), exc) from None
            files.append(HistoryFile(str(full), relative, size, FileOpener(full)))
    if not files:
        raise HistoryFileError(str(root), "holds no Spotify streaming history files")
    return Export(root, files, skipped)


def _zip_export(path: Path, archive: zipfile.ZipFile) -> Export:
    files: list[HistoryFile] = []
    skipped: list[str] = []
    for info in sorted(archive.infolist(), key=lambda i: i.filename):
        name = info.filename.replace("\\", "/")
        if name.startswith("/") or ".." in name.split("/") or ":" in name.split("/")[0]:
            raise HistoryFileError(
                str(path),
                f"holds an entry named {info.filename!r}, a path outside the archive "
                "(not a Spotify export)",
            )
        if info.is_dir():
            continue
        if not is_history_file(info.filename) or "__MACOSX/" in info.filename:
            skipped.append(info.filename)
            continue
        files.append(
            HistoryFile(
                f"{path}:{info.filename}",
                info.filename,
                info.file_size,
                FileOpener(path, info.filename, archive),
            )
        )
    if not files:
        raise HistoryFileError(str(path), "holds no Spotify streaming history files")
    return Export(path, files, skipped)


# ---------------------------------------------------------------------------- parsing


class _CountingReader:
    """A file wrapper that reports how many bytes have been read, every megabyte."""

    def __init__(self, raw: IO[bytes], on_bytes: Callable[[int], None] | None) -> None:
        self._raw = raw
        self._on_bytes = on_bytes
        self._pending = 0
        self.total = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        n = len(data)
        self.total += n
        self._pending += n
        if self._on_bytes is not None and (self._pending >= _PROGRESS_STEP or not n):
            self._on_bytes(self._pending)
            self._pending = 0
        return data

    def first_char(self) -> bytes:
        """Consume leading whitespace (and a BOM); return the first significant byte."""
        while True:
            byte = self.read(1)
            if byte == b"\xef":  # a UTF-8 byte order mark
                self.read(2)
                continue
            if byte not in (b" ", b"\t", b"\r", b"\n"):
                return byte


def _utc_iso(value: Any) -> str | None:
    """``value`` (an export timestamp, UTC) as ISO 8601 with offset, or None if it is not one."""
    if not isinstance(value, str) or len(value) < 16:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC).isoformat()
    return moment.astimezone(UTC).isoformat()


def _ms(value: Any) -> int | None:
    if type(value) is int:
        return value if value >= 0 else None
    if type(value) is float and value.is_integer() and value >= 0:
        return int(value)
    return None


@dataclass
class StagedFile:
    """A history file parsed, validated and written as CSV for dlt."""

    file: HistoryFile
    csv_path: Path
    export_format: ExportFormat | None
    rows: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    repeats: int = 0
    duplicates: int = 0
    """Records skipped because an earlier file of this import held the same play."""
    first_played_at: str | None = None
    last_played_at: str | None = None
    nul_records: int = 0
    """Records that held NUL characters (PostgreSQL stores none in text or jsonb): removed."""


def _without_nul(value: Any) -> Any:
    """``value`` with every NUL character removed from its strings (keys included)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def _extended(record: dict[str, Any]) -> tuple[str, str | None, str]:
    """(kind, track_id, what) of an extended-history record.

    The field that holds the URI says the kind (an audiobook chapter's URI may read
    ``spotify:episode:...``); a track id is taken only from ``spotify:track:<id>``.
    """
    for name, kind in URI_FIELDS:
        uri = record.get(name)
        if uri and isinstance(uri, str):
            track_id = None
            if kind == "track" and uri.startswith(TRACK_URI_PREFIX):
                track_id = uri[len(TRACK_URI_PREFIX) :] or None
            return kind, track_id, uri
    names = [record.get(n) for n in NAME_FIELDS]
    what = "names:" + "\x1f".join("" if n is None else str(n) for n in names)
    if names[0]:
        return "track", None, what
    if names[3] or names[4]:
        return "episode", None, what
    if names[5] or names[6]:
        return "audiobook", None, what
    return "unknown", None, what


def _account(record: dict[str, Any]) -> tuple[str, str]:
    """(kind, what) of an account-data record (music or podcast; no URIs there)."""
    if "podcastName" in record or "episodeName" in record:
        return "episode", "names:" + "\x1f".join(
            str(record.get(n) or "") for n in ("podcastName", "episodeName")
        )
    return "track", "names:" + "\x1f".join(
        str(record.get(n) or "") for n in ("artistName", "trackName")
    )


def stage_file(
    file: HistoryFile,
    csv_path: Path,
    *,
    pii: PiiPolicy,
    imported_at: str,
    load_id: str,
    on_bytes: Callable[[int], None] | None = None,
    seen: set[str] | None = None,
) -> StagedFile:
    """Parse and validate ``file`` as a stream and write its plays to ``csv_path``.

    ``seen`` holds the play keys of earlier files of the same import: a play found again (two
    overlapping exports imported together) is counted in ``duplicates`` and not written twice.
    Raises :class:`HistoryFileError` naming the file if it is not a streaming history file, is
    truncated or holds an invalid record; the CSV file is then removed.
    """
    staged = StagedFile(file, csv_path, None)
    try:
        # 0600: the staged file holds the listener's history.
        fd = os.open(csv_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with file.open() as raw, open(fd, "w", encoding="utf-8", newline="") as out:
            reader = _CountingReader(raw, on_bytes)
            first = reader.first_char()
            if first != b"[":
                what = {b"{": "a JSON object", b"": "nothing"}.get(first, "no JSON list")
                raise HistoryFileError(
                    file.label, f"is not a Spotify streaming history file (it holds {what})"
                )
            out.write(",".join(CSV_COLUMNS) + "\n")
            _write_rows(
                file,
                reader,
                out,
                staged,
                pii,
                imported_at,
                load_id,
                set() if seen is None else seen,
            )
            if on_bytes is not None and reader._pending:
                on_bytes(reader._pending)
    except HistoryFileError:
        csv_path.unlink(missing_ok=True)
        raise
    except ijson.JSONError as exc:
        csv_path.unlink(missing_ok=True)
        raise HistoryFileError(
            file.label, f"is truncated or not valid JSON ({_first_line(exc) or 'parse error'})"
        ) from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        csv_path.unlink(missing_ok=True)
        raise HistoryFileError(file.label, f"is damaged in the zip archive ({exc})") from None
    except OSError as exc:
        csv_path.unlink(missing_ok=True)
        raise _read_error(file.label, exc) from None
    return staged


class _PrefixedArray:
    """The rest of a stream after its opening ``[``, with the ``[`` put back, for ijson."""

    def __init__(self, reader: _CountingReader) -> None:
        self._reader = reader
        self._head = b"["

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""
        if self._head:
            head, self._head = self._head, b""
            return head + self._reader.read(max(size - 1, 1) if size > 0 else -1)
        return self._reader.read(size)


def _quoted(text: str) -> str:
    """``text`` as a quoted CSV field (PostgreSQL's CSV: quotes doubled, nothing else escaped)."""
    return '"' + text.replace('"', '""') + '"'


def _write_rows(
    file: HistoryFile,
    reader: _CountingReader,
    out: IO[str],
    staged: StagedFile,
    pii: PiiPolicy,
    imported_at: str,
    load_id: str,
    seen: set[str],
) -> None:
    # Rows are formatted by hand: the csv module costs 3x more on the long payload field.
    occurrences: dict[str, int] = {}
    fmt: ExportFormat | None = None
    ts_field = ms_field = suffix = ""
    kinds = staged.kinds
    dumps = orjson.dumps
    lines: list[str] = []
    first = last = None
    number = 0
    for number, record in enumerate(ijson.items(_PrefixedArray(reader), "item", use_float=True), 1):
        if type(record) is not dict:
            raise HistoryFileError(
                file.label,
                f"is not a Spotify streaming history file (item {number} is not an object)",
            )
        if fmt is None:
            if "ts" in record:
                fmt, ts_field, ms_field = "extended", "ts", "ms_played"
            elif "endTime" in record:
                fmt, ts_field, ms_field = "account_data", "endTime", "msPlayed"
            else:
                raise HistoryFileError(
                    file.label,
                    "is not a Spotify streaming history file (its records have neither 'ts' "
                    "nor 'endTime')",
                )
            staged.export_format = fmt
            suffix = f"{fmt},{_quoted(file.name)},{imported_at},{load_id}\n"
        played_at = _utc_iso(record.get(ts_field))
        if played_at is None:
            raise HistoryFileError(
                file.label,
                f"has an invalid record {number} (no valid '{ts_field}' timestamp: "
                f"{_shown(record.get(ts_field, 'missing'))})",
            )
        ms_played = _ms(record.get(ms_field))
        if ms_played is None:
            raise HistoryFileError(
                file.label,
                f"has an invalid record {number} (no valid '{ms_field}': "
                f"{_shown(record.get(ms_field, 'missing'))})",
            )
        if fmt == "extended":
            kind, track_id, what = _extended(record)
            pii.apply(record)
        else:
            track_id = None
            kind, what = _account(record)
        base = f"{PLAY_KEY_VERSION}|{fmt}|{played_at}|{what}|{ms_played}"
        repeat = occurrences.get(base, 0)
        occurrences[base] = repeat + 1
        if repeat:
            staged.repeats += 1
        kinds[kind] += 1
        if first is None or played_at < first:
            first = played_at
        if last is None or played_at > last:
            last = played_at
        key = hashlib.blake2b(f"{base}|{repeat}".encode(), digest_size=16).hexdigest()
        if key in seen:
            staged.duplicates += 1
            continue
        seen.add(key)
        encoded = dumps(record).decode()
        if len(encoded) > MAX_RECORD_BYTES:
            raise HistoryFileError(
                file.label,
                f"has an oversized record {number} ({len(encoded):,} bytes; a Spotify play is "
                f"under {MAX_RECORD_BYTES // 1024} KB)",
            )
        if "\\u0000" in encoded or (track_id is not None and "\x00" in track_id):
            # orjson writes NUL as \u0000 (a literal backslash-u0000 only looks like it).
            cleaned = _without_nul(record)
            if cleaned != record or (track_id is not None and "\x00" in track_id):
                staged.nul_records += 1
                encoded = dumps(cleaned).decode()
                track_id = None if track_id is None else track_id.replace("\x00", "") or None
        track = "" if track_id is None else _quoted(track_id)
        payload = encoded.replace('"', '""')
        lines.append(f'{key},{played_at},{track},{kind},{ms_played},"{payload}",{suffix}')
        if len(lines) >= 2_000:
            out.writelines(lines)
            lines.clear()
    out.writelines(lines)
    staged.rows = number - staged.duplicates
    staged.first_played_at, staged.last_played_at = first, last


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else ""


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
