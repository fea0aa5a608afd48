"""What the Airflow DAG ``spotify_elt`` runs, kept in the application so it is typed and tested.

The DAG file (``airflow/dags/spotify_elt_dag.py``) stays a thin description of the pipeline; the
work of each task lives here and goes through the same code as the CLI:

* :func:`extract_task` calls :func:`spotify_elt.extraction.run_extract` for a group of bronze
  resources (or the catalog) and returns row counts only; each group is a shard with its own dlt
  pipeline and table locks, so the DAG's mapped extract tasks run in parallel while sharing one
  rate budget held in PostgreSQL;
* :func:`inject_dbt_env` is a Cosmos *interceptor*: it gives dbt the transformer role's connection
  at run time, outside the rendered templates, so no password is ever rendered, stored in XCom or
  written to a log;
* :func:`keep_run_results` is a Cosmos callback that keeps each dbt task's ``run_results.json``
  for the catalog (dbt test results become DataHub assertions);
* :func:`docs_task` writes the run's docs bundle (:func:`spotify_elt.dbt_runner.write_docs_bundle`:
  ``dbt docs generate``, ``dbt source freshness``, the dbt tasks' test results and the markdown
  catalog) into the run's artifact folder; :func:`datahub_task` feeds DataHub from it.

Credentials: the database from the Airflow Connection ``spotify_elt_postgres`` when it exists (its
host, port, database; role passwords stay in the vault), else from the configuration; the Spotify
app from the Connection ``spotify_elt_spotify`` (login = client id, password = client secret,
extra ``refresh_token``/``vault_prefix``) when it exists, else from the vault.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .config import Settings, load_settings
from .dbt_runner import dbt_env, write_docs_bundle
from .dsn import Dsn
from .errors import UserError

log = logging.getLogger(__name__)

#: libpq options of the Postgres connection's extra that reach the DSN (Airflow's postgres
#: provider reads the same keys).
LIBPQ_EXTRA_OPTIONS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout")

REPO_ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "spotify_elt"
POSTGRES_CONN_ID = "spotify_elt_postgres"
SPOTIFY_CONN_ID = "spotify_elt_spotify"
DATAHUB_CONN_ID = "datahub_rest_default"

# Extract shards: the listener's bronze tables grouped the way they are fetched (one mapped task
# each, in parallel: disjoint tables, a dlt pipeline each), then the catalog.
EXTRACT_GROUPS: dict[str, tuple[str, ...]] = {
    "plays": ("recently_played",),
    "top_lists": ("top_artists", "top_tracks"),
    "library": ("saved_tracks", "saved_albums", "followed_artists"),
    "playlists": ("playlists", "playlist_items"),
}

# Environment variables of the DAG (besides SPOTIFY_ELT_* settings, read by load_settings()).
ENV_SCHEDULE = "SPOTIFY_ELT_AIRFLOW_SCHEDULE"
ENV_TEST_BEHAVIOR = "SPOTIFY_ELT_DBT_TEST_BEHAVIOR"
ENV_ARTIFACTS = "SPOTIFY_ELT_ARTIFACTS_DIR"
ENV_SELECT = "SPOTIFY_ELT_DBT_SELECT"
ENV_RETRIES = "SPOTIFY_ELT_AIRFLOW_RETRIES"
ENV_EXECUTION_MODE = "SPOTIFY_ELT_DBT_EXECUTION_MODE"  # Cosmos: watcher (default) or local


# --------------------------------------------------------------------------- paths


def dags_folder() -> Path:
    return REPO_ROOT / "airflow" / "dags"


def artifacts_root(settings: Settings) -> Path:
    """Per-run dbt artifacts for the catalog: ``SPOTIFY_ELT_ARTIFACTS_DIR`` or the data dir."""
    configured = os.environ.get(ENV_ARTIFACTS)
    return Path(configured) if configured else settings.data_dir / "dbt_artifacts"


def run_folder(settings: Settings, run_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id).strip("_") or "run"
    return artifacts_root(settings) / safe


# --------------------------------------------------------------------------- connections


@dataclass(frozen=True)
class ConnectionValues:
    """The parts of an Airflow Connection this project reads (no Airflow import needed)."""

    host: str | None = None
    port: int | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = None
    extra: Mapping[str, Any] | None = None


def get_connection(conn_id: str) -> ConnectionValues | None:
    """The Airflow Connection ``conn_id`` (environment, secrets backend or metadata DB), or None."""
    try:
        from airflow.sdk import BaseHook
    except ImportError:  # outside Airflow
        return None
    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:  # AirflowNotFoundException, or no API server outside a task
        log.debug("no Airflow connection %s (%s)", conn_id, type(exc).__name__)
        return None
    extra = conn.extra_dejson if conn.extra else {}
    return ConnectionValues(
        host=conn.host or None,
        port=conn.port,
        schema=conn.schema or None,
        login=conn.login or None,
        password=conn.password or None,
        extra=extra,
    )


def postgres_url_from_connection(conn: ConnectionValues) -> str:
    """A libpq DSN from a Postgres connection; a host starting with ``/`` is a socket folder."""
    if not conn.schema:
        raise UserError(
            f"The Airflow connection {POSTGRES_CONN_ID} names no database (its schema field)."
        )
    # libpq options an Airflow Postgres connection keeps in its extra (sslmode, ...).
    extra = conn.extra or {}
    params = tuple((k, str(v)) for k, v in extra.items() if k in LIBPQ_EXTRA_OPTIONS)
    return Dsn.build(
        host=conn.host or "localhost",
        port=conn.port,
        user=conn.login or "postgres",
        password=conn.password,
        database=conn.schema,
        params=params,
    ).url


def postgres_connection_from_url(url: str) -> dict[str, Any]:
    """The fields of an Airflow Connection (JSON form) for a DSN, Unix sockets included."""
    return Dsn.parse(url).airflow_connection()


def task_settings() -> Settings:
    """The configuration a task runs with: ``load_settings()`` plus the Postgres connection."""
    settings = load_settings()
    conn = get_connection(POSTGRES_CONN_ID)
    if conn is not None:
        settings = replace(settings, database_url=postgres_url_from_connection(conn))
    return settings


def spotify_credentials(settings: Settings, vault: Any) -> Any:
    """Spotify credentials from the Connection ``spotify_elt_spotify`` filled in from the vault.

    The connection's login is the client id and its password the client secret; its extra may
    hold ``refresh_token`` and ``vault_prefix`` (vault entries of another profile, e.g. the
    emulator demo's ``emulator.``). A refresh token in the vault wins over the connection's: a
    rotated token is saved there.
    """
    from .extraction import Credentials, credentials_from_vault, secret_names

    conn = get_connection(SPOTIFY_CONN_ID)
    if conn is None:
        return credentials_from_vault(settings, vault)
    extra = dict(conn.extra or {})
    prefix = str(extra.get("vault_prefix") or "")
    from_vault = credentials_from_vault(settings, vault, client_id=conn.login, prefix=prefix)
    refresh = from_vault.refresh_token or extra.get("refresh_token") or None
    if refresh:
        from .logs import register_secret

        register_secret(str(refresh))
    _, refresh_name = secret_names(prefix)
    return Credentials(
        client_id=from_vault.client_id,
        client_secret=conn.password or from_vault.client_secret,
        refresh_token=str(refresh) if refresh else None,
        save_refresh_token=lambda token: vault.set(refresh_name, token),
    )


def _mask(*values: str | None) -> None:
    """Register values with Airflow's log masker and the project's redacting filter."""
    from .logs import register_secret

    for value in values:
        if not value:
            continue
        register_secret(value)
        try:
            from airflow.sdk.log import mask_secret

            mask_secret(value)
        except ImportError:  # outside Airflow
            pass


# --------------------------------------------------------------------------- dbt


def masked_dbt_env(settings: Settings, vault: Any) -> dict[str, str]:
    """:func:`spotify_elt.dbt_runner.dbt_env`, its password also masked in Airflow's task logs."""
    env = dbt_env(settings, vault)
    _mask(env.get("SPOTIFY_ELT_DBT_PASSWORD"))
    return env


def inject_dbt_env(context: Any, operator: Any) -> None:
    """Cosmos interceptor: the transformer's credentials for the dbt command, at run time.

    They go into this task process's environment, which the operator passes on
    (``append_env=True``), not into ``operator.env``: that is a template field, and Cosmos stores
    rendered fields again after execution. So the password never reaches rendered fields, XComs
    or the DAG file, and it is masked in logs.
    """
    settings = task_settings()
    from .vault import Vault

    os.environ.update(masked_dbt_env(settings, Vault.from_settings(settings)))


def keep_run_results(project_dir: str, **kwargs: Any) -> None:
    """Cosmos callback: copy the task's ``run_results.json`` into the run's artifact folder."""
    context = kwargs.get("context") or {}
    source = Path(project_dir) / "target" / "run_results.json"
    if not source.exists():
        return
    run_id = str(context.get("run_id") or "manual")
    ti = context.get("ti")
    task_id = str(getattr(ti, "task_id", None) or "dbt")
    folder = run_folder(load_settings(), run_id) / "run_results"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, folder / f"{task_id}.json")


# --------------------------------------------------------------------------- tasks


def shard_pipeline(shard: str) -> str:
    """The dlt pipeline of an extract shard: its own working directory and incremental state."""
    from .extraction import PIPELINE_NAME

    return f"{PIPELINE_NAME}_{shard}"


def extract_group(group: str) -> dict[str, int]:
    """Extract one shard of :data:`EXTRACT_GROUPS` (a mapped task of the DAG); rows per table."""
    if group not in EXTRACT_GROUPS:
        raise UserError(f"Unknown extract group {group!r}; known: {', '.join(EXTRACT_GROUPS)}.")
    return extract_task(EXTRACT_GROUPS[group], shard=group)


def extract_task(
    resources: Sequence[str] | None, *, catalog: bool = False, shard: str | None = None
) -> dict[str, int]:
    """Extract some bronze resources (or, with ``resources=None``, the catalog); rows per table.

    ``shard`` names the dlt pipeline (:func:`shard_pipeline`); the catalog is the shard
    ``catalog``.
    """
    from .extraction import run_extract
    from .vault import Vault

    settings = task_settings()
    vault = Vault.from_settings(settings)
    credentials = spotify_credentials(settings, vault)
    _mask(credentials.client_secret, credentials.refresh_token)
    summary = run_extract(
        settings,
        vault,
        credentials,
        resources=list(resources) if resources else None,
        user_data=resources is not None,
        catalog=catalog,
        wait_for_lock=True,
        pipeline_name=shard_pipeline(shard or ("catalog" if resources is None else "user")),
    )
    for warning in summary.warnings:
        log.warning("%s", warning)
    log.info(
        "%d requests, rows %s, %.1f s",
        summary.total_requests,
        dict(summary.rows),
        summary.seconds,
    )
    return dict(summary.rows)


def docs_task(run_id: str) -> str:
    """The run's docs bundle (:func:`spotify_elt.dbt_runner.write_docs_bundle`) with the test
    results its dbt tasks kept; returns the artifact folder of the run (``target/`` holds what
    DataHub reads)."""
    from .vault import Vault

    settings = task_settings()
    env = masked_dbt_env(settings, Vault.from_settings(settings))
    folder = run_folder(settings, run_id)
    # The dbt tasks' results (tests included) replace what docs generate left in run_results.
    kept = list((folder / "run_results").glob("*.json")) or None
    bundle = write_docs_bundle(env, folder, run_results=kept)
    latest = artifacts_root(settings) / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(folder, target_is_directory=True)
    log.info("dbt docs and the markdown catalog (%d pages) in %s", bundle.pages, folder)
    return str(folder)


def report_task() -> str:
    """The seaborn report (``spotify-elt report``) from gold, as the reader role."""
    from .report import render_report
    from .vault import Vault

    settings = task_settings()
    report = render_report(settings, Vault.from_settings(settings))
    log.info("report written to %s (%d charts)", report.html, len(report.charts))
    return str(report.html)


def datahub_task(artifacts: str) -> dict[str, Any]:
    """Run the DataHub recipes (server when DATAHUB_GMS_URL is set, else the offline file sink)."""
    from .catalog import run_catalog
    from .vault import Vault

    settings = task_settings()
    vault = Vault.from_settings(settings)
    report = run_catalog(settings, vault, artifacts=Path(artifacts) / "target")
    return report.as_dict()
