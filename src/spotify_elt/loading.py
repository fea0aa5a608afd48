"""Loading into bronze with dlt: dlt's configuration, the pipelines, and a source's run into them.

The steps that write bronze (the extraction and the history import) call :func:`make_pipeline`,
which configures dlt first (:func:`configure_dlt`; nothing here happens at import), and run a
source with :func:`load_into_bronze`: what an interrupted run left pending is completed or
discarded first, load steps take turns under an advisory lock, and a failure ends in one
sentence that the caller words (its ``fail`` callback). :func:`error_in` finds the library's own
error (a refused API call, a bad export file) in the chain of exceptions dlt wraps it in.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import psycopg

from .config import Settings
from .db import Dsn, advisory_lock, connect
from .errors import UserError

log = logging.getLogger(__name__)

DATASET = "bronze"
#: The advisory lock loads into bronze take turns under (the extraction's shards share it).
LOAD_TURN_KEY = "spotify-elt extract load"
#: Beside dlt's files in a pipeline's working folder: the database its local state belongs to.
DATABASE_MARKER = "spotify_elt_database.json"

#: dlt's settings for this project, as the environment variables dlt reads (unless set already):
#: no Airflow secrets lookup (3 s at start), no telemetry (no network), uncompressed CSV files
#: for Postgres COPY (dlt gzips at max level by default); a loaded package's files (copies of
#: what bronze holds: the listener's history among them) and the staging dataset's rows are not
#: kept once the load is complete.
DLT_ENVIRONMENT = {
    "PROVIDERS__ENABLE_AIRFLOW_SECRETS": "false",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "DATA_WRITER__DISABLE_COMPRESSION": "true",
    "LOAD__DELETE_COMPLETED_JOBS": "true",
    "LOAD__TRUNCATE_STAGING_DATASET": "true",
}

E = TypeVar("E", bound=BaseException)
Stage = Literal["settle", "load"]


def configure_dlt() -> None:
    """Set dlt's settings (:data:`DLT_ENVIRONMENT`) where a variable does not set them already.

    dlt reads its providers and runtime settings when a pipeline first asks for its run
    context: call this before building one (:func:`make_pipeline` does).
    """
    for name, value in DLT_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


def database_identity(url: str) -> str:
    """Which database ``url`` reaches: server, name and object id (a re-created one differs)."""
    dsn = Dsn.parse(url)
    with connect(url) as conn:
        row = conn.execute(
            "SELECT current_database(), oid FROM pg_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return f"{dsn.server}:{dsn.effective_port}/{row[0]}#{row[1]}"


def make_pipeline(settings: Settings, loader_url: str, name: str) -> Any:
    """The dlt pipeline ``name`` into bronze, its local state that of the database it loads.

    dlt keeps incremental cursors and schemas in the local working folder. When the data dir
    is pointed at another database, that folder describes the wrong one: it is reset, and dlt
    restores the state this database holds (``_dlt_pipeline_state``), if any, on the next run.
    """
    configure_dlt()
    import dlt

    pipeline = dlt.pipeline(  # type: ignore[call-overload]
        pipeline_name=name,
        destination=dlt.destinations.postgres(credentials=Dsn.parse(loader_url).dlt_credentials()),
        dataset_name=DATASET,
        pipelines_dir=str(Path(settings.data_dir) / "dlt"),
        progress="log" if os.environ.get("SPOTIFY_ELT_DLT_PROGRESS") else None,
    )
    identity = database_identity(loader_url)
    marker = Path(pipeline.working_dir) / DATABASE_MARKER
    try:
        previous = json.loads(marker.read_text()).get("database")
    except (OSError, ValueError, AttributeError):
        previous = None
    if previous is not None and previous != identity:
        log.warning(
            "the dlt state of %s belongs to another database (%s): reset, restored from %s",
            name,
            previous.rsplit("#", 1)[0],
            identity.rsplit("#", 1)[0],
        )
        pipeline = pipeline.drop()
    if previous != identity:
        Path(pipeline.working_dir).mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"database": identity}) + "\n")
    return pipeline


# ---------------------------------------------------------------------------- errors


def error_in(exc: BaseException, kind: type[E]) -> E | None:
    """The first exception of type ``kind`` in the chain of ``exc`` (causes and contexts)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, without its full stop (or its type's name)."""
    lines = str(exc).strip().splitlines()
    return lines[0].strip().rstrip(".") if lines else type(exc).__name__


def dlt_failure(exc: BaseException) -> str:
    """One line saying why a dlt step failed: the database's own message when there is one."""
    client = getattr(exc, "client_exception", None)
    if isinstance(client, BaseException):
        return first_line(client)
    failed = getattr(exc, "failed_message", None)
    if isinstance(failed, str) and failed.strip():
        # A formatted traceback: its last line names the error.
        return failed.strip().splitlines()[-1].strip().rstrip(".")
    return first_line(exc)


# ---------------------------------------------------------------------------- load packages


def discard_package_rows(pipeline: Any, load_ids: Sequence[str]) -> int:
    """Delete what load packages ``load_ids`` wrote to the dataset; returns the rows deleted.

    Every table of the dataset with a ``_dlt_load_id`` column is cleaned (the pipeline state
    row of the package too, so that a state restored from the destination never names it).
    """
    if not load_ids:
        return 0
    deleted = 0
    with pipeline.sql_client() as client:
        tables = client.execute_sql(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = %s "
            "AND column_name = '_dlt_load_id' ORDER BY 1",
            client.dataset_name,
        )
        for (table,) in tables or []:
            qualified = client.make_qualified_table_name(table)
            with client.execute_query(
                f"DELETE FROM {qualified} WHERE _dlt_load_id = ANY(%s)", list(load_ids)
            ) as cursor:
                native = getattr(cursor, "native_cursor", cursor)
                deleted += max(getattr(native, "rowcount", 0) or 0, 0)
    return deleted


def _remove_aborted_files(pipeline: Any, load_ids: Sequence[str]) -> None:
    """dlt keeps an aborted package's files (copies of the data); nothing will load them."""
    for load_id in load_ids:
        shutil.rmtree(Path(pipeline.working_dir) / "load" / "loaded" / load_id, ignore_errors=True)


def settle_pending_packages(pipeline: Any) -> list[str]:
    """Finish or discard what a killed or failed run left pending, before anything new runs.

    dlt loads a package one job (file) at a time, each in its own transaction, and a run with
    pending packages loads them *instead of* the data it was given. A package is completed when
    that is safe: not loaded at all yet, or every started job has a recorded outcome and none
    failed. A job that was started and has none (the process died while loading it) may or may
    not be in the database: replaying it could load its rows twice; a job that failed may fail
    forever. Such a package is discarded instead: its rows are deleted from bronze and dlt's
    local state and schemas rewind to before it (the next run fetches the same data again).
    """
    if not pipeline.has_pending_data:
        return []
    plan = pipeline.abort_packages(dry_run=True)
    package = plan and plan["package_to_abort"]
    if package and (
        package["interrupted_jobs"] or package["terminal_jobs"] or package["transient_jobs"]
    ):
        load_ids = [package["load_id"], *plan["packages_to_delete"]]
        deleted = discard_package_rows(pipeline, load_ids)
        pipeline.abort_packages()
        _remove_aborted_files(pipeline, load_ids)
        log.warning(
            "discarded the load package %s left by an interrupted run (%d rows removed from %s)",
            package["load_id"],
            deleted,
            DATASET,
        )
        return []
    log.info("completing the load package(s) left by an interrupted run")
    if pipeline.list_extracted_load_packages():
        pipeline.normalize()
    if pipeline.list_normalized_load_packages():
        info = pipeline.load()
        return list(info.loads_ids) if info is not None else []
    return []


def discard_failed_packages(pipeline: Any, failed_load_id: str | None = None) -> None:
    """After a failed load, drop what it left (bronze rows included): all or nothing."""
    load_ids = [failed_load_id] if failed_load_id else []
    with contextlib.suppress(Exception):
        if pipeline.has_pending_data:
            plan = pipeline.abort_packages(dry_run=True)
            if plan:
                load_ids += [plan["restore_from_load_id"], *plan["packages_to_delete"]]
                discard_package_rows(pipeline, load_ids)
                pipeline.abort_packages()
        elif load_ids:
            discard_package_rows(pipeline, load_ids)  # dlt aborted it already
    _remove_aborted_files(pipeline, load_ids)


def rows_loaded(pipeline: Any, load_ids: Sequence[str]) -> Counter[str]:
    """Rows per bronze table that these load packages wrote (counted in the destination)."""
    counts: Counter[str] = Counter()
    if not load_ids:
        return counts
    tables = sorted(
        {
            name
            for schema in pipeline.schemas.values()
            for name, table in schema.tables.items()
            if not name.startswith("_dlt") and table.get("columns")
        }
    )
    with pipeline.sql_client() as client:
        existing = {
            row[0]
            for row in client.execute_sql(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                client.dataset_name,
            )
            or []
        }
        for table in (t for t in tables if t in existing):
            qualified = client.make_qualified_table_name(table)
            rows = client.execute_sql(
                f"SELECT count(*) FROM {qualified} WHERE _dlt_load_id = ANY(%s)", list(load_ids)
            )
            if rows and rows[0][0]:
                counts[table] = int(rows[0][0])
    return counts


# ---------------------------------------------------------------------------- the run


@dataclass
class Loaded:
    """What :func:`load_into_bronze` loaded: its package(s), and any an interrupted run left."""

    load_ids: list[str] = field(default_factory=list)
    """The packages of this run's source."""
    settled: list[str] = field(default_factory=list)
    """The packages an interrupted run left, completed before this run's."""
    rows: Counter[str] = field(default_factory=Counter)
    """Rows per table of all those packages (counted only when asked: a query per table)."""


#: Words the error of a failed run: the stage (settling what an earlier run left, or this
#: run's own load) and the exception (dlt's ``PipelineStepFailed`` or a database error).
FailureWording = Callable[[Stage, BaseException], UserError]


def load_into_bronze(
    pipeline: Any,
    source: Any,
    *,
    fail: FailureWording,
    loader_url: str | None = None,
    all_or_nothing: bool = False,
    count_rows: bool = False,
) -> Loaded:
    """Run ``source`` into bronze: extract and normalize, then load in turns with other runs.

    As dlt's ``run`` does, the state is first restored from bronze when this machine has none
    (a new worker); then what a killed run left behind is settled
    (:func:`settle_pending_packages`). With ``loader_url``, dlt's load steps take turns under an
    advisory lock: they create and alter tables (its own ``_dlt_*`` tables, which every pipeline
    of the dataset shares, and the staging tables), so concurrent runs would race on that DDL,
    while the API-bound extraction runs in parallel. With ``all_or_nothing``, a failed run drops
    what it left (bronze rows included); otherwise the next run settles it. A failure raises
    ``fail(stage, exc)``; Ctrl-C or a plain kill inside dlt is raised as itself.
    """
    from dlt.destinations.exceptions import DatabaseException
    from dlt.pipeline.exceptions import PipelineStepFailed

    def turn() -> contextlib.AbstractContextManager[None]:
        if loader_url is None:
            return contextlib.nullcontext()
        return advisory_lock(loader_url, LOAD_TURN_KEY, wait=True)

    loaded = Loaded()
    stage: Stage = "settle"
    try:
        with turn():
            pipeline.sync_destination()
            loaded.settled = settle_pending_packages(pipeline)
        stage = "load"
        pipeline.extract(source, loader_file_format="csv")
        pipeline.normalize()
        with turn():
            info = pipeline.load()
        loaded.load_ids = list(info.loads_ids)
        if count_rows:
            loaded.rows = rows_loaded(pipeline, [*loaded.settled, *loaded.load_ids])
    except PipelineStepFailed as exc:
        if not isinstance(exc.exception, Exception):
            raise exc.exception from None  # Ctrl-C or a plain kill: the next run settles it
        if all_or_nothing and stage == "load":
            discard_failed_packages(pipeline, getattr(exc, "load_id", None))
        log.debug("dlt step %s failed", exc.step, exc_info=exc)
        raise fail(stage, exc) from None
    except (psycopg.Error, DatabaseException) as exc:
        raise fail(stage, exc) from None
    return loaded
