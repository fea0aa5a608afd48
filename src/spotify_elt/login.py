"""The one-time user login (Authorization Code + PKCE) and where its result is kept."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from extract.spotify.auth import (
    CallbackReceiver,
    UserTokens,
    authorize_url,
    code_from_redirect,
    exchange_code,
    make_pkce,
)

from .config import Settings
from .extraction import secret_names
from .vault import Vault

log = logging.getLogger(__name__)

SCOPES_ENTRY = "spotify_granted_scopes"


def login(
    settings: Settings,
    vault: Vault,
    *,
    client_id: str,
    show_url: Callable[[str], None],
    open_browser: Callable[[str], object] | None,
    paste_redirect: Callable[[], str] | None = None,
    timeout: float = 300.0,
    prefix: str = "",
) -> UserTokens:
    """Run the PKCE flow and store the refresh token (and the granted scopes) in the vault.

    With ``open_browser`` the redirect is received on the redirect URI's loopback port; with
    ``paste_redirect`` (a server without a browser) the user pastes the URL the browser showed.
    """
    pkce = make_pkce()
    state = secrets.token_urlsafe(24)
    url = authorize_url(
        settings.accounts_url,
        client_id=client_id,
        redirect_uri=settings.redirect_uri,
        scopes=settings.scopes,
        state=state,
        challenge=pkce.challenge,
    )
    expected_uri = None
    if paste_redirect is not None:
        show_url(url)
        redirected = paste_redirect()
        expected_uri = settings.redirect_uri
    else:
        with CallbackReceiver(settings.redirect_uri) as receiver:
            show_url(url)
            if open_browser is not None:
                try:
                    open_browser(url)
                except Exception as exc:  # a missing browser is not fatal: the URL is shown
                    log.warning("could not open a browser (%s); open the URL above", exc)
            redirected = receiver.wait(timeout)
    code = code_from_redirect(redirected, state, redirect_uri=expected_uri)
    tokens = exchange_code(
        settings.accounts_url,
        client_id=client_id,
        code=code,
        redirect_uri=settings.redirect_uri,
        verifier=pkce.verifier,
    )
    _, refresh_name = secret_names(prefix)
    if not vault.exists():  # created once there is something to keep (not by a failed login)
        vault.init()
    vault.set(refresh_name, tokens.refresh_token)
    vault.set(prefix + SCOPES_ENTRY, " ".join(tokens.scopes))
    missing = sorted(set(settings.scopes) - set(tokens.scopes))
    if missing:
        log.warning("the login did not grant: %s", ", ".join(missing))
    return tokens
