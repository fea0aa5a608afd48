"""``spotify-elt db``: the embedded PostgreSQL, or the external server, and its roles."""

from __future__ import annotations

import click

from ..config import load_settings, redact_url
from ..db import LAYERS, ROLES, DatabaseTarget, check_initialised, init_database
from ..errors import DatabaseError


@click.group()
def db() -> None:
    """Manage the database: the embedded PostgreSQL, or the server of SPOTIFY_ELT_DATABASE_URL."""


@db.command()
def up() -> None:
    """Start the embedded PostgreSQL (idempotent) or check the external server is reachable."""
    target = DatabaseTarget(load_settings())
    url = target.up()
    click.echo(f"PostgreSQL ({target.kind}) is up: {redact_url(url)}")


@db.command()
def status() -> None:
    """Say whether the database is running, where, and whether `db init` has been run.

    Exits 1 when the server is not reachable.
    """
    target = DatabaseTarget(load_settings())
    state = target.status()
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
def url(show_password: bool) -> None:
    """Print the admin connection URL (password redacted unless --show-password)."""
    target = DatabaseTarget(load_settings())
    admin = target.admin_url()
    click.echo(admin if show_password else redact_url(admin))


@db.command()
def down() -> None:
    """Stop the embedded PostgreSQL (its data stays); refuses for an external server."""
    target = DatabaseTarget(load_settings())
    stopped = target.down()
    click.echo("PostgreSQL stopped." if stopped else "PostgreSQL was not running.")


@db.command()
def init() -> None:
    """Create schemas bronze/silver/gold and the least-privilege roles (idempotent).

    spotify_loader creates and writes in bronze only; spotify_transformer reads bronze and writes
    silver and gold; spotify_reader may SELECT gold only. Role passwords are generated once and
    kept in the encrypted vault (created if missing).
    """
    from ..vault import Vault

    settings = load_settings()
    target = DatabaseTarget(settings)
    admin = target.up()
    vault = Vault.from_settings(settings)
    if not vault.exists():
        vault.init()
        click.echo(f"Created the credential vault at {settings.effective_vault_path}.")
    report = init_database(admin, vault)
    click.echo(
        f"Database {report.database!r} initialised: schemas {', '.join(LAYERS)}; "
        f"roles {', '.join(ROLES)}"
        + (f" (created {', '.join(report.created_roles)})" if report.created_roles else "")
        + "."
    )
