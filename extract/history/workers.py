"""Parse and stage the files of an export in several processes: the files are independent.

Each file is parsed and staged by :func:`.parser.stage_file` in a worker process; with one
worker, or one file, it happens in this process. Workers are forked when this process runs a
single thread (Linux: they start in milliseconds and import nothing; a forked worker ends with
``os._exit``, so it never closes a connection it inherited), and spawned otherwise (a fork
would copy locks other threads may hold; a spawned worker imports the parser first).

A play found in two files of one import (two overlapping exports imported together) is kept
once, in the earlier file: it can only repeat between files whose time ranges overlap, so only
those files' keys are compared, and the memory that takes is bounded by those files, not by
the export.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import sys
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from .parser import HistoryFile, PiiPolicy, StagedFile, stage_file

#: Worker processes that parse files at once (the project targets two cores).
DEFAULT_WORKERS = 2


def _stage(
    file: HistoryFile, csv_path: Path, pii: PiiPolicy, imported_at: str, load_id: str
) -> StagedFile:
    """In a worker: stage one file (its own repeats are numbered; other files are not seen)."""
    return stage_file(file, csv_path, pii=pii, imported_at=imported_at, load_id=load_id)


def stage_files(
    files: list[HistoryFile],
    folder: Path,
    *,
    pii: PiiPolicy,
    imported_at: str,
    load_id: str,
    workers: int = DEFAULT_WORKERS,
    on_started: Callable[[HistoryFile], None] | None = None,
    on_bytes: Callable[[int], None] | None = None,
    on_done: Callable[[StagedFile], None] | None = None,
) -> list[StagedFile]:
    """Stage every file of ``files`` under ``folder``, in file order; raise on the first bad one.

    A bad file raises its :class:`.parser.HistoryFileError`; the files staged so far stay in
    ``folder``, which the caller removes.
    """
    paths = [folder / f"{uuid.uuid4().hex}.csv" for _ in files]
    staged: list[StagedFile] | None = None
    if workers > 1 and len(files) > 1:
        staged = _in_workers(
            files, paths, pii, imported_at, load_id, workers, on_started, on_bytes, on_done
        )
    if staged is None:
        staged = []
        for file, path in zip(files, paths, strict=True):
            if on_started is not None:
                on_started(file)
            one = stage_file(
                file, path, pii=pii, imported_at=imported_at, load_id=load_id, on_bytes=on_bytes
            )
            staged.append(one)
            if on_done is not None:
                on_done(one)
    drop_repeated_plays(staged)
    return staged


def _start_method() -> str:
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return "fork"
    return "spawn"


def _in_workers(
    files: list[HistoryFile],
    paths: list[Path],
    pii: PiiPolicy,
    imported_at: str,
    load_id: str,
    workers: int,
    on_started: Callable[[HistoryFile], None] | None,
    on_bytes: Callable[[int], None] | None,
    on_done: Callable[[StagedFile], None] | None,
) -> list[StagedFile] | None:
    """The files staged by a pool of workers, or None if no pool can run here."""
    try:
        pool = ProcessPoolExecutor(
            max_workers=min(workers, len(files), os.cpu_count() or 1),
            mp_context=multiprocessing.get_context(_start_method()),
        )
    except (OSError, ValueError, AssertionError):  # e.g. a daemonic process may have no children
        return None
    staged: list[StagedFile] = []
    with pool:
        futures: list[Future[StagedFile]] = []
        try:
            futures = [
                pool.submit(_stage, file, path, pii, imported_at, load_id)
                for file, path in zip(files, paths, strict=True)
            ]
            for file, future in zip(files, futures, strict=True):
                if on_started is not None:
                    on_started(file)
                one = future.result()
                one.file = file  # the worker's copy lacks this process's open archive
                if on_bytes is not None:
                    on_bytes(file.size)
                staged.append(one)
                if on_done is not None:
                    on_done(one)
        except BrokenProcessPool:
            if staged or sys.platform == "win32":
                raise
            return None  # workers could not start (a restricted environment): parse here
        finally:
            for future in futures:
                future.cancel()
    return staged


def _overlap(a: StagedFile, b: StagedFile) -> bool:
    if None in (a.first_played_at, a.last_played_at, b.first_played_at, b.last_played_at):
        return False
    # Times are ISO 8601 in UTC, written alike: they compare as text.
    return a.first_played_at <= b.last_played_at and b.first_played_at <= a.last_played_at  # type: ignore[operator]


def _keys(path: Path) -> set[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        return {row[0] for row in reader}


def drop_repeated_plays(staged: list[StagedFile]) -> None:
    """Remove from each file the plays an earlier file of the same import already holds."""
    csv.field_size_limit(1 << 30)
    for index, later in enumerate(staged):
        earlier = [e for e in staged[:index] if e.rows and _overlap(e, later)]
        if not earlier or not later.rows:
            continue
        known: set[str] = set()
        for other in earlier:
            known |= _keys(other.csv_path)
        kept_path = later.csv_path.with_suffix(".kept.csv")
        removed = 0
        fd = os.open(kept_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with (
            later.csv_path.open(encoding="utf-8", newline="") as src,
            open(fd, "w", encoding="utf-8", newline="") as out,
        ):
            reader = csv.reader(src)
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(next(reader))
            for row in reader:
                if row[0] in known:
                    removed += 1
                else:
                    writer.writerow(row)
        if removed:
            kept_path.replace(later.csv_path)
            later.rows -= removed
            later.duplicates += removed
        else:
            kept_path.unlink()
