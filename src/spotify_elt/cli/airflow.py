"""``spotify-elt airflow``: the local Airflow 3 that runs the ``spotify_elt`` DAG."""

from __future__ import annotations

import click

from ..config import load_settings


@click.group()
def airflow() -> None:
    """Run the pipeline on a schedule with a local Airflow (AIRFLOW_HOME in the data dir)."""


@airflow.command()
@click.option("--port", default=8080, show_default=True, help="Port of Airflow's API server/UI.")
@click.option(
    "--emulator/--spotify",
    "use_emulator",
    default=None,
    help="Extract from the local emulator (served in the background) or from Spotify. "
    "Default: Spotify when a client id is configured.",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "celery"]),
    default="local",
    show_default=True,
    help="LocalExecutor, or CeleryExecutor with a worker on the broker "
    "SPOTIFY_ELT_AIRFLOW_BROKER_URL (default redis://127.0.0.1:6379/0; needs the celery extra).",
)
def up(port: int, use_emulator: bool | None, executor: str) -> None:
    """Start Airflow with everything wired: database, manifest, connections, DAG unpaused."""
    from ..airflow_setup import up as start

    report = start(load_settings(), port=port, use_emulator=use_emulator, executor=executor)
    click.echo(
        f"Airflow is up ({report.executor} executor): {report.url} (AIRFLOW_HOME {report.home})"
    )
    click.echo(
        "DAG spotify_elt is unpaused and runs hourly"
        + (" against the local emulator" if report.demo else "")
        + "."
    )
    if report.password:
        click.echo(f"Log in as admin with password: {report.password}")
    click.echo("Stop it with `spotify-elt airflow down`.")


@airflow.command()
@click.option("--port", default=8080, show_default=True)
def status(port: int) -> None:
    """Whether the local Airflow runs and answers (exit 1 when not)."""
    from ..airflow_setup import status as get_status

    state = get_status(load_settings(), port=port)
    for key, value in state.items():
        click.echo(f"{key + ':':10}{value}")
    if not state["healthy"]:
        raise click.exceptions.Exit(1)


@airflow.command()
def down() -> None:
    """Stop the local Airflow and the background emulator (metadata and logs are kept)."""
    from ..airflow_setup import down as stop

    stopped = stop(load_settings())
    click.echo("Stopped " + ", ".join(stopped) + "." if stopped else "Airflow was not running.")


@airflow.command()
def parse() -> None:
    """Write the dbt manifest the DAG renders from (`dbt parse`)."""
    from ..dbt_runner import dbt_parse

    click.echo(f"dbt manifest written: {dbt_parse()}")
