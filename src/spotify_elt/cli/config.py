"""``spotify-elt config``: show the effective configuration."""

from __future__ import annotations

import json

import click

from ..config import load_settings, settings_help


@click.group()
def config() -> None:
    """Inspect the configuration (env SPOTIFY_ELT_* > config.toml > defaults)."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML-like lines.")
def show(as_json: bool) -> None:
    """Print the effective configuration, secrets redacted, and the current target (whose data
    transform, report, docs, export... work on)."""
    from ..target import choose

    settings = load_settings()
    shown = settings.redacted()
    current = choose(settings)
    if as_json:
        shown["current_target"] = {
            "name": current.name,
            "database": current.database,
            "reason": current.reason,
        }
        click.echo(json.dumps(shown, indent=2))
        return
    click.echo(
        f"# config file: {settings.config_file}"
        f"{'' if settings.config_file.exists() else ' (not present)'}"
    )
    click.echo(f"# current target: {current.describe()}")
    for key, value in shown.items():
        click.echo(f"{key} = {json.dumps(value)}")


@config.command("keys")
def keys() -> None:
    """List every configuration key, its environment variable and what it does."""
    for key, env, text in settings_help():
        click.echo(f"{key:<16} {env:<28} {text}")
