"""The extract step of the main job: Spotify (or the emulator) into the bronze schema, with dlt.

Shared by ``spotify-elt extract``, ``spotify-elt run`` and the Airflow DAG. It assembles what the
``extract`` library receives as arguments (base URLs, credentials from the vault, a callback that
saves a rotated refresh token, the loader role's connection) and runs two dlt sources into the
same pipeline: the listener's data first, then the catalog objects bronze does not hold yet.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from extract.spotify import (
    CATALOG_TABLES,
    USER_TABLES,
    ExtractCounters,
    spotify_catalog_source,
    spotify_user_source,
)
from extract.spotify.client import (
    ClientCredentialsToken,
    RefreshTokenToken,
    RetryPolicy,
    SpotifyAuthError,
    SpotifyClient,
    SpotifyError,
)
from extract.spotify.shared_limit import PostgresRollingWindowLimiter

from .bronze import MISSING_TABLE, catalog_work
from .config import Settings
from .db import RATE_LIMIT_SCHEMA, DatabaseTarget, Dsn, advisory_lock, connect, role_urls
from .errors import UserError
from .loading import (
    DATASET,
    Stage,
    dlt_failure,
    error_in,
    first_line,
    load_into_bronze,
    make_pipeline,
)
from .vault import CLIENT_SECRET, REFRESH_TOKEN, Vault

log = logging.getLogger(__name__)

PIPELINE_NAME = "spotify_elt_bronze"
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
    limiter: Any = None,
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
        limiter=limiter,
    )


def shared_limiter(
    settings: Settings, loader_url: str, client_id: str, sleep: Callable[[float], None]
) -> PostgresRollingWindowLimiter:
    """The app's rate budget, held in the database so parallel extractions share it.

    Spotify counts per app: the bucket is the client id at this API.
    """
    return PostgresRollingWindowLimiter(
        loader_url,
        settings.rate_budget,
        settings.rate_window_seconds,
        bucket=f"{settings.api_url.rstrip('/')} {client_id}",
        schema=RATE_LIMIT_SCHEMA,
        sleep=sleep,
    )


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


def lock_keys(tables: Sequence[str], pipeline_name: str) -> list[str]:
    """The advisory locks an extraction holds: each bronze table it writes, and its dlt pipeline.

    Extractions of disjoint tables through different pipelines (the DAG's shards) run at once;
    two that share a table or a pipeline (its working directory and state) run one after the
    other. Taken in one sorted order, so waiting extractions cannot deadlock.
    """
    return sorted({f"{LOCK_KEY} table {t}" for t in tables} | {f"{LOCK_KEY} {pipeline_name}"})


def _stopped(exc: SpotifyError) -> ExtractError:
    """The one sentence for an extraction that Spotify (or the way to it) stopped."""
    if (
        isinstance(exc, SpotifyAuthError)
        and exc.grant == "refresh_token"
        and exc.error == "invalid_grant"
    ):
        return ExtractError(
            "Spotify no longer accepts the saved login (the refresh token was revoked or has "
            "expired); run `spotify-elt auth login` to log in again."
        )
    return ExtractError(f"The extraction stopped: {exc}")


def _load_failed(stage: Stage, exc: BaseException) -> ExtractError:
    """The one sentence for a run into bronze that failed (Spotify's refusal, when it was)."""
    from dlt.pipeline.exceptions import PipelineStepFailed

    spotify = error_in(exc, SpotifyError)
    if spotify is not None:
        return _stopped(spotify)
    if isinstance(exc, PipelineStepFailed):
        return ExtractError(
            f"Loading into bronze failed at step {exc.step}: {dlt_failure(exc.exception)}."
        )
    return ExtractError(f"Loading into bronze failed: {first_line(exc)}.")


def _run_pipeline(pipeline: Any, source: Any, summary: ExtractSummary, loader_url: str) -> None:
    """Run ``source`` into bronze in turns with other shards; count what it loaded."""
    loaded = load_into_bronze(
        pipeline, source, fail=_load_failed, loader_url=loader_url, count_rows=True
    )
    summary.load_ids += [*loaded.settled, *loaded.load_ids]
    summary.rows.update(loaded.rows)


#: Key columns of the catalog tables (as the catalog source's primary keys name them).
_CATALOG_KEYS = {
    "albums": ("album_id",),
    "album_tracks": ("album_id", "track_id"),
    "artists": ("artist_id",),
    "tracks": ("track_id",),
}


def create_empty_catalog_tables(loader_url: str) -> list[str]:
    """Create, empty, the catalog tables dlt has not created yet; returns their names.

    A library whose catalog ids the API all answered 404 (or that names none) leaves them
    absent, and dbt cannot unit-test or build over a relation that does not exist. The layout is
    dlt's own (it adopts an existing table and adds columns it lacks): the loader owns them.
    """
    created = []
    with connect(loader_url) as conn:
        for table, keys in _CATALOG_KEYS.items():
            exists = conn.execute("SELECT to_regclass(%s)", (f"{DATASET}.{table}",)).fetchone()
            if exists and exists[0] is not None:
                continue
            key_columns = "".join(f"{key} varchar NOT NULL, " for key in keys)
            conn.execute(
                f"CREATE TABLE {DATASET}.{table} (payload jsonb NOT NULL, "
                f"endpoint varchar NOT NULL, requested_at timestamptz NOT NULL, {key_columns}"
                f"_dlt_load_id varchar NOT NULL, _dlt_id varchar NOT NULL UNIQUE)"
            )
            created.append(table)
        conn.commit()
    if created:
        log.info("created the empty bronze tables %s (no catalog object yet)", ", ".join(created))
    return created


def _missing_source(missing: Sequence[tuple[str, str]]) -> Any:
    """The catalog ids the API answered as unknown, for ``bronze.catalog_missing``."""
    import dlt

    now = datetime.now(UTC)
    rows = [
        {"kind": kind, "object_id": object_id, "missing_at": now}
        for kind, object_id in dict.fromkeys(missing)
    ]

    @dlt.source(name="spotify_catalog_missing")
    def catalog_missing() -> Any:
        return dlt.resource(
            rows,
            name=MISSING_TABLE,
            primary_key=("kind", "object_id"),
            write_disposition="merge",
            columns={"missing_at": {"data_type": "timestamp", "nullable": False}},
        )

    return catalog_missing()


def _wanted_tables(resources: Sequence[str] | None) -> set[str]:
    """The user-data tables to extract (all by default; playlist items need the playlists)."""
    if resources:
        unknown = set(resources) - set(USER_TABLES)
        if unknown:
            raise UserError(
                f"Unknown resource(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(USER_TABLES)}."
            )
    wanted = set(resources or USER_TABLES)
    if "playlist_items" in wanted:
        wanted.add("playlists")
    return wanted


@dataclass
class _Run:
    """What the parts of one extraction share: where it loads, with what, and its tallies."""

    settings: Settings
    credentials: Credentials
    client: SpotifyClient
    pipeline: Any
    loader_url: str
    counters: ExtractCounters
    summary: ExtractSummary


def _extract_user_data(run: _Run, tables: set[str], resources: Sequence[str] | None) -> None:
    """The listener's data (a user token): all of it, or the bronze tables ``tables``."""
    if not run.credentials.refresh_token:
        run.counters.warn(
            "no refresh token in the vault: user data skipped (run `spotify-elt auth login`)"
        )
        return
    source = spotify_user_source(
        run.client, counters=run.counters, time_ranges=run.settings.time_ranges
    )
    if resources:
        source = source.with_resources(*sorted(tables))
    _run_pipeline(run.pipeline, source, run.summary, run.loader_url)
    run.summary.user_data = True


def _extract_catalog(run: _Run) -> None:
    """The catalog objects bronze references and lacks (an app token), then the unknown ids."""
    if not run.credentials.client_secret:
        run.counters.warn(
            "no client secret in the vault: catalog enrichment skipped "
            "(run `spotify-elt secrets set spotify_client_secret`)"
        )
        return
    settings = run.settings
    with connect(run.loader_url) as conn:
        work = catalog_work(
            conn,
            refresh_age=timedelta(days=settings.catalog_refresh_days),
            seed_artist_ids=settings.seed_artist_ids,
            search_queries=settings.search_queries,
            missing_retry_age=timedelta(days=settings.missing_retry_days),
        )
    if work.empty:
        return
    api_mode: Any = settings.api_mode
    source = spotify_catalog_source(
        run.client,
        work,
        api_mode=api_mode,
        counters=run.counters,
        search_pages=settings.search_pages,
    )
    _run_pipeline(run.pipeline, source, run.summary, run.loader_url)
    if run.counters.missing:
        _run_pipeline(
            run.pipeline, _missing_source(run.counters.missing), run.summary, run.loader_url
        )


def _tally(summary: ExtractSummary, client: SpotifyClient, counters: ExtractCounters) -> None:
    """Copy the client's and the sources' counts into the summary."""
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
    urls = role_urls(DatabaseTarget(settings).admin_url(), vault)
    wanted = _wanted_tables(resources)
    tables = [*(sorted(wanted) if user_data else []), *(CATALOG_TABLES if catalog else ())]
    limiter = shared_limiter(settings, urls.loader, credentials.client_id, sleep)
    client = build_client(
        settings, credentials, on_request=on_request, sleep=sleep, limiter=limiter
    )
    counters = ExtractCounters()
    busy = ExtractError(
        "Another extraction is writing the same bronze tables; wait for it to finish or run "
        "with --wait."
    )
    try:
        limiter.open()
        with advisory_lock(
            urls.loader, lock_keys(tables, pipeline_name), wait=wait_for_lock, busy=busy
        ):
            pipeline = make_pipeline(settings, urls.loader, pipeline_name)
            run = _Run(settings, credentials, client, pipeline, urls.loader, counters, summary)
            if user_data:
                _extract_user_data(run, wanted, resources)
            if catalog:
                _extract_catalog(run)
            create_empty_catalog_tables(urls.loader)
    except SpotifyError as exc:  # raised outside dlt (tokens fetched eagerly)
        raise _stopped(exc) from None
    except psycopg.errors.InvalidSchemaName:
        raise ExtractError(
            f"The database has no {RATE_LIMIT_SCHEMA} schema for the shared rate budget; "
            "run `spotify-elt db init` once."
        ) from None
    finally:
        limiter.close()
        _tally(summary, client, counters)
        summary.seconds = time.monotonic() - started
    log.info(
        "extracted %d rows with %d requests into %s in %.1f s",
        sum(summary.rows.values()),
        summary.total_requests,
        Dsn.parse(urls.loader).describe(),
        summary.seconds,
    )
    return summary
