"""The one DSN type: libpq's reading of a URL, and each conversion (no server needed)."""

from __future__ import annotations

import dataclasses

import psycopg
import pytest

from spotify_elt.dsn import Dsn, redact_url
from spotify_elt.errors import ConfigError

SOCKET = "postgresql://spotify_loader_x:p%40ss%2Fw@/my%20db?host=/run/pg%20dir&sslmode=disable"
TCP = "postgresql://u:pw@db.example.org:5433/warehouse?sslmode=require&connect_timeout=7"


@pytest.mark.parametrize(
    ("url", "host", "port", "user", "password", "database", "params"),
    [
        (
            SOCKET,
            "/run/pg dir",
            None,
            "spotify_loader_x",
            "p@ss/w",
            "my db",
            (("sslmode", "disable"),),
        ),
        (
            TCP,
            "db.example.org",
            5433,
            "u",
            "pw",
            "warehouse",
            (("sslmode", "require"), ("connect_timeout", "7")),
        ),
        ("postgres://h/db", "h", None, "", None, "db", ()),
        ("postgresql://u:@/postgres?host=/tmp/s", "/tmp/s", None, "u", "", "postgres", ()),
        ("postgresql://[::1]:6000/x", "::1", 6000, "", None, "x", ()),
        # libpq: query parameters override the URL's own parts.
        ("postgresql://a@h1:1/d1?host=h2&port=2&user=b&dbname=d2", "h2", 2, "b", None, "d2", ()),
        ("postgresql://", "", None, "", None, "", ()),
    ],
)
def test_parse_reads_the_url_as_libpq_does(
    url: str,
    host: str,
    port: int | None,
    user: str,
    password: str | None,
    database: str,
    params: tuple[tuple[str, str], ...],
) -> None:
    dsn = Dsn.parse(url)
    assert (dsn.host, dsn.port, dsn.user, dsn.password, dsn.database, dsn.params) == (
        host,
        port,
        user,
        password,
        database,
        params,
    )
    # What it writes reads back the same, and libpq reads it the same way too.
    assert Dsn.parse(dsn.url) == dsn
    info = psycopg.conninfo.conninfo_to_dict(dsn.url)
    assert info.get("host", "") == host
    assert info.get("dbname", "") == database
    assert info.get("user", "") == user


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "must be a postgresql:// URL"),
        ("postgresql://u@h:99999/db", "invalid port"),
        ("postgresql://u@h/db?port=70000", "invalid port"),
        ("postgresql://u@h/db?connect_timeout=abc", "connect_timeout='abc', which is not a whole"),
    ],
)
def test_parse_refuses_what_libpq_would_not_read(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Dsn.parse(url)


def test_the_password_never_shows() -> None:
    dsn = Dsn.parse(SOCKET)
    assert "p@ss" not in repr(dsn)
    assert "p%40ss" not in redact_url(dsn.url) and "********" in redact_url(dsn.url)
    assert dsn.describe() == "database 'my db' on /run/pg dir"
    assert Dsn.parse(TCP).describe() == "database 'warehouse' on db.example.org:5433"
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert redact_url("postgresql://u:p%40ss@h:1/db?x=1") == "postgresql://u:********@h:1/db?x=1"
    assert "secret" not in redact_url("postgresql://u@h/db?password=secret")
    assert redact_url("not a url: at all") == "not a url: at all"


def test_with_credentials_and_database_keep_the_server_and_options() -> None:
    dsn = Dsn.parse(SOCKET).with_credentials("other", "a b&c").with_database("d#?")
    assert (dsn.host, dsn.params, dsn.user, dsn.password, dsn.database) == (
        "/run/pg dir",
        (("sslmode", "disable"),),
        "other",
        "a b&c",
        "d#?",
    )
    assert psycopg.conninfo.conninfo_to_dict(dsn.url)["password"] == "a b&c"
    assert psycopg.conninfo.conninfo_to_dict(dsn.url)["dbname"] == "d#?"


def test_conversions_for_dbt_airflow_datahub_and_sqlalchemy() -> None:
    socket, tcp = Dsn.parse(SOCKET), Dsn.parse(TCP)
    assert socket.dbt_env("P_") == {
        "P_HOST": "/run/pg dir",
        "P_PORT": "5432",
        "P_USER": "spotify_loader_x",
        "P_PASSWORD": "p@ss/w",
        "P_DBNAME": "my db",
        "P_SSLMODE": "disable",
    }
    assert tcp.dbt_env("P_")["P_PORT"] == "5433"
    assert tcp.airflow_connection() == {
        "conn_type": "postgres",
        "host": "db.example.org",
        "port": 5433,
        "schema": "warehouse",
        "login": "u",
        "password": "pw",
    }
    assert socket.datahub_env()["DATAHUB_PG_SOCKET_DIR"] == "/run/pg dir"
    assert tcp.datahub_env()["DATAHUB_PG_HOST_PORT"] == "db.example.org:5433"
    assert "DATAHUB_PG_SOCKET_DIR" not in tcp.datahub_env()
    assert tcp.sqlalchemy_url().startswith("postgresql+psycopg://u:pw@db.example.org:5433/")


def test_dlt_credentials_reach_the_same_server() -> None:
    creds = Dsn.parse(SOCKET).dlt_credentials()
    assert (creds.database, creds.username, creds.password) == (
        "my db",
        "spotify_loader_x",
        "p@ss/w",
    )
    assert creds.host == "%2Frun%2Fpg%20dir"  # dlt puts it into a URL libpq decodes
    assert creds.query == {"sslmode": "disable"}
    trusted = Dsn.parse("postgresql://postgres@/d?host=/tmp").dlt_credentials()
    assert trusted.password == "unused"  # dlt insists on one; trust authentication ignores it
    tcp = Dsn.parse(TCP).dlt_credentials()
    assert (tcp.host, tcp.port, tcp.connect_timeout) == ("db.example.org", 5433, 15)


def test_an_airflow_connection_round_trips_with_its_libpq_options() -> None:
    from spotify_elt.orchestration import (
        ConnectionValues,
        postgres_connection_from_url,
        postgres_url_from_connection,
    )

    fields = postgres_connection_from_url(SOCKET)
    conn = ConnectionValues(
        host=fields["host"],
        port=fields["port"],
        schema=fields["schema"],
        login=fields["login"],
        password=fields["password"],
        extra={"sslmode": "disable", "vault_prefix": "not-a-libpq-option"},
    )
    back = Dsn.parse(postgres_url_from_connection(conn))
    # The connection form names the port libpq would use; everything else comes back as it was.
    assert back == dataclasses.replace(Dsn.parse(SOCKET), port=5432)
    assert back.param("vault_prefix") is None


def test_build_from_fields() -> None:
    dsn = Dsn.build(host="/s", port=None, user="u", password="", database="db")
    assert dsn.password is None and dsn.url == "postgresql://u@/db?host=/s"
    assert Dsn.parse(dsn.url) == dsn
