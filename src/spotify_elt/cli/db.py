"""``spotify-elt db``: the embedded PostgreSQL, or the external server, and its roles."""

from __future__ import annotations

import click

from ..config import load_settings
from ..db import (
    LAYERS,
    READER,
    TRANSFORMER,
    DatabaseTarget,
    check_initialised,
    init_database,
    role_names,
)
from ..dsn import redact_url
from ..errors import DatabaseError
from ._target import resolve_target, target_option


@click.group()
def db() -> None:
    """Manage the database: the embedded PostgreSQL, or the server of SPOTIFY_ELT_DATABASE_URL."""


@db.command()
@target_option
def up(use_emulator: bool | None) -> None:
    """Start the embedded PostgreSQL (idempotent) or check the external server is reachable."""
    target = DatabaseTarget(resolve_target(use_emulator, announce=False).settings)
    url = target.up()
    click.echo(f"PostgreSQL ({target.kind}) is up: {redact_url(url)}")


@db.command()
@target_option
def status(use_emulator: bool | None) -> None:
    """Say whether the database is running, where, which database is current, and whether
    `db init` has been run.

    Exits 1 when the server is not reachable.
    """
    current = resolve_target(use_emulator, announce=False)
    target = DatabaseTarget(current.settings)
    state = target.status()
    click.echo(f"target:  {current.name} ({current.reason})")
    click.echo(f"database: {current.database}")
    click.echo(f"kind:    {state.kind}")
    click.echo(f"where:   {state.where}")
    click.echo(
        f"running: {'yes' if state.running else 'no'}"
        + (f" (pid {state.pid})" if state.pid else "")
    )
    if state.detail:
        click.echo(f"detail:  {state.detail}")
    if not state.running:
        raise click.exceptions.Exit(1)
    from ..db import connect as _connect

    try:
        _connect(target.admin_url()).close()
    except DatabaseError as exc:
        click.echo(f"initialised: no ({exc})")
        raise click.exceptions.Exit(1) from None
    missing = check_initialised(target.admin_url())
    click.echo("initialised: " + ("yes" if not missing else "no, missing " + ", ".join(missing)))


@db.command()
@click.option(
    "--show-password", is_flag=True, help="Print the admin password too (default: redacted)."
)
@target_option
def url(show_password: bool, use_emulator: bool | None) -> None:
    """Print the admin connection URL of the current target's database (password redacted
    unless --show-password)."""
    target = DatabaseTarget(resolve_target(use_emulator, announce=False).settings)
    admin = target.admin_url()
    click.echo(admin if show_password else redact_url(admin))


@db.command()
def down() -> None:
    """Stop the embedded PostgreSQL (its data stays); refuses for an external server."""
    target = DatabaseTarget(load_settings())
    stopped = target.down()
    click.echo("PostgreSQL stopped." if stopped else "PostgreSQL was not running.")


@db.command()
@target_option
def init(use_emulator: bool | None) -> None:
    """Create schemas bronze/silver/gold and the least-privilege roles (idempotent).

    spotify_loader_<db> creates and writes in bronze only; spotify_transformer_<db> reads bronze
    and writes silver and gold; spotify_reader_<db> may SELECT gold only (one set of roles per
    database). Role passwords are generated once and kept in the encrypted vault (created if
    missing).
    """
    from ..vault import Vault

    settings = resolve_target(use_emulator, announce=False).settings
    target = DatabaseTarget(settings)
    admin = target.up()
    vault = Vault.from_settings(settings)
    if not vault.exists():
        vault.init()
        click.echo(f"Created the credential vault at {settings.effective_vault_path}.")
    report = init_database(admin, vault)
    click.echo(
        f"Database {report.database!r} initialised: schemas {', '.join(LAYERS)}; "
        f"roles {', '.join(role_names(report.database).values())}"
        + (f" (created {', '.join(report.created_roles)})" if report.created_roles else "")
        + "."
    )


@db.command()
@click.option(
    "--role",
    type=click.Choice([TRANSFORMER, READER]),
    default=TRANSFORMER,
    show_default=True,
    help="The role to connect as: dbt needs the transformer; the reader may select gold only.",
)
@click.option(
    "--show-password",
    is_flag=True,
    help="Print the password in the exports instead of keeping it in a 0600 password file.",
)
@target_option
def env(role: str, show_password: bool, use_emulator: bool | None) -> None:
    """Print the shell exports for plain dbt and psql on the current target's database.

    \b
        eval "$(spotify-elt db env)"
        cd dbt_project && dbt build

    Sets SPOTIFY_ELT_DBT_* (read by dbt_project/profiles.yml) and PGHOST/PGPORT/PGUSER/PGDATABASE
    (psql). The role's password stays off the screen: it is written to a libpq password file
    (<state dir>/pgpass, mode 0600) named by PGPASSFILE, which dbt and psql read. With
    --show-password the exports carry it instead (SPOTIFY_ELT_DBT_PASSWORD, PGPASSWORD).
    """
    from ..shell_env import shell_env
    from ..vault import Vault

    current = resolve_target(use_emulator, announce=False)
    DatabaseTarget(current.settings).up()
    result = shell_env(
        current.settings,
        Vault.from_settings(current.settings),
        role=role,
        show_password=show_password,
    )
    header = (
        f"spotify-elt db env: {role} on target {current.describe()}.\n"
        'Use: eval "$(spotify-elt db env)"; then cd dbt_project && dbt build'
    )
    if result.pgpass is not None:
        header += f"\nThe password is in {result.pgpass} (mode 0600), not in these lines."
    click.echo(result.render(header), nl=False)
