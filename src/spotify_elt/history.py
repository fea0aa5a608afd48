"""The history-import step: a Spotify privacy export into ``bronze.streaming_history``, with dlt.

Shared by ``spotify-elt import-history`` and the main job (which imports a generated export on
the emulator's first run, :func:`import_demo_history`). It assembles what the ``extract.history``
library receives as arguments (the path, the PII policy and, to hash, the salt from the vault)
and runs its dlt source as the ``spotify_loader`` role with :mod:`spotify_elt.loading` (as the
extraction does), under a pipeline of its own (``spotify_elt_history``, dataset ``bronze``).

All or nothing per import: every file is parsed and validated before any is handed to dlt, and
the merge into the table happens in one transaction; a bad file fails the whole import with one
sentence naming it, and bronze is left as it was.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from psycopg import sql

from extract.history import (
    TABLE,
    HistoryFileError,
    ImportProgress,
    ImportReport,
    PiiPolicy,
    streaming_history_source,
)

from .config import Settings
from .db import DatabaseTarget, advisory_lock, connect, role_urls
from .errors import UserError
from .loading import Stage, dlt_failure, error_in, first_line, load_into_bronze, make_pipeline
from .vault import Vault

log = logging.getLogger(__name__)

PIPELINE_NAME = "spotify_elt_history"
#: The demo (emulator) database gets its own pipeline, as the extractor's demo does.
DEMO_PIPELINE_NAME = "spotify_elt_history_demo"
SALT_NAME = "history_pii_salt"
LOCK_KEY = "spotify-elt import-history"
SCHEMA = "bronze"


class HistoryImportError(UserError):
    """The export could not be imported; bronze is as it was before."""

    exit_code = 6


@dataclass(frozen=True)
class FileSummary:
    name: str
    export_format: str | None
    rows: int
    kinds: dict[str, int]
    repeats: int


@dataclass
class HistorySummary:
    """The end-of-import report: files read, plays found, plays new to bronze, time."""

    path: str
    pii: str
    files: list[FileSummary] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    plays_in_export: int = 0
    plays_added: int = 0
    plays_total: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    first_played_at: str | None = None
    last_played_at: str | None = None
    load_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0
    nul_records: int = 0


def history_salt(vault: Vault) -> bytes:
    """The salt of PII hashes: generated once, kept in the vault, the same for every import."""
    salt = vault.get(SALT_NAME)
    if not salt:
        salt = secrets.token_hex(32)
        vault.set(SALT_NAME, salt)
        log.info("generated the PII hashing salt into the vault (%s)", SALT_NAME)
    return salt.encode()


def pii_policy(settings: Settings, vault: Vault, mode: str | None = None) -> PiiPolicy:
    chosen = mode or settings.history_pii
    if chosen not in ("drop", "hash"):
        raise UserError(f"The PII mode must be drop or hash, not {chosen!r}.")
    if chosen == "hash":
        return PiiPolicy("hash", history_salt(vault))
    return PiiPolicy("drop")


@contextlib.contextmanager
def import_lock(loader_url: str, *, wait: bool = False) -> Iterator[None]:
    """One history import at a time per database (a session-level advisory lock)."""
    busy = HistoryImportError(
        "Another history import is running on this database; wait for it to finish."
    )
    with advisory_lock(loader_url, LOCK_KEY, wait=wait, busy=busy):
        yield


def _count(loader_url: str) -> int:
    with connect(loader_url) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.{TABLE}",)).fetchone()
        if not exists or exists[0] is None:
            return 0
        count = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(SCHEMA, TABLE))
        row = conn.execute(count).fetchone()
    return int(row[0]) if row else 0


def _import_failed(stage: Stage, exc: BaseException) -> HistoryImportError:
    """The one sentence for an import that failed (naming the bad file, when one was)."""
    from dlt.pipeline.exceptions import PipelineStepFailed

    if not isinstance(exc, PipelineStepFailed):
        return HistoryImportError(f"Loading the history into bronze failed: {first_line(exc)}.")
    if stage == "settle":
        return HistoryImportError(
            f"Finishing the interrupted previous import failed at step {exc.step}: "
            f"{dlt_failure(exc.exception)}."
        )
    bad = error_in(exc, HistoryFileError)
    if bad is not None:
        return HistoryImportError(f"{bad}; nothing was imported.")
    return HistoryImportError(
        f"Loading the history into bronze failed at step {exc.step}: "
        f"{dlt_failure(exc.exception)}; nothing was imported."
    )


def _remove_stale_staging(root: Path) -> None:
    """Remove the staging folders of imports that died (their process is gone)."""
    if not root.is_dir():
        return
    for folder in root.iterdir():
        pid = folder.name.split("-", 1)[0]
        if not pid.isdigit():
            shutil.rmtree(folder, ignore_errors=True)  # a folder of an older version
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass  # alive, another user's


def import_history(
    settings: Settings,
    vault: Vault,
    path: Path | str,
    *,
    pii: str | None = None,
    pipeline_name: str = PIPELINE_NAME,
    progress: ImportProgress | None = None,
    wait_for_lock: bool = False,
) -> HistorySummary:
    """Import the export at ``path`` (a zip, a folder or one JSON file) into bronze.

    ``pii`` overrides ``settings.history_pii`` (drop or hash). Raises :class:`HistoryImportError`
    naming the file when the export, or any file of it, cannot be imported; nothing is loaded
    then.
    """
    started = time.monotonic()
    policy = pii_policy(settings, vault, pii)
    summary = HistorySummary(path=str(path), pii=policy.mode)
    admin = DatabaseTarget(settings).admin_url()
    urls = role_urls(admin, vault)
    report = ImportReport()
    dlt_dir = Path(settings.data_dir) / "dlt"
    # Beside the pipelines folder, so dlt hard-links the staged CSV files instead of copying.
    # Named by the process: a killed import's folder is removed by the next import.
    staging_root = dlt_dir / "history-staging"
    _remove_stale_staging(staging_root)
    staging = staging_root / f"{os.getpid()}-{uuid.uuid4().hex}"
    staging_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        with import_lock(urls.loader, wait=wait_for_lock):
            before = _count(urls.loader)
            pipeline = make_pipeline(settings, urls.loader, pipeline_name)
            source = streaming_history_source(
                str(path), str(staging), pii=policy, report=report, progress=progress
            )
            # All or nothing: a failed import leaves nothing pending to block the next one.
            loaded = load_into_bronze(pipeline, source, fail=_import_failed, all_or_nothing=True)
            summary.load_ids = loaded.load_ids
            summary.plays_total = _count(urls.loader)
            summary.plays_added = summary.plays_total - before
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    summary.skipped = list(report.skipped)
    for staged in report.files:
        summary.files.append(
            FileSummary(
                staged.file.name,
                staged.export_format,
                staged.rows,
                dict(staged.kinds),
                staged.repeats,
            )
        )
        summary.kinds.update(staged.kinds)
        for moment in (staged.first_played_at, staged.last_played_at):
            if moment is None:
                continue
            if summary.first_played_at is None or moment < summary.first_played_at:
                summary.first_played_at = moment
            if summary.last_played_at is None or moment > summary.last_played_at:
                summary.last_played_at = moment
    summary.plays_in_export = report.rows
    summary.nul_records = sum(f.nul_records for f in report.files)
    if summary.nul_records:
        log.warning(
            "%d records held NUL characters, which PostgreSQL cannot store; they were removed",
            summary.nul_records,
        )
    summary.seconds = time.monotonic() - started
    log.info(
        "imported %s: %d plays in the export, %d new, in %.1f s",
        path,
        summary.plays_in_export,
        summary.plays_added,
        summary.seconds,
    )
    return summary


# ---------------------------------------------------------------------------- the demo


def generate_emulator_export(
    out: Path,
    *,
    seed: int,
    scale: int = 20_000,
    days: float = 365,
    end: datetime | None = None,
    variant: str = "extended",
) -> Path:
    """Write the emulator's listening history of ``days`` before ``end`` as an export at ``out``.

    Runs ``spotify-elt emulator export-history`` in a child process: application code never
    imports the emulator. ``seed`` and ``scale`` must be those the emulator serves (the demo's).
    """
    moment = (end or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    command = [
        sys.executable, "-m", "spotify_elt", "emulator", "export-history",
        "--out", str(out), "--seed", str(seed), "--scale", str(scale), "--days", str(days),
        "--end", moment,
        "--variant", variant,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        last = lines[-1] if lines else "no output"
        raise UserError(f"Generating the emulator's history export failed: {last}.")
    return out


def import_demo_history(
    settings: Settings,
    vault: Vault,
    *,
    seed: int,
    scale: int = 20_000,
    days: float = 30,
    end: datetime | None = None,
    pipeline_name: str = DEMO_PIPELINE_NAME,
    progress: ImportProgress | None = None,
) -> HistorySummary | None:
    """On the demo's first run, import a generated export of the emulator's last ``days``.

    Returns None (and does nothing) when bronze already holds a streaming history. ``settings``
    are the demo's (its database); ``seed`` the emulator's, so the tracks exist in its catalog.
    A month (~5,000 plays, ~1,500 distinct tracks) keeps the catalog enrichment that follows
    short; a year references ~10,000 tracks, each a single-item request in Development Mode.
    """
    admin = DatabaseTarget(settings).admin_url()
    if _count(role_urls(admin, vault).loader) > 0:
        return None
    folder = Path(tempfile.mkdtemp(prefix="history-export-", dir=_tmp_root(settings)))
    try:
        export = generate_emulator_export(
            folder / "export.zip", seed=seed, scale=scale, days=days, end=end
        )
        return import_history(
            settings, vault, export, pipeline_name=pipeline_name, progress=progress
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _tmp_root(settings: Settings) -> Path:
    root = Path(settings.data_dir) / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    return root
