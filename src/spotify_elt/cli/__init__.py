"""The ``spotify-elt`` command line.

Each command group lives in a module of its own; this module assembles them and turns every
:class:`~spotify_elt.errors.UserError` into one sentence on stderr and a non-zero exit.
"""

from __future__ import annotations

import signal
import sys
import threading

import click

from ..errors import UserError
from ..logs import configure_logging, redact
from .lazy import LazyCommands


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="spotify-elt")
def cli() -> None:
    """spotify-elt: Spotify Web API -> Postgres bronze -> dbt silver/gold -> report and catalog.

    Configuration: environment variables SPOTIFY_ELT_* override the TOML file in the per-user
    config directory, which overrides defaults (see `spotify-elt config show`).
    """


# Each command's module is imported only when the command runs (see .lazy).
cli.commands = LazyCommands(
    {
        "run": (".run", "run"),
        "config": (".config", "config"),
        "db": (".db", "db"),
        "secrets": (".secrets", "secrets"),
        "auth": (".auth", "auth"),
        "extract": (".extract", "extract"),
        "transform": (".transform", "transform"),
        "docs": (".transform", "docs"),
        "report": (".report", "report"),
        "emulator": (".emulator", "emulator"),
        "import-history": (".history", "import_history"),
        "catalog": (".catalog", "catalog"),
        "airflow": (".airflow", "airflow"),
        "export": (".export", "export"),
    }
)


class Terminated(BaseException):
    """SIGTERM (a plain ``kill``): unwinds like Ctrl-C, so that cleanups and locks run."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the CLI, show user errors as one clear sentence."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _main(argv)
    except Terminated:
        click.echo("Terminated.", err=True)
        return 143
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str] | None) -> int:
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
    except click.exceptions.NoArgsIsHelpError as exc:
        exc.show()  # a group called without a command: its help
        return exc.exit_code
    except click.UsageError as exc:
        # One sentence, like every other error (the full usage is one `--help` away).
        where = exc.ctx.command_path if exc.ctx else "spotify-elt"
        message = exc.format_message().rstrip(".")
        click.echo(f"Error: {message} (see `{where} --help`).", err=True)
        return exc.exit_code
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
