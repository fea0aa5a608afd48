"""The ``spotify-elt`` command line.

Each command group lives in a module of its own; this module assembles them and turns every
:class:`~spotify_elt.errors.UserError` into one sentence on stderr and a non-zero exit.
"""

from __future__ import annotations

import sys

import click

from ..errors import UserError
from ..logs import configure_logging, redact


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="spotify-elt")
def cli() -> None:
    """spotify-elt: Spotify Web API -> Postgres bronze -> dbt silver/gold -> report and catalog.

    Configuration: environment variables SPOTIFY_ELT_* override the TOML file in the per-user
    config directory, which overrides defaults (see `spotify-elt config show`).
    """


def _register() -> None:
    from .airflow import airflow
    from .auth import auth
    from .catalog import catalog
    from .config import config
    from .db import db
    from .emulator import emulator
    from .emulator_export import export_history
    from .extract import extract
    from .history import import_history
    from .report import report
    from .run import run
    from .secrets import secrets
    from .transform import docs, transform

    emulator.add_command(export_history)
    for command in (run, config, db, secrets, auth, extract, transform, docs, report, emulator):
        cli.add_command(command)
    cli.add_command(import_history)
    cli.add_command(catalog)
    cli.add_command(airflow)


_register()


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the CLI, show user errors as one clear sentence."""
    try:
        from ..config import load_settings

        configure_logging(load_settings().log_level)
    except UserError:
        configure_logging("INFO")  # the command itself will report the bad configuration
    try:
        result = cli.main(args=argv, prog_name="spotify-elt", standalone_mode=False)
    except UserError as exc:
        click.echo(f"Error: {redact(str(exc))}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    # With standalone_mode=False click returns the code of a `ctx.exit(n)` instead of exiting.
    return result if isinstance(result, int) else 0


def entry_point() -> None:
    sys.exit(main())
