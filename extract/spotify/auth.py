"""Authorization Code with PKCE: the one-time login that yields a user's refresh token.

Pieces, so that a CLI (or a test) can assemble the flow: make a verifier and its S256 challenge,
build the authorize URL, receive the redirect on a loopback port (or take a pasted URL), check
``state`` and exchange the code for tokens.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import secrets
import threading
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from .client import SpotifyAuthError, SpotifyError


@dataclass(frozen=True)
class PkcePair:
    verifier: str
    challenge: str


@dataclass(frozen=True)
class UserTokens:
    access_token: str
    refresh_token: str
    scopes: tuple[str, ...]
    expires_in: int

    def __repr__(self) -> str:  # never show tokens
        return f"UserTokens(scopes={self.scopes!r}, expires_in={self.expires_in})"


def make_pkce() -> PkcePair:
    """A fresh code verifier (RFC 7636: 43..128 chars) and its S256 challenge."""
    verifier = secrets.token_urlsafe(64)[:96]
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return PkcePair(verifier, challenge)


def authorize_url(
    accounts_url: str,
    *,
    client_id: str,
    redirect_uri: str,
    scopes: tuple[str, ...] | list[str],
    state: str,
    challenge: str,
) -> str:
    query = urlencode(
        {
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "code_challenge_method": "S256",
            "code_challenge": challenge,
            "scope": " ".join(scopes),
            "state": state,
        }
    )
    return f"{accounts_url.rstrip('/')}/authorize?{query}"


def check_redirect_uri(redirect_uri: str) -> tuple[str, int, str]:
    """(host, port, path) of a loopback redirect URI; Spotify refuses ``localhost`` now."""
    parts = urlsplit(redirect_uri)
    if parts.scheme != "http" or parts.hostname not in {"127.0.0.1", "[::1]", "::1"}:
        raise SpotifyError(
            f"The redirect URI {redirect_uri!r} must be http on a loopback IP literal, "
            "e.g. http://127.0.0.1:8888/callback."
        )
    if not parts.port:
        raise SpotifyError(f"The redirect URI {redirect_uri!r} needs an explicit port.")
    return parts.hostname, parts.port, parts.path or "/"


def code_from_redirect(url: str, expected_state: str, *, redirect_uri: str | None = None) -> str:
    """The ``code`` of the URL the browser was redirected to, after checking ``state``.

    With ``redirect_uri`` (a URL the user pasted) the URL must be a redirect to it.
    """
    parts = urlsplit(url.strip())
    if redirect_uri is not None:
        want = urlsplit(redirect_uri)
        if (parts.scheme, parts.netloc, parts.path.rstrip("/")) != (
            want.scheme,
            want.netloc,
            want.path.rstrip("/"),
        ):
            raise SpotifyAuthError(
                f"The pasted text is not a redirect to {redirect_uri}; paste the whole URL the "
                "browser shows after you allow access."
            )
    query = parse_qs(parts.query)
    if "error" in query:
        raise SpotifyAuthError(f"Spotify did not grant access: {query['error'][0]}.")
    state = query.get("state", [""])[0]
    if not secrets.compare_digest(state, expected_state):
        raise SpotifyAuthError(
            "The redirect's state does not match this login (a stale or forged redirect); "
            "start the login again."
        )
    code = query.get("code", [""])[0]
    if not code:
        raise SpotifyAuthError("The redirect URL carries no authorization code.")
    return code


def exchange_code(
    accounts_url: str,
    *,
    client_id: str,
    code: str,
    redirect_uri: str,
    verifier: str,
    session: requests.Session | None = None,
    timeout: float = 30.0,
) -> UserTokens:
    """Trade the authorization code (and the PKCE verifier) for an access and a refresh token."""
    http = session or requests.Session()
    token_url = f"{accounts_url.rstrip('/')}/api/token"
    try:
        response = http.post(
            token_url,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": client_id,
                "code_verifier": verifier,
            },
            timeout=timeout,
        )
    except requests.RequestException as exc:
        raise SpotifyError(
            f"The accounts service at {token_url} cannot be reached ({type(exc).__name__})."
        ) from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or "refresh_token" not in body:
        error = body.get("error", f"HTTP {response.status_code}")
        description = body.get("error_description", "")
        raise SpotifyAuthError(
            f"The accounts service refused the authorization code: {error}"
            + (f" ({description})" if description else "")
            + "."
        )
    return UserTokens(
        access_token=str(body["access_token"]),
        refresh_token=str(body["refresh_token"]),
        scopes=tuple(str(body.get("scope", "")).split()),
        expires_in=int(body.get("expires_in", 3600)),
    )


_PAGE = (
    "<!doctype html><meta charset=utf-8><title>spotify-elt</title>"
    "<body style='font-family:sans-serif'><h1>{title}</h1><p>{text}</p></body>"
)


class CallbackReceiver:
    """A one-shot HTTP server on the redirect URI's loopback port that waits for the redirect."""

    def __init__(self, redirect_uri: str) -> None:
        host, port, path = check_redirect_uri(redirect_uri)
        self._path = path
        self._received = threading.Event()
        self.url: str | None = None
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if urlsplit(self.path).path != receiver._path:
                    self.send_error(404)
                    return
                receiver.url = f"http://{host}:{port}{self.path}"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                page = _PAGE.format(
                    title="Login received",
                    text="You can close this tab and go back to the terminal.",
                )
                self.wfile.write(page.encode())
                receiver._received.set()

            def log_message(self, format: str, *args: object) -> None:
                # The default handler would print the code in the query string to stderr.
                return

        try:
            self._server = http.server.ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise SpotifyError(
                f"Cannot listen on {host}:{port} for the login redirect ({exc.strerror}); "
                "free the port or use --no-browser."
            ) from None
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> CallbackReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait(self, timeout: float) -> str:
        if not self._received.wait(timeout):
            raise SpotifyAuthError(
                f"No login redirect arrived within {timeout:.0f} s; run the login again."
            )
        assert self.url is not None
        return self.url
