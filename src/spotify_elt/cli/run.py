"""``spotify-elt run``: the main job, on the embedded default or on the configured servers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from ..config import Settings, load_settings
from ..db import DatabaseTarget, init_database
from ..vault import Vault

if TYPE_CHECKING:
    from ..extraction import Credentials


@click.command()
@click.option(
    "--emulator/--spotify",
    "use_emulator",
    default=None,
    help="Extract from the local Spotify emulator, or from Spotify. Default: Spotify when a "
    "client id is configured, else the emulator.",
)
@click.option("--quiet", is_flag=True, help="No live progress display.")
def run(use_emulator: bool | None, quiet: bool) -> None:
    """Run the whole job: database, extract into bronze, then the later steps.

    On a fresh machine this uses the embedded defaults: a project-managed PostgreSQL and the
    local Spotify emulator (its data goes to its own database, spotify_elt_demo). With a client id
    configured and `spotify-elt auth login` done, it extracts your own Spotify data.
    1. start the database, create schemas and least-privilege roles;
    2. extract into bronze (spotify_loader role);
    3. dbt build silver and gold (issue 5);
    4. report and catalog (issues 6 and 7).
    """
    settings = load_settings()
    vault = Vault.from_settings(settings)
    if not vault.exists():
        vault.init()
        click.echo(f"created the credential vault at {settings.effective_vault_path}")
    if use_emulator is None:
        use_emulator = not settings.client_id
    with _source(settings, vault, use_emulator) as (job_settings, credentials, pipeline):
        target = DatabaseTarget(job_settings)
        admin = target.up()
        report = init_database(admin, vault)
        click.echo(f"[1/4] database {report.database!r} ({target.kind}) is up and initialised")
        from ..extraction import run_extract
        from .extract import print_summary, run_with_progress

        where = "the local Spotify emulator" if use_emulator else job_settings.api_url
        click.echo(f"[2/4] extracting from {where} into bronze")
        summary = run_with_progress(
            lambda on_request: run_extract(
                job_settings, vault, credentials, on_request=on_request, pipeline_name=pipeline
            ),
            quiet=quiet,
        )
        print_summary(summary)
    click.echo("[3/4] transform: not built yet (issue 5) - will build silver and gold with dbt")
    click.echo("[4/4] report and catalog: not built yet (issues 6, 7)")


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
