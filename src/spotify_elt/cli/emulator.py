"""``spotify-elt emulator``: run the local Spotify Web API emulator.

The client secret is never taken from the command line (it would show in ``ps``): it comes from
the environment variable ``SPOTIFY_ELT_EMULATOR_CLIENT_SECRET`` (or the one ``--client-secret-env``
names) and otherwise is the documented development value ``emulator-secret``.
"""

from __future__ import annotations

import os
from datetime import datetime

import click

from extract.emulator import (
    CLIENT_SECRET_ENV,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REDIRECT_URIS,
    EmulatorConfig,
    EmulatorServer,
)
from extract.emulator.config import DEFAULT_CLOCK_START

from .lazy import LazyCommands
from .options import TIMESTAMP, plays_per_hour_option, scale_option, seed_option


@click.group()
def emulator() -> None:
    """Run a local, seeded emulator of the Spotify accounts service and Web API."""


# `export-history` needs the history package (and dlt): imported only when it runs.
emulator.commands = LazyCommands({"export-history": (".emulator_export", "export_history")})


def _redirect_uris(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    from urllib.parse import urlsplit

    for value in values:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or " " in value:
            raise click.BadParameter(
                f"{value!r} is not an http(s) URI with a host, e.g. http://127.0.0.1:8888/callback",
                ctx=ctx,
                param=param,
            )
    return values


@emulator.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free).",
)
@seed_option("Seed of the catalog.")
@scale_option("Approximate number of tracks in the generated catalog.")
@click.option(
    "--mode",
    type=click.Choice(["development", "extended"]),
    default="development",
    show_default=True,
    help="development: 2026 Development Mode surface; extended: extended-quota surface.",
)
@click.option(
    "--client-id", default=DEFAULT_CLIENT_ID, show_default=True, help="Client id to accept."
)
@click.option(
    "--client-secret-env",
    default=CLIENT_SECRET_ENV,
    show_default=True,
    help=f"Environment variable holding the client secret (unset: {DEFAULT_CLIENT_SECRET!r}).",
)
@click.option(
    "--redirect-uri",
    "redirect_uris",
    multiple=True,
    callback=_redirect_uris,
    help="Registered redirect URI (repeatable). A port-less loopback URI matches any port. "
    f"Default: {', '.join(DEFAULT_REDIRECT_URIS)}.",
)
@click.option(
    "--token-ttl",
    default=3600,
    show_default=True,
    type=click.IntRange(min=1),
    help="Access token lifetime in seconds (on the emulator clock).",
)
@click.option(
    "--rotate-refresh-tokens/--keep-refresh-tokens",
    default=False,
    show_default=True,
    help="Issue a new refresh token on every refresh (the old one dies), or keep the first.",
)
@click.option(
    "--rate-budget",
    type=click.IntRange(min=1),
    default=None,
    help="Requests allowed per rolling window across the API (default: no limit).",
)
@click.option(
    "--rate-window",
    type=click.FloatRange(min=0.001),
    default=30.0,
    show_default=True,
    help="Length of the rolling rate-limit window in seconds.",
)
@click.option(
    "--fault-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Fraction of API requests answered 500/502/503.",
)
@click.option(
    "--fault-seed",
    type=int,
    default=None,
    help="Seed of the fault sequence (default: --seed).",
)
@click.option(
    "--latency-ms",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Latency added to every API request.",
)
@click.option(
    "--truncate-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Fraction of 200 answers whose body is cut short.",
)
@click.option(
    "--revoke-after",
    type=click.IntRange(min=1),
    default=None,
    help="Revoke every access token each time this many API requests have arrived.",
)
@plays_per_hour_option("Average plays per listening hour in the generated history.")
@click.option(
    "--clock-start",
    type=TIMESTAMP,
    default=None,
    help=f"Initial emulator time, UTC if no offset (default: {DEFAULT_CLOCK_START.isoformat()}).",
)
@click.option(
    "--realtime-clock/--frozen-clock",
    default=True,
    show_default=True,
    help="Let the emulator clock follow wall time, or move only via POST /_emulator/clock.",
)
def serve(
    host: str,
    port: int,
    seed: int,
    scale: int,
    mode: str,
    client_id: str,
    client_secret_env: str,
    redirect_uris: tuple[str, ...],
    token_ttl: int,
    rotate_refresh_tokens: bool,
    rate_budget: int | None,
    rate_window: float,
    fault_rate: float,
    fault_seed: int | None,
    latency_ms: int,
    truncate_rate: float,
    revoke_after: int | None,
    plays_per_hour: float,
    clock_start: datetime | None,
    realtime_clock: bool,
) -> None:
    """Serve the accounts service and the Web API until Ctrl-C."""
    start = DEFAULT_CLOCK_START if clock_start is None else clock_start
    config = EmulatorConfig(
        seed=seed,
        scale=scale,
        mode="extended" if mode == "extended" else "development",
        client_id=client_id,
        client_secret=os.environ.get(client_secret_env) or DEFAULT_CLIENT_SECRET,
        redirect_uris=redirect_uris or DEFAULT_REDIRECT_URIS,
        token_ttl=token_ttl,
        rotate_refresh_tokens=rotate_refresh_tokens,
        rate_budget=rate_budget,
        rate_window=rate_window,
        fault_rate=fault_rate,
        fault_seed=fault_seed,
        latency_ms=latency_ms,
        truncate_rate=truncate_rate,
        revoke_after_requests=revoke_after,
        plays_per_hour=plays_per_hour,
        clock_start=start,
        realtime_clock=realtime_clock,
    )
    server = EmulatorServer(config, host=host, port=port)
    try:
        server.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from exc
    secret_source = f"${client_secret_env}" if os.environ.get(client_secret_env) else "the default"
    click.echo(f"accounts: {server.accounts_url}   (POST /api/token, GET /authorize)")
    click.echo(f"web api:  {server.api_url}")
    click.echo(f"client id {config.client_id}, secret from {secret_source}; mode {config.mode}")
    click.echo("Press Ctrl-C to stop.")
    server.serve_forever()
    click.echo("emulator stopped")
