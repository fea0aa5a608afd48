"""``spotify-elt auth``: log in to Spotify (PKCE) and show which credentials are present."""

from __future__ import annotations

import click

from ..config import load_settings
from ..errors import UserError
from ..vault import REDACTED, Vault


def _spotify_errors() -> tuple[type[Exception], ...]:
    from extract.spotify.client import SpotifyError

    return (SpotifyError,)


@click.group()
def auth() -> None:
    """Spotify credentials: the PKCE login and its status."""


@auth.command()
@click.option(
    "--no-browser",
    is_flag=True,
    help="Do not open a browser or listen for the redirect: paste the redirected URL instead.",
)
@click.option(
    "--timeout", default=300, show_default=True, help="Seconds to wait for the browser redirect."
)
def login(no_browser: bool, timeout: int) -> None:
    """Log in with Authorization Code + PKCE and keep the refresh token in the vault.

    Prints the authorize URL (and opens a browser where one exists), receives the redirect on the
    configured loopback redirect URI, checks `state`, exchanges the code with the PKCE verifier
    and stores the refresh token encrypted. Register the redirect URI (default
    http://127.0.0.1:8888/callback) in your Spotify app first.
    """
    import webbrowser

    from ..login import login as do_login

    settings = load_settings()
    if not settings.client_id:
        raise UserError(
            "No Spotify client id is configured; set SPOTIFY_ELT_CLIENT_ID (or client_id in "
            "config.toml) first."
        )
    vault = Vault.from_settings(settings)

    def show(url: str) -> None:
        click.echo("Open this URL in a browser and allow access:\n")
        click.echo(f"  {url}\n")

    def paste() -> str:
        return str(click.prompt("Paste the full URL your browser was redirected to"))

    try:
        tokens = do_login(
            settings,
            vault,
            client_id=settings.client_id,
            show_url=show,
            open_browser=None if no_browser else webbrowser.open,
            paste_redirect=paste if no_browser else None,
            timeout=timeout,
        )
    except _spotify_errors() as exc:
        raise UserError(str(exc)) from None
    click.echo(f"Logged in; the refresh token is in the vault. Scopes: {' '.join(tokens.scopes)}")


@auth.command()
def status() -> None:
    """Show which Spotify credentials are present (redacted) and the scopes granted at login."""
    from ..extraction import secret_names
    from ..login import SCOPES_ENTRY

    settings = load_settings()
    vault = Vault.from_settings(settings)
    secret_name, refresh_name = secret_names()
    present = set(vault.names()) if vault.exists() else set()
    click.echo(f"accounts url:   {settings.accounts_url}")
    click.echo(f"api url:        {settings.api_url}")
    click.echo(f"client id:      {settings.client_id or '(not set: SPOTIFY_ELT_CLIENT_ID)'}")
    click.echo(
        f"client secret:  {REDACTED if secret_name in present else '(missing)'}"
        f"{'' if secret_name in present else f' - spotify-elt secrets set {secret_name}'}"
    )
    click.echo(
        f"refresh token:  {REDACTED if refresh_name in present else '(missing)'}"
        f"{'' if refresh_name in present else ' - spotify-elt auth login'}"
    )
    scopes = vault.get(SCOPES_ENTRY) if SCOPES_ENTRY in present else None
    click.echo(f"granted scopes: {scopes or '(unknown: log in)'}")
    if scopes:
        missing = sorted(set(settings.scopes) - set(scopes.split()))
        if missing:
            click.echo(f"missing scopes: {' '.join(missing)} - log in again")
