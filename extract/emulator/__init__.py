"""A local Spotify Web API + accounts emulator, written from the 2026 contract.

The emulator serves what a Spotify app may call in 2026 (``spec/spotify/openapi.yml`` is the
contract) from a deterministic, seeded catalog generated on demand, so the extractor can be
developed and tested offline, repeatably, against every failure mode the real service has.
It imports nothing from ``spotify_elt`` or the rest of ``extract``: it is derived from the
contract, not from the client it tests.

Public API::

    from extract.emulator import EmulatorConfig, EmulatorServer, create_app

    with EmulatorServer(EmulatorConfig(seed=1, scale=50_000)) as emu:
        emu.accounts_url   # http://127.0.0.1:PORT  (POST /api/token, GET /authorize)
        emu.api_url        # http://127.0.0.1:PORT/v1
        emu.advance_clock(3600); emu.revoke_tokens(); emu.stats()

Services on one port:

* ``GET /authorize`` consents at once for the configured user and redirects with ``code`` and
  ``state``; ``POST /api/token`` handles ``client_credentials``, ``authorization_code`` (PKCE
  S256 or client secret) and ``refresh_token`` (rotation configurable).
* ``GET /v1/...``: search, artists, albums, tracks, playlists and the ``/me`` endpoints. In
  ``development`` mode the operations Spotify removed in 2026 answer 403 and every property the
  contract marks deprecated is absent; ``extended`` mode serves both. Audio analysis,
  recommendations and browse categories/featured playlists answer 403 in both modes (Spotify
  withdrew them from all new apps in November 2024).

Admin endpoints (not part of the Spotify contract; no auth; never rate-limited or faulted):

* ``GET  /_emulator/health``            ``{"ok": true}``
* ``GET  /_emulator/clock``             ``{"now": ISO-8601, "now_ms": int}``
* ``POST /_emulator/clock``             body ``{"advance_seconds": N}`` or ``{"set": ISO-8601}``
* ``POST /_emulator/tokens/revoke``     body ``{"refresh_tokens": bool}`` (optional)
* ``GET  /_emulator/stats``             per-endpoint counts by status, events, active tokens
* ``POST /_emulator/stats/reset``       forget the counts
* ``POST /_emulator/rate-limit/reset``  empty the rolling window
* ``GET  /_emulator/config``            the running configuration (without the secret)
* ``GET  /_emulator/plays``             ground-truth plays in ``(start_ms, end_ms]``

Default credentials (development values, not secrets): client id ``emulator-client-id``, client
secret ``emulator-secret`` (override with ``SPOTIFY_ELT_EMULATOR_CLIENT_SECRET``), redirect URIs
``http://127.0.0.1:8888/callback`` and ``http://127.0.0.1/callback`` (any port).
"""

from __future__ import annotations

from .app import EmulatorState, create_app
from .clock import Clock
from .config import (
    ALL_SCOPES,
    CLIENT_SECRET_ENV,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REDIRECT_URIS,
    PROJECT_SCOPES,
    EmulatorConfig,
)
from .ids import IdCodec, Kind
from .server import EmulatorServer

__all__ = [
    "ALL_SCOPES",
    "CLIENT_SECRET_ENV",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_REDIRECT_URIS",
    "PROJECT_SCOPES",
    "Clock",
    "EmulatorConfig",
    "EmulatorServer",
    "EmulatorState",
    "IdCodec",
    "Kind",
    "create_app",
]
