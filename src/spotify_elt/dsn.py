"""One PostgreSQL DSN type: parsed once, converted for every tool that connects.

A DSN reaches this project as a ``postgresql://`` URL (the config's ``database_url``, the
embedded server's socket URL, an Airflow Connection). :class:`Dsn` reads it the way libpq does
(percent-decoding every part; ``?host=``, ``?port=``, ``?user=``, ``?password=`` and ``?dbname=``
override the URL's parts; a host starting with ``/`` is a Unix-socket directory) and hands each
consumer the form it wants: a libpq URL for psycopg, credentials for dlt, ``SPOTIFY_ELT_DBT_*``
variables for dbt's profile, an Airflow Connection, DataHub's recipe variables, a SQLAlchemy URL.

Its password never appears in ``repr`` or in :meth:`Dsn.describe`; :func:`redact_url` hides it
in a URL shown to the user.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

from .errors import ConfigError

SCHEMES = ("postgresql", "postgres")
DEFAULT_PORT = 5432
REDACTED = "********"
# Query parameters libpq reads as whole numbers: a typo there would fail late, or be ignored.
_INT_PARAMS = ("connect_timeout", "port", "keepalives", "keepalives_idle")


def redact_url(url: str) -> str:
    """``url`` with its password replaced by asterisks, everything else as written.

    It works on any text (also one :meth:`Dsn.parse` refuses), for messages about bad URLs.
    """
    parts = urlsplit(url)
    try:
        has_password = bool(parts.password)
    except ValueError:
        has_password = False
    if has_password:
        userinfo, hostinfo = parts.netloc.rsplit("@", 1)
        parts = parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:{REDACTED}@{hostinfo}")
    query = [
        (key, REDACTED if key == "password" else value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    if any(key == "password" for key, _ in query):
        parts = parts._replace(query="&".join(f"{k}={v}" for k, v in query))
    return urlunsplit(parts)


@dataclass(frozen=True)
class Dsn:
    """A parsed PostgreSQL DSN. ``host`` is a name, an address or a socket directory."""

    host: str = ""
    port: int | None = None
    user: str = ""
    password: str | None = field(default=None, repr=False)
    database: str = ""
    #: Other libpq parameters (``sslmode``, ``connect_timeout``, ...), in the order given.
    params: tuple[tuple[str, str], ...] = ()

    # ------------------------------------------------------------------ reading

    @classmethod
    def parse(cls, url: str) -> Dsn:
        """Read a ``postgresql://`` URL; one :class:`ConfigError` sentence when libpq would not."""
        shown = redact_url(url)
        parts = urlsplit(url.strip())
        scheme = parts.scheme.split("+", 1)[0]
        if scheme not in SCHEMES:
            raise ConfigError(f"The database URL must be a postgresql:// URL, got {shown!r}.")
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(
                f"The database URL has an invalid port (0 to 65535): {shown!r}."
            ) from None
        values = {
            "host": unquote(parts.hostname or ""),
            "user": unquote(parts.username or ""),
            "password": None if parts.password is None else unquote(parts.password),
            "dbname": unquote(parts.path.lstrip("/")),
        }
        params = []
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key in _INT_PARAMS and not value.strip().lstrip("-").isdigit():
                raise ConfigError(
                    f"The database URL sets {key}={value!r}, which is not a whole number."
                )
            if key == "port":
                port = int(value)
                if not 0 <= port <= 65535:
                    raise ConfigError(
                        f"The database URL has an invalid port (0 to 65535): {shown!r}."
                    )
            elif key in ("host", "user", "password", "dbname"):
                values[key] = value
            elif key == "hostaddr" and not values["host"]:
                values["host"] = value
            else:
                params.append((key, value))
        return cls(
            host=values["host"] or "",
            port=port,
            user=values["user"] or "",
            password=values["password"],
            database=values["dbname"] or "",
            params=tuple(params),
        )

    @classmethod
    def build(
        cls,
        *,
        host: str | None,
        port: int | None,
        user: str | None,
        password: str | None,
        database: str | None,
        params: tuple[tuple[str, str], ...] = (),
    ) -> Dsn:
        """A DSN from its fields (an Airflow Connection's, say); empty fields stay unset."""
        return cls(
            host=host or "",
            port=port or None,
            user=user or "",
            password=password or None,
            database=database or "",
            params=params,
        )

    @property
    def is_socket(self) -> bool:
        """True when the server is reached through a Unix socket in the directory ``host``."""
        return self.host.startswith("/")

    @property
    def server(self) -> str:
        """The host as a person would name it (``localhost`` when the DSN names none)."""
        return self.host or "localhost"

    @property
    def effective_port(self) -> int:
        return self.port or DEFAULT_PORT

    def param(self, key: str) -> str | None:
        """The last value given for a libpq parameter, or None."""
        found = [value for name, value in self.params if name == key]
        return found[-1] if found else None

    # ------------------------------------------------------------------ deriving

    def with_credentials(self, user: str, password: str | None) -> Dsn:
        """The same server and options with another user and password."""
        return replace(self, user=user, password=password)

    def with_database(self, database: str) -> Dsn:
        """The same server, user and options, on another database."""
        return replace(self, database=database)

    # ------------------------------------------------------------------ writing

    @property
    def url(self) -> str:
        """The libpq URL (psycopg's form). It holds the password: never print it; a message
        shows ``redact_url(dsn.url)``."""
        auth = quote(self.user, safe="")
        if self.password is not None:
            auth += ":" + quote(self.password, safe="")
        query = list(self.params)
        host = ""
        if self.is_socket:
            query.insert(0, ("host", self.host))
        elif self.host:
            host = f"[{self.host}]" if ":" in self.host else quote(self.host, safe="")
        port = f":{self.port}" if self.port else ""
        netloc = f"{auth}@{host}{port}" if auth else f"{host}{port}"
        path = "/" + quote(self.database, safe="") if self.database else ""
        encoded = "&".join(f"{quote(k, safe='')}={quote(v, safe='/')}" for k, v in query)
        return f"postgresql://{netloc}{path}" + (f"?{encoded}" if encoded else "")

    def describe(self) -> str:
        """``database 'x' on host:port``: where it points, no credentials."""
        where = self.server + (f":{self.port}" if self.port else "")
        return f"database {self.database or '(default)'!r} on {where}"

    def sqlalchemy_url(self, driver: str = "psycopg") -> str:
        """The URL as SQLAlchemy wants it (``postgresql+<driver>://``); it holds the password."""
        return f"postgresql+{driver}://" + self.url.split("://", 1)[1]

    def dbt_env(self, prefix: str) -> dict[str, str]:
        """The variables of the shipped ``profiles.yml`` (``<prefix>HOST``, ...).

        A socket directory is the host: psycopg2 (dbt-postgres) reads it as such.
        """
        env = {
            f"{prefix}HOST": self.server,
            f"{prefix}PORT": str(self.effective_port),
            f"{prefix}USER": self.user,
            f"{prefix}PASSWORD": self.password or "",
            f"{prefix}DBNAME": self.database,
        }
        sslmode = self.param("sslmode")
        if sslmode:
            env[f"{prefix}SSLMODE"] = sslmode
        return env

    def airflow_connection(self) -> dict[str, Any]:
        """The fields of an Airflow Connection (its JSON form), a socket directory as host."""
        return {
            "conn_type": "postgres",
            "host": self.server,
            "port": self.effective_port,
            "schema": self.database,
            "login": self.user or "postgres",
            "password": self.password or "",
        }

    def datahub_env(self) -> dict[str, str]:
        """The ``DATAHUB_PG_*`` variables the DataHub recipes read."""
        env = {
            "DATAHUB_PG_HOST_PORT": f"{'localhost' if self.is_socket else self.server}:"
            f"{self.effective_port}",
            "DATAHUB_PG_DATABASE": self.database,
            "DATAHUB_PG_USERNAME": self.user,
            "DATAHUB_PG_PASSWORD": self.password or "",
        }
        if self.is_socket:
            env["DATAHUB_PG_SOCKET_DIR"] = self.host
        return env

    def dlt_credentials(self, connect_timeout: int = 15) -> Any:
        """dlt's ``PostgresCredentials`` for this DSN, a Unix socket included."""
        from dlt.destinations.impl.postgres.configuration import PostgresCredentials

        creds = PostgresCredentials()
        creds.database = self.database
        creds.username = self.user
        # dlt refuses credentials without a password, even under trust authentication.
        creds.password = self.password or "unused"
        # dlt writes the host into a URL it gives libpq: a socket directory is percent-encoded.
        creds.host = quote(self.host, safe="") if self.is_socket else self.server
        creds.port = self.effective_port
        creds.connect_timeout = connect_timeout
        query = {key: value for key, value in self.params if key != "connect_timeout"}
        if query:
            creds.query = query
        return creds
