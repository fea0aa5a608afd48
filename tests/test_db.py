"""The database layer against real PostgreSQL servers: schemas, least-privilege roles, errors."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from stack_support import PgServer

from spotify_elt.cli import main
from spotify_elt.config import load_settings
from spotify_elt.db import (
    LOADER,
    READER,
    TRANSFORMER,
    EmbeddedPostgres,
    RoleUrls,
    check_initialised,
    connect,
    database_of,
    init_database,
    role_name,
    role_names,
    role_urls,
    with_credentials,
)
from spotify_elt.errors import DatabaseError
from spotify_elt.vault import Vault, db_password_name


@pytest.fixture
def vault() -> Vault:
    v = Vault.from_settings(load_settings())
    v.init()
    return v


@pytest.fixture
def initialised(pg_server: PgServer, vault: Vault) -> tuple[str, RoleUrls]:
    admin = pg_server.fresh_database()
    init_database(admin, vault)
    return admin, role_urls(admin, vault)


def _refused(url: str, statement: str) -> None:
    with (
        psycopg.connect(url, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(statement)


def _ok(url: str, statement: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement)
        return cur.fetchall() if cur.description else []


def test_init_is_idempotent_and_complete(pg_server: PgServer, vault: Vault) -> None:
    admin = pg_server.fresh_database()
    assert "schema bronze" in check_initialised(admin)
    first = init_database(admin, vault)
    second = init_database(admin, vault)
    assert check_initialised(admin) == []
    names = role_names(database_of(admin))
    assert names[LOADER] == f"spotify_loader_{database_of(admin)}"
    assert set(first.new_passwords) == set(names.values())
    assert second.created_roles == () and second.new_passwords == ()
    with connect(admin) as conn:
        attrs = conn.execute(
            "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolcanlogin FROM pg_roles "
            "WHERE rolname = ANY(%s) ORDER BY 1",
            (list(names.values()),),
        ).fetchall()
    assert attrs == [
        (names[LOADER], False, False, False, True),
        (names[READER], False, False, False, True),
        (names[TRANSFORMER], False, False, False, True),
    ]


def test_two_installations_on_one_server_keep_their_roles(
    pg_server: PgServer, tmp_path: Path
) -> None:
    """A second vault's `db init` on another database of the server locks nobody out."""
    first_db, second_db = pg_server.fresh_database(), pg_server.fresh_database()
    vaults = []
    for name in ("first", "second"):
        vault = Vault(tmp_path / name / "vault.json", tmp_path / f"{name}-key" / "vault.key")
        vault.init()
        vaults.append(vault)
    init_database(first_db, vaults[0])
    first = role_urls(first_db, vaults[0])
    _ok(first.loader, "CREATE TABLE bronze.plays (id int)")
    init_database(second_db, vaults[1])
    second = role_urls(second_db, vaults[1])
    # The first installation's credentials still work, and each role sees its own data only.
    _ok(first.loader, "INSERT INTO bronze.plays VALUES (1)")
    _ok(first.transformer, "SELECT * FROM bronze.plays")
    _ok(second.loader, "CREATE TABLE bronze.plays (id int)")
    # One installation's loader has no rights in the other's bronze.
    _refused(with_credentials(second_db, *_user_and_password(first.loader)), "TABLE bronze.plays")
    init_database(first_db, vaults[0])  # idempotent, passwords unchanged
    _ok(second.loader, "INSERT INTO bronze.plays VALUES (2)")


def _user_and_password(url: str) -> tuple[str, str]:
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    return unquote(parts.username or ""), unquote(parts.password or "")


def test_role_names_stay_valid_for_any_database_name() -> None:
    assert role_name(READER, "spotify_elt") == "spotify_reader_spotify_elt"
    odd = role_name(TRANSFORMER, "My-Data.Base")
    assert odd.startswith("spotify_transformer_my_data_base_") and odd != role_name(
        TRANSFORMER, "my_data_base"
    )
    long = role_name(TRANSFORMER, "x" * 63)
    assert len(long) <= 46 and long != role_name(TRANSFORMER, "x" * 62)
    db_password_name(long)  # a valid vault name


def test_loader_writes_bronze_only(initialised: tuple[str, RoleUrls]) -> None:
    admin, urls = initialised
    _ok(urls.loader, "CREATE TABLE bronze.plays (id text primary key, payload jsonb)")
    _ok(urls.loader, "INSERT INTO bronze.plays VALUES ('a', '{}')")
    _ok(admin, "CREATE TABLE silver.s (id int)")
    _ok(admin, "CREATE TABLE gold.g (id int)")
    _refused(urls.loader, "CREATE TABLE silver.x (id int)")
    _refused(urls.loader, "CREATE TABLE gold.x (id int)")
    _refused(urls.loader, "CREATE TABLE public.x (id int)")
    _refused(urls.loader, "SELECT * FROM silver.s")
    _refused(urls.loader, "SELECT * FROM gold.g")
    _refused(urls.loader, "CREATE SCHEMA sneaky")


def test_transformer_reads_bronze_writes_silver_and_gold(
    initialised: tuple[str, RoleUrls],
) -> None:
    _admin, urls = initialised
    _ok(urls.loader, "CREATE TABLE bronze.tracks (id text, payload jsonb)")
    _ok(urls.loader, "INSERT INTO bronze.tracks VALUES ('t', '{\"name\": \"x\"}')")
    # A table the loader created after init: readable through default privileges.
    assert _ok(urls.transformer, "SELECT payload->>'name' FROM bronze.tracks") == [("x",)]
    _refused(urls.transformer, "INSERT INTO bronze.tracks VALUES ('u', '{}')")
    _refused(urls.transformer, "CREATE TABLE bronze.x (id int)")
    _refused(urls.transformer, "DROP TABLE bronze.tracks")
    _ok(urls.transformer, "CREATE TABLE silver.stg AS SELECT id FROM bronze.tracks")
    _ok(urls.transformer, "CREATE TABLE gold.dim AS SELECT id FROM silver.stg")
    _refused(urls.transformer, "CREATE TABLE public.x (id int)")


def test_reader_selects_gold_only_including_later_tables(
    initialised: tuple[str, RoleUrls],
) -> None:
    _admin, urls = initialised
    _ok(urls.loader, "CREATE TABLE bronze.b (id int)")
    _ok(urls.transformer, "CREATE TABLE silver.s (id int)")
    _ok(urls.transformer, "CREATE TABLE gold.later AS SELECT 1 AS id")
    assert _ok(urls.reader, "SELECT id FROM gold.later") == [(1,)]
    _refused(urls.reader, "SELECT * FROM silver.s")
    _refused(urls.reader, "SELECT * FROM bronze.b")
    _refused(urls.reader, "INSERT INTO gold.later VALUES (2)")
    _refused(urls.reader, "CREATE TABLE gold.mine (id int)")
    _refused(urls.reader, "DELETE FROM gold.later")


def test_embedded_server_is_idempotent_and_keeps_data() -> None:
    server = EmbeddedPostgres(load_settings().embedded_pgdata, database="keep")
    try:
        url = server.up()
        pid = server._info().pid  # type: ignore[union-attr]
        assert server.up() == url
        assert server._info().pid == pid  # type: ignore[union-attr]
        _ok(url, "CREATE TABLE survivor (v text); INSERT INTO survivor VALUES ('still here')")
        assert server.down() is True
        assert server.down() is False
        assert not server.is_running()
        with pytest.raises(DatabaseError, match="not running"):
            server.admin_url()
        url = server.up()
        assert _ok(url, "SELECT v FROM survivor") == [("still here",)]
    finally:
        server.down()


def test_embedded_server_asks_roles_for_their_password(
    embedded_server: EmbeddedPostgres, vault: Vault
) -> None:
    admin = embedded_server.admin_url()
    init_database(admin, vault)
    loader = role_name(LOADER, "spotify_elt")
    wrong = with_credentials(admin, loader, "not-the-password")
    with pytest.raises(DatabaseError) as err:
        connect(wrong)
    message = str(err.value)
    assert message == (
        f"PostgreSQL refused the credentials of user {loader!r} for database 'spotify_elt' "
        f"on {embedded_server._info().socket_dir}."  # type: ignore[union-attr]
    )
    assert "not-the-password" not in message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://someone:hunter22@127.0.0.1:1/spotify_elt",
            "Cannot reach PostgreSQL (database 'spotify_elt' on 127.0.0.1:1): "
            "is the server running and the address right?",
        ),
        (
            "postgresql://someone:hunter22@127.0.0.1:1",
            "names no database",
        ),
    ],
)
def test_cli_errors_are_one_sentence(
    url: str, expected: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SPOTIFY_ELT_DATABASE_URL", url)
    assert main(["db", "up"]) == 4
    err = capsys.readouterr().err
    assert expected in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "hunter22" not in err


def test_cli_missing_database(
    embedded_server: EmbeddedPostgres,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = with_credentials(embedded_server.admin_url(), "postgres", None, "no_such_db")
    monkeypatch.setenv("SPOTIFY_ELT_DATABASE_URL", missing)
    assert main(["db", "status"]) == 1
    out = capsys.readouterr().out
    assert "running: no" in out and "does not exist" in out
    assert main(["db", "init"]) == 4
    err = capsys.readouterr().err.strip()
    assert err.startswith("Error: The database 'no_such_db' on ") and err.endswith(
        "does not exist; create it or point SPOTIFY_ELT_DATABASE_URL at an existing database."
    )


def test_cli_external_server_lifecycle(
    pg_server: PgServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = pg_server.fresh_database()
    monkeypatch.setenv("SPOTIFY_ELT_DATABASE_URL", admin)
    assert main(["db", "init"]) == 0
    assert main(["db", "status"]) == 0
    out = capsys.readouterr().out
    assert "kind:    external" in out and "initialised: yes" in out
    assert main(["db", "down"]) == 4
    assert "does not stop it" in capsys.readouterr().err


def test_cli_embedded_lifecycle(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        assert main(["db", "status"]) == 1
        assert "running: no" in capsys.readouterr().out
        assert main(["db", "up"]) == 0
        assert "PostgreSQL (embedded) is up" in capsys.readouterr().out
        assert main(["db", "init"]) == 0
        assert "initialised" in capsys.readouterr().out
        assert main(["db", "status"]) == 0
        assert "initialised: yes" in capsys.readouterr().out
        assert main(["db", "url"]) == 0
        url = capsys.readouterr().out.strip()
        assert url.startswith("postgresql://postgres")
        # A fresh user without a client id works on the demo's database (what `run` builds).
        assert _ok(url, "SELECT current_database()") == [("spotify_elt_demo",)]
    finally:
        main(["db", "down"])
    assert "PostgreSQL stopped." in capsys.readouterr().out


def test_no_role_password_is_printed(
    pg_server: PgServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin = pg_server.fresh_database()
    monkeypatch.setenv("SPOTIFY_ELT_DATABASE_URL", admin)
    caplog.set_level("DEBUG")
    for args in (["db", "init"], ["db", "status"], ["db", "url"], ["config", "show"]):
        main(args)
    vault = Vault.from_settings(load_settings())
    names = role_names(database_of(admin)).values()
    passwords = [vault.require(db_password_name(r)) for r in names]
    captured = capsys.readouterr()
    text = captured.out + captured.err + caplog.text
    for password in passwords:
        assert password not in text


def test_db_init_adopts_what_the_old_shared_roles_own(
    embedded_server: EmbeddedPostgres, vault: Vault
) -> None:
    """A database set up by an older version (roles spotify_loader, ... shared by the server)."""
    admin = PgServer("embedded", embedded_server.admin_url()).fresh_database()
    with connect(admin) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (LOADER,)).fetchone():
            conn.execute(f"CREATE ROLE {LOADER}")
        conn.execute("CREATE SCHEMA bronze")
        conn.execute("CREATE TABLE bronze.old_plays (id int)")
        conn.execute(f"ALTER TABLE bronze.old_plays OWNER TO {LOADER}")
    init_database(admin, vault)
    urls = role_urls(admin, vault)
    _ok(urls.loader, "INSERT INTO bronze.old_plays VALUES (1)")
    _ok(urls.loader, "ALTER TABLE bronze.old_plays ADD COLUMN payload jsonb")  # dlt does this
    owner = _ok(admin, "SELECT tableowner FROM pg_tables WHERE tablename = 'old_plays'")
    assert owner == [(role_name(LOADER, database_of(admin)),)]
