"""One rolling-window rate budget shared by every process and machine, held in PostgreSQL.

Spotify counts an app's requests over a rolling 30-second window, whoever sends them. Parallel
extractions (Airflow tasks on several workers, a CLI run beside the DAG) must therefore draw from
one budget. :class:`PostgresRollingWindowLimiter` keeps the send times of the last window in a
table; each request takes a transaction-level advisory lock on its bucket, drops what left the
window, and either records itself or learns how long to wait. Times come from the database
server's clock, so the processes need not agree on theirs.

It receives a connection string and a schema where its role may create a table; it implements
:class:`extract.spotify.client.RateLimiter`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

import psycopg
from psycopg import sql

from .client import checked_budget

log = logging.getLogger(__name__)

TABLE = "spotify_requests"


class PostgresRollingWindowLimiter:
    """At most ``budget`` requests per ``window`` seconds per ``bucket``, across processes."""

    def __init__(
        self,
        dsn: str,
        budget: int,
        window: float = 30.0,
        *,
        bucket: str = "spotify",
        schema: str = "ratelimit",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.budget = checked_budget(budget)
        self.window = window
        self.bucket = bucket
        self._dsn = dsn
        self._sleep = sleep
        self._table = sql.Identifier(schema, TABLE)
        self._schema = schema
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()  # one connection, used by one thread at a time

    # ------------------------------------------------------------------ connection

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=10)
            self._ensure_table(self._conn)
        return self._conn

    def _ensure_table(self, conn: psycopg.Connection) -> None:
        with conn.transaction():
            # CREATE TABLE IF NOT EXISTS races with itself; the lock serialises first uses.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('spotify-elt rate limit init'))")
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (bucket text NOT NULL, "
                    "sent_at timestamptz NOT NULL)"
                ).format(self._table)
            )
            conn.execute(
                sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (bucket, sent_at)").format(
                    sql.Identifier(f"{TABLE}_bucket_sent_at"), self._table
                )
            )

    def open(self) -> None:
        """Connect and create the table now (a missing schema fails here, not mid-run)."""
        with self._lock:
            self._connection()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(psycopg.Error):
                    self._conn.close()
                self._conn = None

    # ------------------------------------------------------------------ RateLimiter

    def _try(self) -> float | None:
        """Record one request (return None) or return the seconds until one fits."""
        conn = self._connection()
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"rate {self.bucket}",))
            conn.execute(
                sql.SQL(
                    "DELETE FROM {} WHERE bucket = %s "
                    "AND sent_at <= clock_timestamp() - make_interval(secs => %s)"
                ).format(self._table),
                (self.bucket, self.window),
            )
            row = conn.execute(
                sql.SQL(
                    "SELECT count(*), extract(epoch FROM min(sent_at) "
                    "+ make_interval(secs => %s) - clock_timestamp()) FROM {} WHERE bucket = %s"
                ).format(self._table),
                (self.window, self.bucket),
            ).fetchone()
            count, wait = (int(row[0]), row[1]) if row else (0, None)
            if count < self.budget:
                conn.execute(
                    sql.SQL("INSERT INTO {} VALUES (%s, clock_timestamp())").format(self._table),
                    (self.bucket,),
                )
                return None
        return max(0.001, float(wait or 0.0) + 0.001)

    def acquire(self) -> float:
        """Block until a request may go (in every process sharing the bucket); seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                try:
                    delay = self._try()
                except psycopg.OperationalError:
                    # A dropped connection: reconnect once; a second failure is the caller's.
                    self._conn = None
                    delay = self._try()
            if delay is None:
                return waited
            self._sleep(delay)
            waited += delay

    def penalise(self, seconds: float) -> None:
        """After a 429 the window counts as full for ``seconds``, for every process."""
        with self._lock:
            conn = self._connection()
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"rate {self.bucket}",))
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE bucket = %s").format(self._table),
                    (self.bucket,),
                )
                conn.execute(
                    sql.SQL(
                        "INSERT INTO {} SELECT %s, clock_timestamp() "
                        "+ make_interval(secs => %s) FROM generate_series(1, %s)"
                    ).format(self._table),
                    (self.bucket, seconds - self.window, self.budget),
                )
        log.info("rate bucket %s full for %.1f s (Retry-After)", self.bucket, seconds)
