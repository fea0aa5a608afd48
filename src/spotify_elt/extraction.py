"""The extract step of the main job: Spotify (or the emulator) into the bronze schema, with dlt.

Shared by ``spotify-elt extract``, ``spotify-elt run`` and the Airflow DAG. It assembles what the
``extract`` library receives as arguments (base URLs, credentials from the vault, a callback that
saves a rotated refresh token, the loader role's connection) and runs two dlt sources into the
same pipeline: the listener's data first, then the catalog objects bronze does not hold yet.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import psycopg

from .config import Settings
from .db import DatabaseTarget, advisory_lock, connect, describe_url, role_urls
from .errors import UserError
from .vault import CLIENT_SECRET, REFRESH_TOKEN, Vault

# dlt reads these at import: no Airflow secrets lookup (3 s at start), no telemetry (no network),
# uncompressed CSV files for Postgres COPY (dlt gzips at max level by default).
os.environ.setdefault("PROVIDERS__ENABLE_AIRFLOW_SECRETS", "false")
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("DATA_WRITER__DISABLE_COMPRESSION", "true")

import dlt
from dlt.destinations.impl.postgres.configuration import PostgresCredentials

from extract.spotify import (
    USER_TABLES,
    ExtractCounters,
    spotify_catalog_source,
    spotify_user_source,
)
from extract.spotify.client import (
    ClientCredentialsToken,
    RefreshTokenToken,
    RetryPolicy,
    SpotifyClient,
    SpotifyError,
)

from .bronze import catalog_work

log = logging.getLogger(__name__)

PIPELINE_NAME = "spotify_elt_bronze"
DATASET = "bronze"
LOCK_KEY = "spotify-elt extract"


class ExtractError(UserError):
    """The extraction could not finish; bronze holds only complete load packages."""

    exit_code = 5


@dataclass(frozen=True)
class Credentials:
    """What the extractor needs to authenticate; built from the vault, never printed."""

    client_id: str
    client_secret: str | None
    refresh_token: str | None
    save_refresh_token: Callable[[str], None] | None = None
    scopes: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return (
            f"Credentials(client_id={self.client_id!r}, client_secret="
            f"{'<set>' if self.client_secret else None}, refresh_token="
            f"{'<set>' if self.refresh_token else None})"
        )


def secret_names(prefix: str = "") -> tuple[str, str]:
    """Vault names of the client secret and the refresh token (a prefix keeps profiles apart)."""
    return f"{prefix}{CLIENT_SECRET}", f"{prefix}{REFRESH_TOKEN}"


def credentials_from_vault(
    settings: Settings, vault: Vault, *, client_id: str | None = None, prefix: str = ""
) -> Credentials:
    """The Spotify credentials of this configuration (client id from config, secrets from vault)."""
    cid = client_id or settings.client_id
    if not cid:
        raise UserError(
            "No Spotify client id is configured; set SPOTIFY_ELT_CLIENT_ID (or client_id in "
            "config.toml) to your app's id."
        )
    secret_name, refresh_name = secret_names(prefix)

    def save(token: str) -> None:
        vault.set(refresh_name, token)
        log.info("saved the rotated refresh token to the vault")

    return Credentials(
        client_id=cid,
        client_secret=vault.get(secret_name),
        refresh_token=vault.get(refresh_name),
        save_refresh_token=save,
    )


def build_client(
    settings: Settings,
    credentials: Credentials,
    *,
    on_request: Callable[[str, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SpotifyClient:
    import requests

    session = requests.Session()
    session.headers["User-Agent"] = "spotify-elt (+https://github.com/spotify-elt)"
    token_url = f"{settings.accounts_url.rstrip('/')}/api/token"
    app = (
        ClientCredentialsToken(session, token_url, credentials.client_id, credentials.client_secret)
        if credentials.client_secret
        else None
    )
    user = (
        RefreshTokenToken(
            session,
            token_url,
            credentials.client_id,
            credentials.refresh_token,
            on_rotated=credentials.save_refresh_token,
        )
        if credentials.refresh_token
        else None
    )
    return SpotifyClient(
        settings.api_url,
        app_token=app,
        user_token=user,
        rate_budget=settings.rate_budget,
        rate_window=settings.rate_window_seconds,
        retry=RetryPolicy(max_retries=settings.max_retries, backoff_base=settings.backoff_seconds),
        session=session,
        on_request=on_request,
        sleep=sleep,
    )


def dlt_credentials(url: str) -> PostgresCredentials:
    """dlt credentials for a DSN, including a Unix-socket host given as ``?host=/dir``."""
    parts = urlsplit(url)
    creds = PostgresCredentials()
    creds.database = parts.path.lstrip("/")
    creds.username = unquote(parts.username or "")
    # dlt refuses a DSN without a password even under trust auth.
    creds.password = unquote(parts.password or "") or "unused"
    host = parts.hostname or ""
    query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
    if not host and "host" in query:
        # A socket directory: dlt rebuilds a URL, where libpq wants it percent-encoded.
        host = quote(unquote(query.pop("host")), safe="")
    creds.host = host or "localhost"
    creds.port = parts.port or 5432
    creds.connect_timeout = 15
    return creds


@dataclass
class ExtractSummary:
    """The end-of-run report: what was requested, loaded, retried and skipped."""

    rows: Counter[str] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    rate_limit_waits: int = 0
    rate_limit_wait_seconds: float = 0.0
    throttle_wait_seconds: float = 0.0
    skipped_playlists: int = 0
    missing_ids: int = 0
    batch_fallback: bool = False
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    load_ids: list[str] = field(default_factory=list)
    user_data: bool = False

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


@contextlib.contextmanager
def extract_lock(loader_url: str, *, wait: bool) -> Iterator[None]:
    """One extraction at a time per database (a session-level advisory lock)."""
    busy = ExtractError(
        "Another extraction is running on this database; wait for it to finish or run with --wait."
    )
    with advisory_lock(loader_url, LOCK_KEY, wait=wait, busy=busy):
        yield


def _spotify_error_in(exc: BaseException) -> SpotifyError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, SpotifyError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _run_pipeline(pipeline: Any, source: Any, summary: ExtractSummary) -> None:
    from dlt.pipeline.exceptions import PipelineStepFailed

    try:
        info = pipeline.run(source, loader_file_format="csv")
    except PipelineStepFailed as exc:
        spotify = _spotify_error_in(exc)
        if spotify is not None:
            raise ExtractError(f"The extraction stopped: {spotify}") from None
        if isinstance(exc.__cause__ or exc.__context__, psycopg.Error):
            raise ExtractError(
                f"Loading into bronze failed at step {exc.step}: {exc.exception}"
            ) from None
        raise
    load_ids = list(info.loads_ids)
    summary.load_ids += load_ids
    if load_ids:
        summary.rows.update(_rows_loaded(pipeline, load_ids))


def _rows_loaded(pipeline: Any, load_ids: list[str]) -> Counter[str]:
    """Rows per bronze table that these load packages wrote (counted in the destination)."""
    counts: Counter[str] = Counter()
    tables = sorted(
        {
            name
            for schema in pipeline.schemas.values()
            for name, table in schema.tables.items()
            if not name.startswith("_dlt") and table.get("columns")
        }
    )
    with pipeline.sql_client() as client:
        for table in tables:
            qualified = client.make_qualified_table_name(table)
            rows = client.execute_sql(
                f"SELECT count(*) FROM {qualified} WHERE _dlt_load_id = ANY(%s)", load_ids
            )
            if rows and rows[0][0]:
                counts[table] = int(rows[0][0])
    return counts


def make_pipeline(settings: Settings, loader_url: str, name: str = PIPELINE_NAME) -> Any:
    return dlt.pipeline(  # type: ignore[call-overload]
        pipeline_name=name,
        destination=dlt.destinations.postgres(credentials=dlt_credentials(loader_url)),
        dataset_name=DATASET,
        pipelines_dir=str(Path(settings.data_dir) / "dlt"),
        progress="log" if os.environ.get("SPOTIFY_ELT_DLT_PROGRESS") else None,
    )


def run_extract(
    settings: Settings,
    vault: Vault,
    credentials: Credentials,
    *,
    user_data: bool = True,
    catalog: bool = True,
    resources: Sequence[str] | None = None,
    wait_for_lock: bool = False,
    on_request: Callable[[str, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    pipeline_name: str = PIPELINE_NAME,
) -> ExtractSummary:
    """Extract into bronze as the loader role; returns the run's summary.

    ``resources`` restricts the user data to some bronze tables (the Airflow DAG runs them as
    separate tasks); ``catalog`` then fetches what bronze references and lacks.
    """
    started = time.monotonic()
    summary = ExtractSummary()
    target = DatabaseTarget(settings)
    admin = target.admin_url()
    urls = role_urls(admin, vault)
    client = build_client(settings, credentials, on_request=on_request, sleep=sleep)
    counters = ExtractCounters()
    try:
        with extract_lock(urls.loader, wait=wait_for_lock):
            pipeline = make_pipeline(settings, urls.loader, pipeline_name)
            if user_data:
                if not credentials.refresh_token:
                    counters.warn(
                        "no refresh token in the vault: user data skipped "
                        "(run `spotify-elt auth login`)"
                    )
                else:
                    source = spotify_user_source(
                        client, counters=counters, time_ranges=settings.time_ranges
                    )
                    if resources:
                        unknown = set(resources) - set(USER_TABLES)
                        if unknown:
                            raise UserError(
                                f"Unknown resource(s) {', '.join(sorted(unknown))}; "
                                f"known: {', '.join(USER_TABLES)}."
                            )
                        wanted = set(resources)
                        if "playlist_items" in wanted:
                            wanted.add("playlists")
                        source = source.with_resources(*sorted(wanted))
                    _run_pipeline(pipeline, source, summary)
                    summary.user_data = True
            if catalog:
                if not credentials.client_secret:
                    counters.warn(
                        "no client secret in the vault: catalog enrichment skipped "
                        "(run `spotify-elt secrets set spotify_client_secret`)"
                    )
                else:
                    with connect(urls.loader) as conn:
                        work = catalog_work(
                            conn,
                            refresh_age=timedelta(days=settings.catalog_refresh_days),
                            seed_artist_ids=settings.seed_artist_ids,
                            search_queries=settings.search_queries,
                        )
                    if not work.empty:
                        api_mode: Any = settings.api_mode
                        _run_pipeline(
                            pipeline,
                            spotify_catalog_source(
                                client,
                                work,
                                api_mode=api_mode,
                                counters=counters,
                                search_pages=settings.search_pages,
                            ),
                            summary,
                        )
    except SpotifyError as exc:  # raised outside dlt (tokens fetched eagerly)
        raise ExtractError(f"The extraction stopped: {exc}") from None
    finally:
        stats = client.stats
        summary.requests = Counter(stats.requests)
        summary.retries = Counter(stats.retries)
        summary.rate_limit_waits = stats.rate_limit_waits
        summary.rate_limit_wait_seconds = stats.rate_limit_wait_seconds
        summary.throttle_wait_seconds = stats.throttle_wait_seconds
        summary.skipped_playlists = counters.skipped_playlists
        summary.missing_ids = counters.missing_ids
        summary.batch_fallback = counters.batch_fallback
        summary.warnings = list(counters.warnings)
        summary.seconds = time.monotonic() - started
    log.info(
        "extracted %d rows with %d requests into %s in %.1f s",
        sum(summary.rows.values()),
        summary.total_requests,
        describe_url(urls.loader),
        summary.seconds,
    )
    return summary
