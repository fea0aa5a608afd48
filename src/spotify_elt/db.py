"""The database: an embedded PostgreSQL by default, or any server named by a DSN.

* :class:`EmbeddedPostgres` runs the PostgreSQL 16 that the ``pgserver`` wheel ships, with its data
  in the per-user data directory; it survives restarts of this program and of the machine (``up``
  starts it again), listens on a Unix socket only, trusts the ``postgres`` superuser on that socket
  and asks every other role for its password (scram-sha-256).
* :func:`init_database` creates the three schemas and three least-privilege roles the pipeline
  runs as; their passwords are generated once and kept in the vault.
* :func:`connect` turns the ways a connection fails into one sentence a user can act on.
* Every DSN is read by :class:`~spotify_elt.dsn.Dsn` (re-exported here), which converts it for
  dlt, dbt, Airflow and DataHub.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from .config import Settings, unsafe_database_name
from .dsn import Dsn, redact_url
from .errors import DatabaseError, UserError

if TYPE_CHECKING:
    from .vault import Vault

log = logging.getLogger(__name__)

# pgserver asks platformdirs for a runtime dir at import; without XDG_RUNTIME_DIR (servers,
# containers) that warns and falls back to /tmp, which is fine.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

# pgserver logs every pg_ctl call at INFO, including from its atexit hook: keep it for failures.
logging.getLogger("pgserver").setLevel(logging.WARNING)

LAYERS = ("bronze", "silver", "gold")
# dlt stages merge loads in "<dataset>_staging"; it belongs to the bronze layer.
BRONZE_STAGING = "bronze_staging"
# The shared rate budget of the extractors (extract.spotify.shared_limit), written by the loader.
RATE_LIMIT_SCHEMA = "ratelimit"

LOADER = "spotify_loader"
TRANSFORMER = "spotify_transformer"
READER = "spotify_reader"
#: The three kinds of pipeline role. Each installation (database) has roles of its own, named
#: ``<kind>_<database>`` (see :func:`role_name`): roles are server-wide, so one installation's
#: ``db init`` never touches another's roles or passwords.
ROLES = (LOADER, TRANSFORMER, READER)
#: Longest role name whose vault entry (``postgres_<role>_password``) is a valid secret name.
_ROLE_NAME_MAX = 46

_HBA_MARKER = "# managed by spotify-elt"
_HBA = f"""{_HBA_MARKER}
# The superuser is trusted on the Unix socket (the only listener); every other role
# proves its password, so the least-privilege roles are real credentials.
local   all   postgres   trust
local   all   all        scram-sha-256
"""


# --------------------------------------------------------------------------- connections


def _explain(exc: psycopg.Error, url: str) -> str:
    text = str(exc).strip()
    low = text.lower()
    dsn = Dsn.parse(url)
    user = dsn.user or "(default user)"
    where = dsn.describe()
    if "password authentication failed" in low or "no password supplied" in low:
        return f"PostgreSQL refused the credentials of user {user!r} for {where}."
    if re.search(r'database "[^"]+" does not exist', low):
        return (
            f"The {where} does not exist; create it or point SPOTIFY_ELT_DATABASE_URL "
            "at an existing database."
        )
    if re.search(r'role "[^"]+" does not exist', low):
        return f"PostgreSQL has no role {user!r} for {where}; run `spotify-elt db init`."
    if "permission denied" in low:
        first = text.splitlines()[0]
        return f"PostgreSQL refused the operation for user {user!r} on {where}: {first}."
    if any(
        marker in low
        for marker in (
            "connection refused",
            "could not connect",
            "no such file or directory",
            "could not translate host name",
            "timeout expired",
            "connection timed out",
            "name or service not known",
            "is the server running",
        )
    ):
        return f"Cannot reach PostgreSQL ({where}): is the server running and the address right?"
    if "invalid dsn" in low or "invalid connection option" in low or "missing" in low:
        return f"The database URL {redact_url(url)!r} is not a valid PostgreSQL DSN."
    first = text.splitlines()[0] if text else type(exc).__name__
    return f"PostgreSQL error on {where}: {first}."


def connect(url: str, *, autocommit: bool = True, connect_timeout: int = 5) -> psycopg.Connection:
    """Open a psycopg connection; every failure becomes one clear :class:`DatabaseError`."""
    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=connect_timeout)
    except psycopg.Error as exc:
        raise DatabaseError(_explain(exc, url)) from None


def with_credentials(url: str, user: str, password: str | None, database: str | None = None) -> str:
    """The same server (host, port, socket, options) as ``url`` with another user and password."""
    dsn = Dsn.parse(url).with_credentials(user, password)
    return (dsn if database is None else dsn.with_database(database)).url


def database_of(url: str) -> str:
    """The database ``url`` names, refused when it names none or one dbt could not quote."""
    name = Dsn.parse(url).database
    if not name:
        raise DatabaseError(
            f"The database URL {redact_url(url)!r} names no database; "
            "add one, e.g. .../spotify_elt."
        )
    problem = unsafe_database_name(name)
    if problem:
        raise DatabaseError(problem)
    return name


# --------------------------------------------------------------------------- embedded server


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    kind: str  # "embedded" or "external"
    where: str
    pid: int | None = None
    detail: str = ""


class EmbeddedPostgres:
    """The project-managed PostgreSQL (the ``pgserver`` wheel) with data in ``pgdata``."""

    def __init__(self, pgdata: Path, database: str = "spotify_elt") -> None:
        self.pgdata = pgdata
        self.database = database

    def __repr__(self) -> str:
        return f"EmbeddedPostgres(pgdata={str(self.pgdata)!r})"

    def _info(self):  # type: ignore[no-untyped-def]  # pgserver is untyped
        from pgserver.utils import PostmasterInfo

        try:
            info = PostmasterInfo.read_from_pgdata(self.pgdata)
        except (OSError, ValueError, AssertionError):
            return None
        if info is None or not info.is_running() or info.status != "ready":
            return None
        return info

    def is_running(self) -> bool:
        return self._info() is not None

    def admin_url(self, database: str | None = None) -> str:
        info = self._info()
        if info is None:
            raise DatabaseError(
                f"The embedded PostgreSQL ({self.pgdata}) is not running; "
                "start it with `spotify-elt db up`."
            )
        # pgserver puts the name into the URL as it is; a name needing quoting is re-encoded.
        return with_credentials(
            str(info.get_uri(database="postgres")), "postgres", "", database or self.database
        )

    def up(self) -> str:
        """Start the server if needed (idempotent, fast when running) and return its admin URL."""
        if self._info() is None:
            self._start()
        url = self.admin_url()
        self._ensure_database()
        return url

    def _start(self) -> None:
        import pgserver
        from pgserver.postgres_server import PostgresServer

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        # pgserver caches one handle per data directory and would not restart a server that
        # `down` stopped in this same process.
        PostgresServer._instances.pop(self.pgdata.expanduser().resolve(), None)
        started = time.monotonic()
        try:
            # cleanup_mode=None: the server outlives this process; `db down` stops it.
            server = pgserver.get_server(self.pgdata, cleanup_mode=None)
        except Exception as exc:  # pgserver raises bare subprocess/assert errors
            log_file = self.pgdata / "log"
            raise DatabaseError(
                f"The embedded PostgreSQL in {self.pgdata} did not start ({type(exc).__name__}); "
                f"see {log_file}."
            ) from None
        if self._secure_hba():
            server.psql("SELECT pg_reload_conf();")
        log.info(
            "embedded PostgreSQL ready in %.1f s (%s)", time.monotonic() - started, self.pgdata
        )

    def _secure_hba(self) -> bool:
        hba = self.pgdata / "pg_hba.conf"
        current = hba.read_text() if hba.exists() else ""
        if current.startswith(_HBA_MARKER):
            return False
        stat = hba.stat()
        hba.write_text(_HBA)
        with contextlib.suppress(PermissionError):
            os.chown(hba, stat.st_uid, stat.st_gid)
        return True

    def _ensure_database(self) -> None:
        with connect(self.admin_url("postgres")) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
                log.info("created database %s", self.database)

    def down(self) -> bool:
        """Stop the server; returns False when it was not running."""
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

        if self._info() is None:
            return False
        user = "pgserver" if os.geteuid() == 0 else None
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=user, timeout=60)
        except Exception as exc:
            # pg_ctl also fails when the server went away on its own meanwhile: that is stopped.
            for _ in range(50):
                if self._info() is None:
                    return True
                time.sleep(0.1)
            raise DatabaseError(
                f"The embedded PostgreSQL in {self.pgdata} did not stop ({type(exc).__name__})."
            ) from None
        return True


# --------------------------------------------------------------------------- which server


class DatabaseTarget:
    """The server this configuration uses: an external DSN or the embedded server."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.embedded = (
            None
            if settings.database_url
            else EmbeddedPostgres(settings.embedded_pgdata, settings.database_name)
        )

    @property
    def kind(self) -> str:
        return "embedded" if self.embedded else "external"

    def up(self) -> str:
        """Make the server available and return the admin URL."""
        if self.embedded is not None:
            return self.embedded.up()
        url = str(self.settings.database_url)
        database_of(url)
        connect(url).close()
        return url

    def admin_url(self) -> str:
        if self.embedded is not None:
            return self.embedded.admin_url()
        return str(self.settings.database_url)

    def status(self) -> ServerStatus:
        if self.embedded is not None:
            info = self.embedded._info()
            where = str(self.embedded.pgdata)
            if info is None:
                return ServerStatus(False, "embedded", where, detail="stopped")
            return ServerStatus(True, "embedded", where, pid=info.pid, detail="ready")
        url = str(self.settings.database_url)
        try:
            with connect(url) as conn:
                row = conn.execute("SHOW server_version").fetchone()
        except DatabaseError as exc:
            return ServerStatus(False, "external", Dsn.parse(url).describe(), detail=str(exc))
        return ServerStatus(
            True,
            "external",
            Dsn.parse(url).describe(),
            detail=f"PostgreSQL {row[0] if row else '?'}",
        )

    def down(self) -> bool:
        if self.embedded is None:
            raise DatabaseError(
                "SPOTIFY_ELT_DATABASE_URL names an external server; spotify-elt does not stop it."
            )
        return self.embedded.down()


# --------------------------------------------------------------------------- roles and schemas


@dataclass(frozen=True)
class RoleUrls:
    """Connection URLs (with passwords) for each pipeline role. Never print them."""

    loader: str
    transformer: str
    reader: str

    def for_role(self, role: str) -> str:
        return {LOADER: self.loader, TRANSFORMER: self.transformer, READER: self.reader}[role]


def role_name(kind: str, database: str) -> str:
    """The name of the ``kind`` role (:data:`ROLES`) of the installation in ``database``.

    ``spotify_loader`` of database ``spotify_elt`` is ``spotify_loader_spotify_elt``. A database
    name that is not lower-case letters, digits and ``_`` or is too long is shortened and
    suffixed with a hash of it, so that two databases never share a role.
    """
    if kind not in ROLES:
        raise ValueError(f"unknown role kind {kind!r}")
    room = _ROLE_NAME_MAX - len(kind) - 1
    if re.fullmatch(r"[a-z0-9_]+", database) and len(database) <= room:
        return f"{kind}_{database}"
    digest = hashlib.blake2b(database.encode(), digest_size=4).hexdigest()
    clean = re.sub(r"[^a-z0-9_]+", "_", database.lower())[: room - len(digest) - 1]
    return f"{kind}_{clean}_{digest}"


def role_names(database: str) -> dict[str, str]:
    """Role kind -> role name, for the installation in ``database``."""
    return {kind: role_name(kind, database) for kind in ROLES}


def new_role_password(role: str) -> str:
    """A fresh random password for a pipeline role."""
    return secrets.token_urlsafe(24)


def _role_password(vault: Vault, role: str) -> tuple[str, bool]:
    from .vault import db_password_name

    name = db_password_name(role)
    existing = vault.get(name)
    if existing:
        return existing, False
    password = new_role_password(role)
    vault.set(name, password)
    return password, True


def role_urls(admin_url: str, vault: Vault) -> RoleUrls:
    """The URLs of the installation's three roles (its database's; passwords from the vault)."""
    from .vault import db_password_name

    urls = {}
    for kind, name in role_names(database_of(admin_url)).items():
        password = vault.get(db_password_name(name))
        if password is None:
            raise DatabaseError(
                f"The vault holds no password for the role {name} of database "
                f"{database_of(admin_url)!r}; run `spotify-elt db init`."
            )
        urls[kind] = with_credentials(admin_url, name, password)
    return RoleUrls(loader=urls[LOADER], transformer=urls[TRANSFORMER], reader=urls[READER])


def _grant_statements(database: str) -> list[sql.Composable]:
    ident = sql.Identifier
    db = ident(database)
    names = role_names(database)
    loader, transformer, reader = (ident(names[k]) for k in ROLES)
    bronze, staging, silver, gold = (ident(s) for s in (*LAYERS[:1], BRONZE_STAGING, *LAYERS[1:]))
    statements: list[sql.Composable] = []
    ratelimit = ident(RATE_LIMIT_SCHEMA)
    for schema in (bronze, staging, silver, gold, ratelimit):
        statements.append(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
        statements.append(sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(schema))
    statements += [
        # Nobody but the owner creates objects in public (PostgreSQL < 15 allowed everyone).
        sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"),
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}, {}, {}").format(
            db, loader, transformer, reader
        ),
        # Loader: creates and writes in bronze (and dlt's bronze staging) only.
        sql.SQL("GRANT USAGE, CREATE ON SCHEMA {}, {} TO {}").format(bronze, staging, loader),
        # ... and keeps the extractors' shared rate budget.
        sql.SQL("GRANT USAGE, CREATE ON SCHEMA {} TO {}").format(ratelimit, loader),
        # Transformer: reads bronze, writes silver and gold.
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(bronze, transformer),
        sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(bronze, transformer),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT ON TABLES TO {}"
        ).format(loader, bronze, transformer),
        sql.SQL("GRANT USAGE, CREATE ON SCHEMA {}, {} TO {}").format(silver, gold, transformer),
        # Reader: SELECT on gold only, including tables the transformer creates later.
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(gold, reader),
        sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(gold, reader),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT ON TABLES TO {}"
        ).format(transformer, gold, reader),
    ]
    return statements


@dataclass(frozen=True)
class InitReport:
    database: str
    created_roles: tuple[str, ...]
    new_passwords: tuple[str, ...]


def init_database(admin_url: str, vault: Vault) -> InitReport:
    """Create schemas, roles and grants (idempotent); passwords are generated once, in the vault.

    Runs as the admin of ``admin_url``, which needs CREATEROLE (or superuser) and the right to
    create schemas in its database.
    """
    database = database_of(admin_url)
    created: list[str] = []
    new_passwords: list[str] = []
    with connect(admin_url) as conn:
        try:
            with conn.transaction():
                # Roles are cluster-wide: serialise concurrent inits on the same cluster.
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('spotify-elt db init'))")
                for kind, role in role_names(database).items():
                    password, is_new = _role_password(vault, role)
                    if is_new:
                        new_passwords.append(role)
                    exists = conn.execute(
                        "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)
                    ).fetchone()
                    if not exists:
                        conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
                        created.append(role)
                    conn.execute(
                        sql.SQL(
                            "ALTER ROLE {} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                            "NOINHERIT PASSWORD {}"
                        ).format(sql.Identifier(role), sql.Literal(password))
                    )
                    _adopt_legacy_objects(conn, kind, role)
                for statement in _grant_statements(database):
                    conn.execute(statement.as_string(conn))
        except psycopg.errors.InsufficientPrivilege as exc:
            raise DatabaseError(
                f"The admin user of {Dsn.parse(admin_url).describe()} may not set up roles and "
                "schemas "
                f"({str(exc).splitlines()[0]}); use a superuser or a role with CREATEROLE."
            ) from None
        except psycopg.Error as exc:
            raise DatabaseError(_explain(exc, admin_url)) from None
    return InitReport(database, tuple(created), tuple(new_passwords))


def _adopt_legacy_objects(conn: psycopg.Connection, kind: str, role: str) -> None:
    """Objects of this database owned by the role of older versions (``spotify_loader``, shared
    by every installation on the server) pass to this installation's role; that old role keeps
    whatever it owns in other databases."""
    legacy = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
        "WHERE r.rolname = %s)",
        (kind,),
    ).fetchone()
    if legacy and legacy[0]:
        conn.execute(
            sql.SQL("REASSIGN OWNED BY {} TO {}").format(sql.Identifier(kind), sql.Identifier(role))
        )
        log.info("objects of the role %s in this database now belong to %s", kind, role)


def check_initialised(admin_url: str) -> list[str]:
    """What is missing for the pipeline (schemas, roles); empty when initialised."""
    missing: list[str] = []
    with connect(admin_url) as conn:
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace").fetchall()}
        roles = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles").fetchall()}
    wanted = (*LAYERS, BRONZE_STAGING, RATE_LIMIT_SCHEMA)
    missing += [f"schema {s}" for s in wanted if s not in schemas]
    missing += [f"role {r}" for r in role_names(database_of(admin_url)).values() if r not in roles]
    return missing


@contextlib.contextmanager
def advisory_lock(
    url: str, keys: str | Sequence[str], *, wait: bool, busy: UserError | None = None
) -> Iterator[None]:
    """Hold session-level advisory locks named ``keys`` on the database of ``url``.

    Several keys are taken in the order given (callers that take several sort them, so that
    waiting holders cannot deadlock). With ``wait`` block until each is free; otherwise raise
    ``busy`` when someone holds one (those already taken are released). Locks are released
    explicitly before the connection closes: a closed connection's backend releases its locks
    only when it has noticed the close, which a quick next run could race.
    """
    wanted = [keys] if isinstance(keys, str) else list(keys)
    conn = connect(url)
    held: list[str] = []
    try:
        for key in wanted:
            if wait:
                conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
            else:
                row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()
                if not (row and row[0]):
                    raise busy or UserError(f"The lock {key!r} is held by another run.")
            held.append(key)
        yield
    finally:
        for key in reversed(held):
            if conn.closed:
                break
            with contextlib.suppress(psycopg.Error):
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))
        conn.close()
