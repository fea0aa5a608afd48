"""``spotify-elt run``: the main job, on the embedded default or on the configured servers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from ..config import Settings, load_settings
from ..db import DatabaseTarget, init_database
from ..target import EMULATOR, SPOTIFY, choose, remember
from ..vault import Vault

if TYPE_CHECKING:
    from ..extraction import Credentials


@click.command()
@click.option(
    "--emulator/--spotify",
    "use_emulator",
    default=None,
    help="Extract from the local Spotify emulator, or from Spotify. Default: the target "
    "setting, else Spotify when a client id is configured, else the emulator.",
)
@click.option("--quiet", is_flag=True, help="No live progress display.")
@click.option(
    "--report/--no-report", "with_report", default=True, help="Render the report at the end."
)
def run(use_emulator: bool | None, quiet: bool, with_report: bool) -> None:
    """Run the whole job: database, extract, transform, report.

    On a fresh machine this uses the embedded defaults: a project-managed PostgreSQL and the
    local Spotify emulator (its data goes to its own database, spotify_elt_demo). With a client id
    configured and `spotify-elt auth login` done, it extracts your own Spotify data. The commands
    after it (transform, report, docs, export...) work on the data it built.

    \b
    1. start the database, create schemas and least-privilege roles;
    2. extract into bronze (spotify_loader role);
    3. dbt build silver and gold, with their tests (spotify_transformer role);
    4. render the listening report from gold (spotify_reader role).
    """
    settings = load_settings()
    vault = Vault.from_settings(settings)
    if not vault.exists():
        vault.init()
        click.echo(f"created the credential vault at {settings.effective_vault_path}")
    if use_emulator is None:
        # Not the last run's target: configuring a client id switches `run` to Spotify.
        use_emulator = choose(settings, use_last_run=False).is_emulator
    with _source(settings, vault, use_emulator) as (job_settings, credentials, pipeline):
        target = DatabaseTarget(job_settings)
        admin = target.up()
        init = init_database(admin, vault)
        click.echo(f"[1/4] database {init.database!r} ({target.kind}) is up and initialised")
        # The commands after this one (transform, report, export...) work on this data.
        remember(settings, EMULATOR if use_emulator else SPOTIFY)
        from ..extraction import run_extract
        from .extract import print_summary, run_with_progress

        if use_emulator:
            from .. import demo
            from ..history import import_demo_history

            imported = import_demo_history(
                job_settings, vault, seed=demo.SEED, days=demo.HISTORY_DAYS
            )
            if imported is not None:
                click.echo(
                    f"[2/4] imported a generated privacy export of the emulator's last "
                    f"{demo.HISTORY_DAYS} days: {imported.plays_added} plays (first run only)"
                )
        where = "the local Spotify emulator" if use_emulator else job_settings.api_url
        click.echo(f"[2/4] extracting from {where} into bronze")
        summary = run_with_progress(
            lambda on_request: run_extract(
                job_settings, vault, credentials, on_request=on_request, pipeline_name=pipeline
            ),
            quiet=quiet,
        )
        print_summary(summary)

        from ..transform import run_transform

        click.echo("[3/4] building silver and gold with dbt")
        result = run_transform(job_settings, vault, quiet=True)
        click.echo(f"      {result.summary()}")

        if with_report:
            from ..report import render_report

            click.echo("[4/4] rendering the listening report from gold")
            report = render_report(job_settings, vault)
            click.echo(f"      report: {report.html}")
            for chart in report.charts:
                click.echo(f"      chart:  {chart}")
        else:
            click.echo("[4/4] report skipped (--no-report)")


@contextlib.contextmanager
def _source(
    settings: Settings, vault: Vault, use_emulator: bool
) -> Iterator[tuple[Settings, Credentials, str]]:
    from ..extraction import PIPELINE_NAME, credentials_from_vault

    if not use_emulator:
        yield settings, credentials_from_vault(settings, vault), PIPELINE_NAME
        return
    from .. import demo

    with demo.emulator_process(vault) as base:
        job_settings = demo.demo_settings(settings, base)
        yield job_settings, demo.demo_credentials(job_settings, vault), demo.PIPELINE
