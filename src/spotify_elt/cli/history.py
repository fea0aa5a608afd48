"""``spotify-elt import-history PATH``: a Spotify privacy export into bronze, file by file."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..config import load_settings

if TYPE_CHECKING:
    from ..history import HistorySummary


@click.command("import-history")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--pii",
    type=click.Choice(["drop", "hash"]),
    default=None,
    help="IP addresses, user agents and the username: drop them, or keep a salted hash "
    "(default: the history_pii setting, drop).",
)
@click.option("--wait", is_flag=True, help="Wait for a running import instead of refusing.")
@click.option("--quiet", is_flag=True, help="No progress, only the summary.")
def import_history(path: Path, pii: str | None, wait: bool, quiet: bool) -> None:
    """Import Spotify's privacy export (a zip, a folder or one JSON file) into bronze.

    Request it at spotify.com > Account > Privacy settings ("Extended streaming history": every
    play since the account began; "Account data": the last year, without track ids). Both
    formats are detected per file. Importing the same or an overlapping export again adds no
    duplicate plays. A bad file stops the import with a message naming it; nothing is loaded.
    """
    from ..history import import_history as run_import
    from ..vault import Vault

    settings = load_settings()
    vault = Vault.from_settings(settings)
    with progress_display(quiet=quiet) as progress:
        summary = run_import(settings, vault, path, pii=pii, progress=progress, wait_for_lock=wait)
    print_summary(summary)


class _Progress:
    """Per-file lines, and a live bar over the export's bytes when stderr is a terminal."""

    def __init__(self, live: bool) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TransferSpeedColumn,
        )

        self.console = Console(stderr=True)
        self.bar: Any = None
        self.task: Any = None
        self.total_files = 0
        self.done_files = 0
        if live:
            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )

    # ImportProgress callbacks
    def found(self, files: list[Any], skipped: list[str]) -> None:
        self.total_files = len(files)
        if self.bar is not None:
            self.task = self.bar.add_task("reading", total=sum(f.size for f in files))
        for name in skipped:
            self._print(f"  skipped {name} (not a streaming history file)")

    def file_started(self, file: Any) -> None:
        if self.bar is not None:
            self.bar.update(self.task, description=f"reading {file.name.rsplit('/', 1)[-1]}")

    def advance(self, nbytes: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, nbytes)

    def file_done(self, staged: Any) -> None:
        self.done_files += 1
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(staged.kinds.items()))
        self._print(
            f"  [{self.done_files}/{self.total_files}] {staged.file.name}: {staged.rows} plays "
            f"({staged.export_format or 'empty'}{'; ' + kinds if kinds else ''})"
        )
        if self.bar is not None and self.done_files == self.total_files:
            self.bar.update(self.task, description="loading into bronze")

    def _print(self, text: str) -> None:
        (self.bar.console if self.bar is not None else self.console).print(text, highlight=False)


@contextlib.contextmanager
def progress_display(*, quiet: bool) -> Iterator[Any]:
    """An ImportProgress for the console (a live bar on a terminal), or None when quiet."""
    if quiet:
        yield None
        return
    from rich.console import Console

    progress = _Progress(Console(stderr=True).is_terminal and sys.stderr.isatty())
    if progress.bar is None:
        yield progress
        return
    with progress.bar:
        yield progress


def print_summary(summary: HistorySummary) -> None:
    """Plays per file, what is new to bronze, the PII rule applied and the time taken."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"Streaming history from {summary.path}", show_edge=False)
    table.add_column("file")
    table.add_column("format")
    table.add_column("plays", justify="right")
    table.add_column("exact repeats", justify="right")
    for file in summary.files:
        table.add_row(file.name, file.export_format or "-", str(file.rows), str(file.repeats))
    console.print(table)
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(summary.kinds.items())) or "none"
    span = (
        f" from {summary.first_played_at[:10]} to {summary.last_played_at[:10]}"
        if summary.first_played_at and summary.last_played_at
        else ""
    )
    console.print(
        f"{summary.plays_in_export} plays in the export{span} ({kinds}); "
        f"{summary.plays_added} new in bronze.streaming_history, {summary.plays_total} there "
        f"now; PII {'dropped' if summary.pii == 'drop' else 'kept as salted hashes'}; "
        f"{len(summary.skipped)} other files skipped; "
        + (
            f"NUL characters removed from {summary.nul_records} plays; "
            if summary.nul_records
            else ""
        )
        + f"{summary.seconds:.1f} s",
        highlight=False,
    )
