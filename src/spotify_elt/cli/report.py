"""``spotify-elt report``: render the listening report from gold."""

from __future__ import annotations

from pathlib import Path

import click

from ._target import resolve_target, target_option


@click.command()
@click.option(
    "--period",
    type=click.Choice(["week", "month", "year"]),
    default="month",
    show_default=True,
    help="Period of the top-artist and top-track lists.",
)
@click.option("--top-n", default=10, show_default=True, help="Entries per top list.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: <data dir>/reports/<timestamp>).",
)
@target_option
def report(period: str, top_n: int, out_dir: Path | None, use_emulator: bool | None) -> None:
    """Execute the seaborn report notebook over gold (as spotify_reader), headlessly.

    Writes a self-contained report.html and one PNG per chart, and prints their paths.
    """
    from ..report import render_report
    from ..vault import Vault

    settings = resolve_target(use_emulator).settings
    result = render_report(
        settings, Vault.from_settings(settings), period=period, top_n=top_n, out_dir=out_dir
    )
    click.echo(f"report: {result.html}")
    for chart in result.charts:
        click.echo(f"chart:  {chart}")
