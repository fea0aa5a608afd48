"""``spotify-elt emulator export-history``: the emulator's listening history as a privacy export.

The emulator gives the plays of a time window as Spotify's privacy export records them
(``extract.emulator.privacy_export``); this command writes them as such an export
(``extract.history.synthetic``), so that the history import has realistic input consistent with
the emulator. It may import the emulator (like ``emulator serve``); application code runs it as
a child process.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from extract.emulator import EmulatorConfig, EmulatorState
from extract.emulator.privacy_export import emulator_plays
from extract.history.synthetic import write_export

from .options import TIMESTAMP, plays_per_hour_option, scale_option, seed_option


@click.command("export-history")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="Where to write the export: a folder, or a zip when the name ends in .zip.",
)
@seed_option("Seed of the emulator.")
@scale_option("Catalog size of the emulator (as for `emulator serve`).")
@plays_per_hour_option("Average plays per listening hour (as for `emulator serve`).")
@click.option(
    "--days",
    type=click.FloatRange(min=0),
    default=365.0,
    show_default=True,
    help="Length of the history, ending at --end.",
)
@click.option(
    "--end",
    type=TIMESTAMP,
    default=None,
    help="End of the history, UTC if no offset (default: now).",
)
@click.option(
    "--variant",
    type=click.Choice(["extended", "extended_old", "account_data"]),
    default="extended",
    show_default=True,
    help="Extended history (current or pre-2023 field set), or the short account-data history.",
)
@click.option(
    "--extras/--tracks-only",
    default=True,
    show_default=True,
    help="Add podcast episodes, audiobook chapters and records naming nothing.",
)
def export_history(
    out: Path,
    seed: int,
    scale: int,
    plays_per_hour: float,
    days: float,
    end: datetime | None,
    variant: str,
    extras: bool,
) -> None:
    """Write the emulator's listening history as a Spotify privacy export (zip or folder)."""
    stop = datetime.now(UTC) if end is None else end
    state = EmulatorState(
        EmulatorConfig(seed=seed, scale=scale, plays_per_hour=plays_per_hour, clock_start=stop)
    )
    plays = list(emulator_plays(state, stop - timedelta(days=days), stop, extras=extras))
    write_export(
        plays,
        out,
        variant=variant,  # type: ignore[arg-type]
        as_zip=out.suffix.lower() == ".zip",
        seed=seed,
        username=state.config.user_id,
    )
    click.echo(f"wrote {len(plays)} plays to {out}")
