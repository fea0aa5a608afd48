"""``spotify-elt export``: gold as open data (Parquet, CSV, data dictionary, README)."""

from __future__ import annotations

from pathlib import Path

import click

from ._target import resolve_target, target_option


@click.command("export")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder, empty or an earlier export (default: <data dir>/export/<database>).",
)
@click.option(
    "--format",
    "formats",
    type=click.Choice(["parquet", "csv"]),
    multiple=True,
    help="File format (repeatable). Default: both.",
)
@click.option(
    "--license",
    "license_id",
    default="CC-BY-4.0",
    show_default=True,
    metavar="SPDX-ID",
    help="Licence of the listening data, named in the export's README.",
)
@click.option(
    "--target-path",
    type=click.Path(file_okay=False, path_type=Path),
    help="dbt artifacts to describe the tables with (default: <data dir>/dbt/target).",
)
@click.option(
    "--no-generate",
    is_flag=True,
    help="Use the dbt docs already in --target-path instead of running dbt docs generate.",
)
@target_option
def export(
    out_dir: Path | None,
    formats: tuple[str, ...],
    license_id: str,
    target_path: Path | None,
    no_generate: bool,
    use_emulator: bool | None,
) -> None:
    """Publish gold as open data: Parquet and CSV files, a data dictionary and a README.

    Personal identifiers (columns marked contains_pii in the dbt project: user ids, display
    names, devices, countries) are never exported. The same gold gives byte-identical files;
    only EXPORTED_AT records when the export was made. Reads gold as spotify_reader.
    """
    from ..export import FORMATS, run_export
    from ..vault import Vault

    settings = resolve_target(use_emulator).settings
    result = run_export(
        settings,
        Vault.from_settings(settings),
        out_dir=out_dir,
        formats=formats or FORMATS,
        license_id=license_id,
        target_path=target_path,
        generate=not no_generate,
    )
    rows = sum(result.row_counts.values())
    click.echo(
        f"Exported {len(result.row_counts)} gold tables ({rows:,} rows) as "
        f"{' and '.join(result.formats)} to {result.out_dir}"
    )
