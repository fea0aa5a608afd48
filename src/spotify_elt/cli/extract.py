"""``spotify-elt extract``: Spotify (or the emulator) into bronze, with a live progress line."""

from __future__ import annotations

import sys
import threading

import click

from ..config import load_settings


@click.command()
@click.option("--user/--no-user", "user_data", default=True, help="Extract the listener's data.")
@click.option("--catalog/--no-catalog", default=True, help="Fetch catalog objects bronze lacks.")
@click.option(
    "--resource",
    "resources",
    multiple=True,
    metavar="NAME",
    help="Only these user-data tables (repeatable), e.g. recently_played.",
)
@click.option(
    "--wait", is_flag=True, help="Wait for a running extraction instead of refusing to start."
)
@click.option("--quiet", is_flag=True, help="No live progress, only the summary.")
def extract(
    user_data: bool, catalog: bool, resources: tuple[str, ...], wait: bool, quiet: bool
) -> None:
    """Load Spotify data into the bronze schema (incremental, idempotent, rate-limited).

    User data needs `spotify-elt auth login`; the catalog needs the client secret in the vault.
    Runs as the spotify_loader role; a second run at the same time refuses (or --wait).
    """
    from ..extraction import credentials_from_vault, run_extract
    from ..vault import Vault

    settings = load_settings()
    vault = Vault.from_settings(settings)
    credentials = credentials_from_vault(settings, vault)
    summary = run_with_progress(
        lambda on_request: run_extract(
            settings,
            vault,
            credentials,
            user_data=user_data,
            catalog=catalog,
            resources=resources or None,
            wait_for_lock=wait,
            on_request=on_request,
        ),
        quiet=quiet,
    )
    print_summary(summary)


def run_with_progress(job, *, quiet: bool = False):  # type: ignore[no-untyped-def]
    """Run ``job(on_request)`` under a live rich status line (when stderr is a terminal)."""
    from rich.console import Console

    console = Console(stderr=True)
    live = not quiet and console.is_terminal and sys.stderr.isatty()
    counts = {"requests": 0, "errors": 0, "last": ""}
    lock = threading.Lock()

    if not live:
        return job(None)

    with console.status("extracting...") as status:

        def on_request(endpoint: str, code: int) -> None:
            with lock:
                counts["requests"] += 1  # type: ignore[operator]
                if code >= 400:
                    counts["errors"] += 1  # type: ignore[operator]
                counts["last"] = f"{endpoint} {code}"
                status.update(
                    f"extracting: {counts['requests']} requests, "
                    f"{counts['errors']} retried or refused, last {counts['last']}"
                )

        return job(on_request)


def print_summary(summary) -> None:  # type: ignore[no-untyped-def]
    """The end-of-run summary: requests per endpoint, rows per table, retries, skips, time."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    requests = Table(title="Requests", show_edge=False)
    requests.add_column("endpoint")
    requests.add_column("requests", justify="right")
    requests.add_column("retries", justify="right")
    for endpoint, count in sorted(summary.requests.items()):
        requests.add_row(endpoint, str(count), str(summary.retries.get(endpoint, 0)))
    rows = Table(title="Rows loaded into bronze", show_edge=False)
    rows.add_column("table")
    rows.add_column("rows", justify="right")
    for table, count in sorted(summary.rows.items()):
        rows.add_row(table, str(count))
    console.print(requests)
    console.print(rows)
    console.print(
        f"{summary.total_requests} requests, {sum(summary.rows.values())} rows, "
        f"{sum(summary.retries.values())} retries, {summary.rate_limit_waits} rate-limit waits "
        f"({summary.rate_limit_wait_seconds:.0f} s), {summary.skipped_playlists} playlists "
        f"skipped, {summary.missing_ids} missing ids, {summary.seconds:.1f} s"
    )
    for warning in summary.warnings:
        console.print(f"warning: {warning}")
