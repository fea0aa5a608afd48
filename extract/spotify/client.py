"""HTTP client for the Spotify Web API: tokens, a polite rate limiter, retries, paging, stats.

The client knows Spotify only by two base URLs, so the same code talks to Spotify or to the
project's emulator. It receives credentials as arguments and a callback to save a rotated refresh
token; it never reads configuration, files or the environment.
"""

from __future__ import annotations

import base64
import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import requests

log = logging.getLogger(__name__)

AuthKind = Literal["app", "user"]
JSON = dict[str, Any]


class SpotifyError(Exception):
    """The Web API or the accounts service refused or failed; the message names the endpoint."""


class SpotifyAuthError(SpotifyError):
    """Credentials were refused (invalid_client, invalid_grant, revoked refresh token)."""

    def __init__(self, message: str, *, error: str | None = None, grant: str | None = None):
        super().__init__(message)
        self.error = error
        """The OAuth error code the accounts service answered (``invalid_grant``, ...)."""
        self.grant = grant
        """The grant type that was refused (``refresh_token``, ``client_credentials``)."""


class SpotifyHTTPError(SpotifyError):
    """A non-retryable HTTP error answer (400, 403, 404, ...)."""

    def __init__(self, endpoint: str, status: int, message: str, reason: str | None = None):
        self.endpoint = endpoint
        self.status = status
        self.reason = reason
        super().__init__(f"{endpoint} answered {status}: {message}")


@dataclass
class RetryPolicy:
    """How hard the client tries before giving up."""

    max_retries: int = 5  # for 5xx, timeouts, connection errors and invalid bodies
    max_rate_limit_waits: int = 20  # consecutive 429s on one request
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_retry_after: float = 300.0  # a Retry-After longer than this fails the run instead
    timeout: float = 30.0


@dataclass
class ClientStats:
    """What a run did, for the progress display and the summary."""

    requests: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    rate_limit_waits: int = 0
    rate_limit_wait_seconds: float = 0.0
    throttle_wait_seconds: float = 0.0

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


class RateLimiter(Protocol):
    """What the client needs of a rate limiter: one slot per request, and a 429's penalty.

    :class:`RollingWindowLimiter` counts in this process; a limiter shared by several processes
    or machines (:class:`extract.spotify.shared_limit.PostgresRollingWindowLimiter`) implements
    the same two methods, so parallel extractions share one budget.
    """

    def acquire(self) -> float:
        """Block until one more request may go; return the seconds waited."""
        ...

    def penalise(self, seconds: float) -> None:
        """After a 429, let no request go for ``seconds`` (Retry-After)."""
        ...


def checked_budget(budget: int) -> int:
    """``budget``, if a rolling window of that many requests lets any request go."""
    if budget < 1:
        raise ValueError("the rate budget must be at least 1 request per window")
    return budget


class RollingWindowLimiter:
    """At most ``budget`` requests in any ``window`` seconds (Spotify counts over 30 s)."""

    def __init__(
        self,
        budget: int,
        window: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.budget = checked_budget(budget)
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Block until a request may go; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and now - self._sent[0] >= self.window:
                    self._sent.popleft()
                if len(self._sent) < self.budget:
                    self._sent.append(now)
                    return waited
                delay = self.window - (now - self._sent[0]) + 0.001
            self._sleep(delay)
            waited += delay

    def penalise(self, seconds: float) -> None:
        """After a 429, treat the window as full for ``seconds`` (Retry-After)."""
        with self._lock:
            until = self._clock() + seconds - self.window
            self._sent = deque([until] * self.budget)


class TokenSource:
    """Gets and caches an access token; renews it before it expires or after a 401."""

    renew_margin = 60.0

    def __init__(self, session: requests.Session, token_url: str, timeout: float) -> None:
        self._session = session
        self._token_url = token_url
        self._timeout = timeout
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self.refreshes = 0

    def _form(self) -> tuple[dict[str, str], dict[str, str]]:
        raise NotImplementedError

    def _accept(self, body: JSON) -> None:
        """Hook for subclasses (a rotated refresh token)."""

    def token(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at - self.renew_margin:
                self._fetch()
            assert self._token is not None
            return self._token

    def invalidate(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None

    def _fetch(self) -> None:
        form, headers = self._form()
        try:
            response = self._session.post(
                self._token_url, data=form, headers=headers, timeout=self._timeout
            )
        except requests.RequestException as exc:
            raise SpotifyError(
                f"The accounts service at {self._token_url} cannot be reached "
                f"({type(exc).__name__})."
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or "access_token" not in body:
            error = body.get("error", f"HTTP {response.status_code}")
            if isinstance(error, dict):
                error = error.get("message", "")
            description = body.get("error_description", "")
            raise SpotifyAuthError(
                f"The accounts service refused the {form.get('grant_type')} grant: {error}"
                + (f" ({description})" if description else "")
                + ".",
                error=str(error),
                grant=form.get("grant_type"),
            )
        self._token = str(body["access_token"])
        self._expires_at = time.monotonic() + float(body.get("expires_in", 3600))
        self.refreshes += 1
        self._accept(body)


class ClientCredentialsToken(TokenSource):
    """App token (Client Credentials flow): catalog endpoints only."""

    def __init__(
        self,
        session: requests.Session,
        token_url: str,
        client_id: str,
        client_secret: str,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(session, token_url, timeout)
        self._basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()

    def _form(self) -> tuple[dict[str, str], dict[str, str]]:
        return {"grant_type": "client_credentials"}, {"Authorization": f"Basic {self._basic}"}


class RefreshTokenToken(TokenSource):
    """User token from a refresh token (obtained once with Authorization Code + PKCE)."""

    def __init__(
        self,
        session: requests.Session,
        token_url: str,
        client_id: str,
        refresh_token: str,
        on_rotated: Callable[[str], None] | None = None,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(session, token_url, timeout)
        self._client_id = client_id
        self._refresh_token = refresh_token
        self._on_rotated = on_rotated

    def _form(self) -> tuple[dict[str, str], dict[str, str]]:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": self._refresh_token,
            "client_id": self._client_id,
        }
        return form, {}

    def _accept(self, body: JSON) -> None:
        rotated = body.get("refresh_token")
        if rotated and rotated != self._refresh_token:
            # Spotify may rotate it: the old one stops working, so save the new one at once.
            self._refresh_token = str(rotated)
            if self._on_rotated is not None:
                self._on_rotated(self._refresh_token)


@dataclass(frozen=True)
class Done:
    """The request succeeded: its JSON object."""

    body: JSON


@dataclass(frozen=True)
class Retry:
    """A transient failure (5xx, timeout, connection, invalid body): back off, then retry."""

    problem: str


@dataclass(frozen=True)
class RetryAfter:
    """429 Too Many Requests: wait ``seconds`` (its Retry-After), then retry."""

    seconds: float


@dataclass(frozen=True)
class RenewToken:
    """401: the access token expired or was revoked; renew it and retry once."""


@dataclass(frozen=True)
class Fail:
    """An answer retrying cannot change (400, 403, 404, a second 401, ...)."""

    error: SpotifyHTTPError


#: What one attempt of :meth:`SpotifyClient.get` says to do next.
Outcome = Done | Retry | RetryAfter | RenewToken | Fail


def _endpoint_of(path: str) -> str:
    """A path with ids replaced by ``{id}``, for stats and messages (``/artists/{id}/albums``)."""
    parts = []
    for segment in path.split("?")[0].strip("/").split("/"):
        is_id = len(segment) == 22 and segment.isascii() and segment.isalnum()
        parts.append("{id}" if is_id else segment)
    return "/" + "/".join(parts)


class SpotifyClient:
    """GET requests to the Web API with tokens, rate limiting, retries and paging."""

    def __init__(
        self,
        api_url: str,
        *,
        app_token: TokenSource | None = None,
        user_token: TokenSource | None = None,
        rate_budget: int = 120,
        rate_window: float = 30.0,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_request: Callable[[str, int], None] | None = None,
        seed: int | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.session = session or requests.Session()
        self.app_token = app_token
        self.user_token = user_token
        self.retry = retry or RetryPolicy()
        # A limiter given as an argument (shared across processes) replaces the per-process one.
        self.limiter: RateLimiter = limiter or RollingWindowLimiter(
            rate_budget, rate_window, sleep=sleep
        )
        self.stats = ClientStats()
        self._sleep = sleep
        self._random = random.Random(seed)  # noqa: S311 - jitter, not cryptography
        self._on_request = on_request
        self._stats_lock = threading.Lock()

    # ------------------------------------------------------------------ core request

    def _token_source(self, auth: AuthKind) -> TokenSource:
        source = self.user_token if auth == "user" else (self.app_token or self.user_token)
        if source is None:
            raise SpotifyAuthError(
                "No user credentials: run `spotify-elt auth login` first."
                if auth == "user"
                else "No app credentials (client id and secret) are configured."
            )
        return source

    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            # Only follow `next` links that stay on the API we were configured with.
            if not path_or_url.startswith(self.api_url + "/"):
                raise SpotifyError(f"Refusing to follow a link off the API: {path_or_url}")
            return path_or_url
        return f"{self.api_url}/{path_or_url.lstrip('/')}"

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.retry.backoff_max, self.retry.backoff_base * (2**attempt))
        return self._random.uniform(ceiling / 2, ceiling)  # "equal jitter"

    def get(
        self, path: str, params: Mapping[str, Any] | None = None, *, auth: AuthKind = "app"
    ) -> JSON:
        """GET ``path`` (or an absolute ``next`` URL) and return the JSON object.

        Each attempt (:meth:`_attempt`) says what to do next; this loop does it: return the
        body, renew the token once after a 401, wait out a 429's Retry-After, back off after a
        transient failure, or raise.
        """
        url = self._url(path)
        endpoint = _endpoint_of(urlsplit(url).path[len(urlsplit(self.api_url).path) :])
        source = self._token_source(auth)
        failures = 0
        waits = 0
        renewed = False
        while True:
            self.stats.throttle_wait_seconds += self.limiter.acquire()
            token = source.token()
            with self._stats_lock:
                self.stats.requests[endpoint] += 1
            match self._attempt(url, params, endpoint, token, may_renew=not renewed):
                case Done(body):
                    return body
                case Fail(error):
                    raise error
                case RenewToken():
                    # Expired or revoked access token: get a new one and repeat once.
                    renewed = True
                    source.invalidate(token)
                    self._count_retry(endpoint)
                case RetryAfter(seconds):
                    waits += 1
                    self._wait_out_429(endpoint, seconds, waits)
                case Retry(problem):
                    failures += 1
                    self._back_off(endpoint, problem, failures)

    def _attempt(
        self,
        url: str,
        params: Mapping[str, Any] | None,
        endpoint: str,
        token: str,
        *,
        may_renew: bool,
    ) -> Outcome:
        """One GET request, and what its answer means for the next step."""
        try:
            response = self.session.get(
                url,
                params=dict(params) if params else None,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                timeout=self.retry.timeout,
            )
        except (requests.Timeout, requests.ConnectionError) as exc:
            return Retry(type(exc).__name__)
        status = response.status_code
        if self._on_request is not None:
            self._on_request(endpoint, status)
        if status == 200:
            try:
                body = response.json()
            except ValueError:
                return Retry("an invalid or truncated JSON body")
            return (
                Done(body) if isinstance(body, dict) else Retry("a JSON body that is not an object")
            )
        if status == 401 and may_renew:
            return RenewToken()
        if status == 429:
            return RetryAfter(_retry_after(response))
        if status >= 500:
            return Retry(f"HTTP {status}")
        message, reason = _error_message(response)
        return Fail(SpotifyHTTPError(endpoint, status, message, reason))

    def _count_retry(self, endpoint: str) -> None:
        with self._stats_lock:
            self.stats.retries[endpoint] += 1

    def _wait_out_429(self, endpoint: str, retry_after: float, waits: int) -> None:
        """Wait a 429's Retry-After (all requests of the limiter wait), or give up."""
        if waits > self.retry.max_rate_limit_waits or retry_after > self.retry.max_retry_after:
            raise SpotifyError(
                f"{endpoint} kept answering 429 Too Many Requests "
                f"(Retry-After {retry_after:.0f} s); try again later."
            )
        log.warning("%s: 429, waiting %.1f s (Retry-After)", endpoint, retry_after)
        self.limiter.penalise(retry_after)
        with self._stats_lock:
            self.stats.rate_limit_waits += 1
            self.stats.rate_limit_wait_seconds += retry_after
            self.stats.retries[endpoint] += 1
        self._sleep(retry_after)

    def _back_off(self, endpoint: str, problem: str, failures: int) -> None:
        """After a transient failure, wait a jittered, growing delay; or give up."""
        if failures > self.retry.max_retries:
            raise SpotifyError(
                f"{endpoint} failed {failures} times in a row, last with {problem}; giving up."
            )
        delay = self._backoff(failures - 1)
        log.warning("%s: %s, retry %d in %.2f s", endpoint, problem, failures, delay)
        self._count_retry(endpoint)
        self._sleep(delay)

    # ------------------------------------------------------------------ paging

    def paginate(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        auth: AuthKind = "app",
        key: str | None = None,
    ) -> Iterator[JSON]:
        """Yield each offset-paged page (``{items, next, total, ...}``), following ``next``.

        ``key`` names the paging object inside the body (search nests pages under ``artists``,
        ``tracks``, ...). Stops on a null ``next``, and also on an empty or short page: with
        ``include_groups`` Spotify has been seen to report a wrong ``next``/``total``.
        """
        next_url: str | None = path
        next_params: Mapping[str, Any] | None = params
        while next_url:
            body = self.get(next_url, next_params, auth=auth)
            page = body.get(key) if key else body
            if not isinstance(page, dict):
                raise SpotifyError(f"{_endpoint_of(path)} returned a page without '{key}'.")
            yield page
            items = page.get("items") or []
            limit = page.get("limit") or len(items)
            next_url = page.get("next")
            next_params = None
            if not items or len(items) < int(limit):
                break


def _retry_after(response: requests.Response) -> float:
    raw = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return 1.0


def _error_message(response: requests.Response) -> tuple[str, str | None]:
    try:
        body = response.json()
    except ValueError:
        return response.reason or f"HTTP {response.status_code}", None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", "")), error.get("reason")
    if isinstance(error, str):
        return body.get("error_description", error), None
    return f"HTTP {response.status_code}", None
