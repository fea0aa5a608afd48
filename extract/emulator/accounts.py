"""The accounts service: /authorize, /api/token, and the token store behind the Web API.

Why so strict: the extractor's auth code must be proven against the failure modes the real
service has (wrong verifier, replayed or expired code, redirect URI mismatch, unknown client,
rotated refresh tokens, expiry, revocation), so every check real OAuth 2.0 + PKCE performs is
performed here, with Spotify's error codes. Lifetimes are measured on the emulator :class:`Clock`.

Error statuses: ``invalid_client`` is 401 (with ``WWW-Authenticate``) when the client tried HTTP
Basic authentication, as RFC 6749 section 5.2 prescribes, and 400 otherwise; every other token
error is 400. Codes are single-use: the first exchange attempt burns a code, successful or not.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .clock import Clock
from .config import ALL_SCOPES, EmulatorConfig

_CODE_CHALLENGE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_LOOPBACK_HOSTS = {"127.0.0.1", "[::1]", "::1"}


class TokenError(Exception):
    """An OAuth error answered by /api/token as ``{"error", "error_description"}``."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


class AuthorizeError(Exception):
    """An /authorize failure shown as an error page (no redirect: the URI is not trusted)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BearerError(Exception):
    """A Web API request whose token is missing, malformed, unknown or expired."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class AccessToken:
    value: str
    client_id: str
    user_id: str | None
    """None for client-credentials tokens (no user)."""
    scopes: frozenset[str]
    expires_at: float


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    code_challenge: str | None
    expires_at: float
    used: bool = False


@dataclass(frozen=True)
class RefreshToken:
    client_id: str
    user_id: str
    scopes: frozenset[str]
    public_client: bool
    """True when issued through PKCE: refreshing then needs only the client_id."""


def redirect_uri_matches(registered: str, candidate: str) -> bool:
    """Exact match, or a port-less loopback registration matching any port (RFC 8252 7.3)."""
    if registered == candidate:
        return True
    reg, cand = urlsplit(registered), urlsplit(candidate)
    if reg.port is not None or reg.hostname is None or cand.hostname is None:
        return False
    host = reg.netloc
    return (
        reg.scheme == cand.scheme == "http"
        and host in _LOOPBACK_HOSTS
        and cand.netloc.rsplit(":", 1)[0] == host
        and cand.port is not None
        and reg.path == cand.path
        and reg.query == cand.query
    )


def s256(verifier: str) -> str:
    """The PKCE S256 code challenge of ``verifier``."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _with_query(uri: str, params: dict[str, str]) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


class Accounts:
    """Token issuing, validation and revocation for one registered client and one user."""

    def __init__(self, config: EmulatorConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._access: dict[str, AccessToken] = {}
        self._codes: dict[str, AuthCode] = {}
        self._refresh: dict[str, RefreshToken] = {}

    # ------------------------------------------------------------------ /authorize
    def authorize(self, params: dict[str, str]) -> str:
        """Consent at once for the configured user; return the redirect target URL.

        Raises :class:`AuthorizeError` when the client or redirect URI cannot be trusted, in
        which case no redirect may happen. Other problems redirect with ``error=``.
        """
        cfg = self._config
        if params.get("client_id") != cfg.client_id:
            raise AuthorizeError("INVALID_CLIENT: Invalid client")
        redirect_uri = params.get("redirect_uri", "")
        if not any(redirect_uri_matches(r, redirect_uri) for r in cfg.redirect_uris):
            raise AuthorizeError("INVALID_CLIENT: Invalid redirect URI")
        state = {"state": params["state"]} if "state" in params else {}

        def refuse(error: str, description: str) -> str:
            return _with_query(
                redirect_uri, {"error": error, "error_description": description, **state}
            )

        if params.get("response_type") != "code":
            return refuse("unsupported_response_type", "response_type must be code")
        method = params.get("code_challenge_method")
        challenge = params.get("code_challenge")
        if method is not None and method != "S256":
            return refuse("invalid_request", "code_challenge_method must be S256")
        if method == "S256" and not challenge:
            return refuse("invalid_request", "code_challenge must be supplied")
        if challenge is not None and method is None:
            return refuse("invalid_request", "code_challenge_method must be supplied")
        if challenge is not None and not _CODE_CHALLENGE.match(challenge):
            return refuse("invalid_request", "code_challenge is malformed")
        requested = set(params.get("scope", "").split())
        granted = frozenset(requested & set(cfg.allowed_scopes) & set(ALL_SCOPES))
        code = "AQ" + secrets.token_urlsafe(48)
        with self._lock:
            self._prune()
            self._codes[code] = AuthCode(
                client_id=cfg.client_id,
                redirect_uri=redirect_uri,
                scopes=granted,
                code_challenge=challenge,
                expires_at=self._clock.timestamp() + cfg.code_ttl,
            )
        return _with_query(redirect_uri, {"code": code, **state})

    # ------------------------------------------------------------------ /api/token
    def _client(self, form: dict[str, str], authorization: str | None) -> tuple[str, bool]:
        """Identify the client: ``(client_id, authenticated_with_secret)``."""
        cfg = self._config
        if authorization is not None:
            scheme, _, payload = authorization.partition(" ")
            if scheme.lower() != "basic":
                raise TokenError("invalid_client", "Invalid client", 400)
            try:
                client_id, sep, secret = (
                    base64.b64decode(payload, validate=True).decode().partition(":")
                )
            except (binascii.Error, UnicodeDecodeError):
                raise TokenError("invalid_client", "Invalid client", 401) from None
            if not sep or client_id != cfg.client_id:
                raise TokenError("invalid_client", "Invalid client", 401)
            if not hmac.compare_digest(secret.encode(), cfg.client_secret.encode()):
                raise TokenError("invalid_client", "Invalid client secret", 401)
            return client_id, True
        form_client = form.get("client_id")
        if form_client is None or form_client != cfg.client_id:
            raise TokenError("invalid_client", "Invalid client")
        form_secret = form.get("client_secret")
        if form_secret is None:
            return form_client, False
        if not hmac.compare_digest(form_secret.encode(), cfg.client_secret.encode()):
            raise TokenError("invalid_client", "Invalid client secret")
        return form_client, True

    def token(self, form: dict[str, str], authorization: str | None) -> dict[str, object]:
        """Answer one /api/token request (raises :class:`TokenError`)."""
        grant = form.get("grant_type")
        if not grant:
            raise TokenError("unsupported_grant_type", "grant_type parameter is missing")
        if grant not in ("client_credentials", "authorization_code", "refresh_token"):
            raise TokenError(
                "unsupported_grant_type",
                "grant_type must be client_credentials, authorization_code or refresh_token",
            )
        client_id, confidential = self._client(form, authorization)
        if grant == "client_credentials":
            if not confidential:
                raise TokenError("invalid_client", "Invalid client secret")
            return self._issue(client_id, None, frozenset(), refresh=None)
        if grant == "authorization_code":
            return self._exchange_code(form, client_id, confidential)
        return self._refresh_grant(form, client_id, confidential)

    def _exchange_code(
        self, form: dict[str, str], client_id: str, confidential: bool
    ) -> dict[str, object]:
        code_value = form.get("code")
        if not code_value:
            raise TokenError("invalid_request", "code must be supplied")
        with self._lock:
            code = self._codes.get(code_value)
            if code is None or code.used or code.client_id != client_id:
                raise TokenError("invalid_grant", "Invalid authorization code")
            code.used = True
        if self._clock.timestamp() >= code.expires_at:
            raise TokenError("invalid_grant", "Authorization code expired")
        if form.get("redirect_uri") != code.redirect_uri:
            raise TokenError("invalid_grant", "Invalid redirect URI")
        verifier = form.get("code_verifier")
        if code.code_challenge is not None:
            if not verifier:
                raise TokenError("invalid_request", "code_verifier required")
            if not hmac.compare_digest(s256(verifier), code.code_challenge):
                raise TokenError("invalid_grant", "code_verifier was incorrect")
        elif not confidential:
            raise TokenError("invalid_client", "Invalid client secret")
        refresh = RefreshToken(
            client_id=client_id,
            user_id=self._config.user_id,
            scopes=code.scopes,
            public_client=code.code_challenge is not None,
        )
        return self._issue(client_id, self._config.user_id, code.scopes, refresh=refresh)

    def _refresh_grant(
        self, form: dict[str, str], client_id: str, confidential: bool
    ) -> dict[str, object]:
        value = form.get("refresh_token")
        if not value:
            raise TokenError("invalid_request", "refresh_token must be supplied")
        with self._lock:
            refresh = self._refresh.get(value)
            if refresh is None or refresh.client_id != client_id:
                raise TokenError("invalid_grant", "Invalid refresh token")
            if not refresh.public_client and not confidential:
                raise TokenError("invalid_client", "Invalid client secret")
            rotate = self._config.rotate_refresh_tokens
            if rotate:
                del self._refresh[value]
        answer = self._issue(
            client_id, refresh.user_id, refresh.scopes, refresh=refresh if rotate else None
        )
        return answer

    def _issue(
        self,
        client_id: str,
        user_id: str | None,
        scopes: frozenset[str],
        refresh: RefreshToken | None,
    ) -> dict[str, object]:
        ttl = self._config.token_ttl
        value = "BQ" + secrets.token_urlsafe(96)
        token = AccessToken(value, client_id, user_id, scopes, self._clock.timestamp() + ttl)
        answer: dict[str, object] = {"access_token": value, "token_type": "Bearer"}
        if user_id is not None:
            answer["scope"] = " ".join(sorted(scopes))
        answer["expires_in"] = ttl
        with self._lock:
            self._prune()
            self._access[value] = token
            if refresh is not None:
                refresh_value = "AQ" + secrets.token_urlsafe(96)
                self._refresh[refresh_value] = refresh
                answer["refresh_token"] = refresh_value
        return answer

    def _prune(self) -> None:
        """Drop long-expired tokens and codes so the store stays small (lock held)."""
        horizon = self._clock.timestamp() - 86_400
        for key in [k for k, t in self._access.items() if t.expires_at < horizon]:
            del self._access[key]
        for key in [k for k, c in self._codes.items() if c.expires_at < horizon]:
            del self._codes[key]

    # ------------------------------------------------------------------ Web API side
    def authenticate(self, authorization: str | None) -> AccessToken:
        """The valid access token of a Web API request, or :class:`BearerError`."""
        if not authorization:
            raise BearerError(401, "No token provided")
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise BearerError(400, "Only valid bearer authentication supported")
        with self._lock:
            token = self._access.get(value.strip())
        if token is None:
            raise BearerError(401, "Invalid access token")
        if self._clock.timestamp() >= token.expires_at:
            raise BearerError(401, "The access token expired")
        return token

    def revoke_all(self, *, refresh_tokens: bool = False) -> int:
        """Invalidate every access token (and refresh token if asked); return how many."""
        with self._lock:
            count = len(self._access)
            self._access.clear()
            if refresh_tokens:
                count += len(self._refresh)
                self._refresh.clear()
        return count

    def active_tokens(self) -> int:
        now = self._clock.timestamp()
        with self._lock:
            return sum(1 for t in self._access.values() if t.expires_at > now)
