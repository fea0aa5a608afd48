"""The ASGI application: accounts service, Web API under ``/v1`` and admin under ``/_emulator``.

Why one app on one port: the extractor only needs two base URLs (``{base}`` for accounts,
``{base}/v1`` for the API); a single uvicorn server keeps start-up fast and shutdown clean.

Every Web API request goes through :func:`_serve` in this order, mirroring the real service:
fault plan drawn (and the revoke-after counter) → rolling-window rate limit (429) → injected
latency → injected 5xx → bearer token (400/401) → mode (403 for removed operations) → user token
and scopes (403 ``Insufficient client scope``) → market → handler → optional truncation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections import Counter
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from .accounts import Accounts, AuthorizeError, BearerError, TokenError
from .api import ROUTES, ApiError, Ctx, Route
from .catalog import Catalog, Owner
from .clock import Clock
from .config import EmulatorConfig
from .faults import FaultInjector
from .library import Library
from .ratelimit import RollingWindowLimiter
from .serialize import Serializer, iso_millis

JSON_TYPE = "application/json; charset=utf-8"
_FAULT_MESSAGES = {500: "Server error", 502: "Bad gateway", 503: "Service unavailable"}


def dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Stats:
    """Per-endpoint request counts by status (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, Counter[int]] = {}
        self._events: Counter[str] = Counter()

    def record(self, endpoint: str, status: int) -> None:
        with self._lock:
            self._counts.setdefault(endpoint, Counter())[status] += 1

    def event(self, name: str) -> None:
        with self._lock:
            self._events[name] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            endpoints: dict[str, dict[str, Any]] = {
                key: {
                    "count": sum(c.values()),
                    "statuses": {str(s): n for s, n in sorted(c.items())},
                }
                for key, c in sorted(self._counts.items())
            }
            events = dict(self._events)
        api_total = sum(int(v["count"]) for k, v in endpoints.items() if " /v1/" in k)
        return {"endpoints": endpoints, "events": events, "api_requests": api_total}

    def count(self, endpoint: str) -> int:
        with self._lock:
            return sum(self._counts.get(endpoint, Counter()).values())

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._events.clear()


class EmulatorState:
    """All mutable state of one emulator, shared by the app and the Python handle."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.clock = Clock(config.clock_start, realtime=config.realtime_clock)
        user = Owner(config.user_id, config.user_display_name)
        self.catalog = Catalog(
            seed=config.seed,
            scale=config.scale,
            user=user,
            owned_playlists=config.owned_playlists,
            collaborative_playlists=config.collaborative_playlists,
            epoch=config.clock_start,
            null_item_rate=config.null_item_rate,
            local_file_rate=config.local_file_rate,
            episode_rate=config.episode_rate,
            playlist_names=config.playlist_names,
        )
        self.library = Library(
            self.catalog,
            seed=config.seed,
            epoch=config.clock_start,
            saved_tracks=config.saved_tracks,
            saved_albums=config.saved_albums,
            followed_artists=config.followed_artists,
            followed_playlists=config.followed_playlists,
            plays_per_hour=config.plays_per_hour,
            listening_hours=config.listening_hours,
        )
        self.accounts = Accounts(config, self.clock)
        self.limiter = RollingWindowLimiter(
            config.rate_budget, config.rate_window, self.clock.monotonic
        )
        self.faults = FaultInjector(
            seed=config.effective_fault_seed,
            fault_rate=config.fault_rate,
            fault_statuses=config.fault_statuses,
            latency_ms=config.latency_ms,
            latency_jitter_ms=config.latency_jitter_ms,
            truncate_rate=config.truncate_rate,
            revoke_after_requests=config.revoke_after_requests,
            revoke_access_after_requests=config.revoke_access_after_requests,
        )
        self.stats = Stats()

    def api_base(self, request: Request) -> str:
        if self.config.public_url:
            return self.config.public_url.rstrip("/") + "/v1"
        return str(request.base_url).rstrip("/") + "/v1"


def _error(status: int, message: str, **kwargs: Any) -> ApiError:
    return ApiError(status, message, **kwargs)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(body), status_code=status, media_type=JSON_TYPE, headers=headers)


def _market(request: Request, state: EmulatorState, user_token: bool) -> str | None:
    market = request.query_params.get("market")
    if market is None or market == "":
        return None
    if market == "from_token":
        if not user_token:
            raise ApiError(403, "Insufficient client scope")
        return state.config.user_country
    if len(market) != 2 or not market.isalpha() or not market.isupper():
        raise ApiError(400, "Invalid market code")
    return market


async def _serve(state: EmulatorState, route: Route, request: Request) -> Response:
    key = f"GET /v1{route.path}"
    plan = state.faults.next_plan()
    if plan.revoke_tokens:
        state.accounts.revoke_all()
        state.stats.event("tokens_revoked")
    if plan.revoke_access:
        state.accounts.revoke_all(refresh_tokens=True)
        state.stats.event("access_revoked")
    status = 200
    try:
        retry_after = state.limiter.try_acquire()
        if retry_after is not None:
            state.stats.event("rate_limited")
            raise _error(
                429,
                "Too many requests",
                reason="QUOTA_EXCEEDED",
                headers={"Retry-After": str(retry_after)},
            )
        if plan.delay_seconds > 0:
            await asyncio.sleep(plan.delay_seconds)
        if plan.status is not None:
            state.stats.event("faults_injected")
            raise _error(plan.status, _FAULT_MESSAGES.get(plan.status, "Server error"))
        try:
            token = state.accounts.authenticate(request.headers.get("authorization"))
        except BearerError as exc:
            raise _error(exc.status, exc.message) from None
        mode = state.config.mode
        if route.removed_everywhere or (route.removed_in_development and mode == "development"):
            raise _error(403, "Forbidden")
        is_user = token.user_id is not None
        if route.needs_user and not is_user:
            raise _error(403, "Insufficient client scope")
        if route.scopes_any and not set(route.scopes_any) & token.scopes:
            raise _error(403, "Insufficient client scope")
        serializer = Serializer(
            state.catalog,
            state.config,
            state.api_base(request),
            market=_market(request, state, is_user),
            scopes=token.scopes,
        )
        ctx = Ctx(
            query=request.query_params,
            path=dict(request.path_params),
            token=token,
            ser=serializer,
            catalog=state.catalog,
            library=state.library,
            clock=state.clock,
            config=state.config,
        )
        body = dumps(route.handler(ctx))
    except ApiError as exc:
        status = exc.status
        state.stats.record(key, status)
        return _json(exc.body(), status, exc.headers)
    state.stats.record(key, status)
    if plan.truncate_fraction is not None:
        state.stats.event("truncated")
        body = body[: max(1, int(len(body) * plan.truncate_fraction))]
    return Response(body, status_code=200, media_type=JSON_TYPE)


def _endpoint(state: EmulatorState, route: Route) -> Any:
    async def endpoint(request: Request) -> Response:
        return await _serve(state, route, request)

    endpoint.__name__ = f"api_{route.handler.__name__}"
    return endpoint


def _add_accounts_routes(app: FastAPI, state: EmulatorState) -> None:
    async def authorize(request: Request) -> Response:
        params = dict(request.query_params)
        try:
            target = state.accounts.authorize(params)
        except AuthorizeError as exc:
            state.stats.record("GET /authorize", 400)
            page = f"<!doctype html><title>Error</title><h1>{exc.message}</h1>"
            return HTMLResponse(page, status_code=400)
        state.stats.record("GET /authorize", 302)
        return RedirectResponse(target, status_code=302)

    async def token(request: Request) -> Response:
        raw = (await request.body()).decode("utf-8", errors="replace")
        content_type = request.headers.get("content-type", "")
        try:
            if raw and not content_type.startswith("application/x-www-form-urlencoded"):
                raise TokenError("invalid_request", "Unsupported content type")
            form = dict(parse_qsl(raw, keep_blank_values=True))
            answer = state.accounts.token(form, request.headers.get("authorization"))
        except TokenError as exc:
            state.stats.record("POST /api/token", exc.status)
            headers = {"WWW-Authenticate": 'Basic realm="emulator"'} if exc.status == 401 else None
            body = {"error": exc.error, "error_description": exc.description}
            return _json(body, exc.status, headers)
        state.stats.record("POST /api/token", 200)
        return _json(answer, 200, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    app.add_api_route("/authorize", authorize, methods=["GET"], include_in_schema=False)
    app.add_api_route("/api/token", token, methods=["POST"], include_in_schema=False)


def _add_admin_routes(app: FastAPI, state: EmulatorState) -> None:
    def clock_body() -> dict[str, Any]:
        ms = state.clock.now_ms()
        return {"now": iso_millis(ms), "now_ms": ms}

    async def get_clock(request: Request) -> Response:
        return _json(clock_body())

    async def post_clock(request: Request) -> Response:
        try:
            payload = json.loads(await request.body() or b"{}")
            if "advance_seconds" in payload:
                state.clock.advance(float(payload["advance_seconds"]))
            elif "set" in payload:
                state.clock.set(datetime.fromisoformat(str(payload["set"]).replace("Z", "+00:00")))
            else:
                raise ValueError("give advance_seconds or set")
        except (ValueError, TypeError, AttributeError) as exc:
            return _json({"error": {"status": 400, "message": str(exc)}}, 400)
        return _json(clock_body())

    async def revoke(request: Request) -> Response:
        payload = json.loads(await request.body() or b"{}")
        count = state.accounts.revoke_all(refresh_tokens=bool(payload.get("refresh_tokens")))
        return _json({"revoked": count})

    async def stats(request: Request) -> Response:
        body = state.stats.snapshot()
        body["rate_window_in_use"] = state.limiter.in_window()
        body["rate_window_peak"] = state.limiter.peak_in_window()
        body["active_tokens"] = state.accounts.active_tokens()
        return _json(body)

    async def reset_stats(request: Request) -> Response:
        state.stats.reset()
        return _json({"reset": True})

    async def reset_rate_limit(request: Request) -> Response:
        state.limiter.reset()
        return _json({"reset": True})

    async def config(request: Request) -> Response:
        body = {
            k: (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in dataclasses.asdict(state.config).items()
            if k != "client_secret"
        }
        return _json(body)

    async def plays(request: Request) -> Response:
        try:
            start = int(request.query_params.get("start_ms", "0"))
            end = int(request.query_params.get("end_ms", str(state.clock.now_ms())))
        except ValueError:
            return _json({"error": {"status": 400, "message": "start_ms/end_ms"}}, 400)
        if end - start > 31 * 86_400_000:
            return _json({"error": {"status": 400, "message": "at most 31 days"}}, 400)
        found = state.library.plays_between(start, end)
        items = [
            {
                "played_at": iso_millis(p.played_at_ms),
                "played_at_ms": p.played_at_ms,
                "track_id": state.catalog.track(p.track).id,
            }
            for p in found
        ]
        return _json({"items": items})

    async def health(request: Request) -> Response:
        return _json({"ok": True})

    routes: list[tuple[str, Any, str]] = [
        ("/_emulator/health", health, "GET"),
        ("/_emulator/clock", get_clock, "GET"),
        ("/_emulator/clock", post_clock, "POST"),
        ("/_emulator/tokens/revoke", revoke, "POST"),
        ("/_emulator/stats", stats, "GET"),
        ("/_emulator/stats/reset", reset_stats, "POST"),
        ("/_emulator/rate-limit/reset", reset_rate_limit, "POST"),
        ("/_emulator/config", config, "GET"),
        ("/_emulator/plays", plays, "GET"),
    ]
    for path, handler, method in routes:
        app.add_api_route(path, handler, methods=[method], include_in_schema=False)


def create_app(config: EmulatorConfig | None = None, state: EmulatorState | None = None) -> FastAPI:
    """Build the emulator's ASGI app for ``config`` (or around an existing ``state``)."""
    if state is None:
        state = EmulatorState(config or EmulatorConfig())
    app = FastAPI(title="spotify-elt emulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.emulator = state
    _add_accounts_routes(app, state)
    _add_admin_routes(app, state)
    for route in ROUTES:
        app.add_api_route(
            f"/v1{route.path}", _endpoint(state, route), methods=["GET"], include_in_schema=False
        )

    async def unknown(request: Request) -> Response:
        state.stats.record(f"{request.method} /v1/*", 404)
        return _json({"error": {"status": 404, "message": "Service not found"}}, 404)

    app.add_api_route(
        "/v1/{rest:path}",
        unknown,
        methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
        include_in_schema=False,
    )
    return app
