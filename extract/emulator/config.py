"""Settings of one emulator instance, with the documented development defaults.

Every knob the emulator has lives in :class:`EmulatorConfig` so that a test, the CLI and the
extractor's own test suite describe a run with one value that can be printed, compared and copied.
The defaults are safe, fixed development values: the client secret in particular is *not* a
secret (it only ever unlocks this local emulator) and can be overridden from the environment
variable named by :data:`CLIENT_SECRET_ENV`, never from the command line.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

Mode = Literal["development", "extended"]

#: Client id the emulator accepts unless configured otherwise.
DEFAULT_CLIENT_ID = "emulator-client-id"
#: Client secret the emulator accepts unless configured otherwise (a fixed, public dev value).
DEFAULT_CLIENT_SECRET = "emulator-secret"  # noqa: S105 - documented development value
#: Environment variable the CLI (``emulator serve``) reads the client secret from.
CLIENT_SECRET_ENV = "SPOTIFY_ELT_EMULATOR_CLIENT_SECRET"  # noqa: S105 - a variable name
#: Registered redirect URIs. The port-less loopback URI matches any port (RFC 8252 section 7.3),
#: which is what a CLI that opens a callback listener on a free port needs.
DEFAULT_REDIRECT_URIS: tuple[str, ...] = (
    "http://127.0.0.1:8888/callback",
    "http://127.0.0.1/callback",
)
#: The scopes the project asks for; the emulator grants any subset of ALL_SCOPES.
PROJECT_SCOPES: tuple[str, ...] = (
    "user-read-recently-played",
    "user-top-read",
    "user-library-read",
    "playlist-read-private",
    "playlist-read-collaborative",
    "user-follow-read",
)
#: Every scope the contract defines (the default set a user may grant).
ALL_SCOPES: tuple[str, ...] = (
    "app-remote-control",
    "playlist-read-private",
    "playlist-read-collaborative",
    "playlist-modify-public",
    "playlist-modify-private",
    "user-library-read",
    "user-library-modify",
    "user-read-private",
    "user-read-email",
    "user-follow-read",
    "user-follow-modify",
    "user-top-read",
    "user-read-playback-position",
    "user-read-playback-state",
    "user-read-recently-played",
    "user-read-currently-playing",
    "user-modify-playback-state",
    "ugc-image-upload",
    "streaming",
)
DEFAULT_USER_ID = "emulator-user"
DEFAULT_USER_DISPLAY_NAME = "Emulator Listener"
#: The emulator's clock starts here unless told otherwise: a fixed instant keeps runs repeatable.
DEFAULT_CLOCK_START = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
DEFAULT_FAULT_STATUSES: tuple[int, ...] = (500, 502, 503)


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything that shapes one emulator run.

    Catalog and listening data depend only on ``seed``, ``scale`` and the library sizes, so two
    instances with equal settings serve byte-identical catalog answers. Fault injection is
    reproducible too: it draws from its own generator seeded with ``fault_seed`` (``seed`` when
    unset), one fixed set of draws per Web API request in arrival order.
    """

    # Catalog.
    seed: int = 0
    scale: int = 20_000
    """Approximate number of tracks in the catalog (artists and albums follow from it)."""
    mode: Mode = "development"
    """``development`` serves the 2026 Development Mode surface; ``extended`` the full one."""

    # Client registration.
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    redirect_uris: tuple[str, ...] = DEFAULT_REDIRECT_URIS

    # The one user who consents at /authorize.
    user_id: str = DEFAULT_USER_ID
    user_display_name: str = DEFAULT_USER_DISPLAY_NAME
    user_country: str = "SE"
    allowed_scopes: tuple[str, ...] = ALL_SCOPES
    """Scopes the user is willing to grant; the granted set is requested ∩ allowed."""

    # Tokens (lifetimes are measured on the emulator clock).
    token_ttl: int = 3600
    code_ttl: int = 600
    rotate_refresh_tokens: bool = False
    """True: every refresh answer carries a new refresh token and the old one dies."""

    # Rate limit: a rolling window over all Web API requests.
    rate_budget: int | None = None
    """Requests allowed per ``rate_window`` seconds; ``None`` disables the limit."""
    rate_window: float = 30.0

    # Fault injection.
    fault_rate: float = 0.0
    fault_statuses: tuple[int, ...] = DEFAULT_FAULT_STATUSES
    latency_ms: int = 0
    latency_jitter_ms: int = 0
    truncate_rate: float = 0.0
    revoke_after_requests: int | None = None
    """Every time this many Web API requests have arrived, all access tokens are revoked."""
    revoke_access_after_requests: int | None = None
    """When this many Web API requests have arrived, the user removes the app's access (once):
    every access and refresh token dies, so refreshing answers ``invalid_grant`` until the user
    logs in again."""
    fault_seed: int | None = None

    playlist_names: tuple[str, ...] = ()
    """Names of the user's own playlists, in order (the rest keep generated names): users name
    playlists freely, quotes, semicolons and all."""

    # Oddities real data has (fractions of playlist entries).
    null_item_rate: float = 0.01
    local_file_rate: float = 0.02
    episode_rate: float = 0.03

    # Library sizes of the user.
    saved_tracks: int = 420
    saved_albums: int = 64
    followed_artists: int = 75
    owned_playlists: int = 6
    collaborative_playlists: int = 2
    followed_playlists: int = 9

    # Listening history.
    plays_per_hour: float = 12.0
    """Average plays in a listening hour (one every ~5 minutes by default)."""
    listening_hours: tuple[int, int] = (7, 23)
    """UTC hours [start, end) during which plays happen."""
    clock_start: datetime = DEFAULT_CLOCK_START
    realtime_clock: bool = False
    """False: the clock only moves when told to (tests). True: it also follows wall time."""

    public_url: str | None = None
    """Base URL put into hrefs; by default the URL the client used to reach the emulator."""

    def __post_init__(self) -> None:
        if self.mode not in ("development", "extended"):
            raise ValueError(f"mode must be 'development' or 'extended', not {self.mode!r}")
        if self.scale < 1:
            raise ValueError("scale must be at least 1")
        for name in ("fault_rate", "truncate_rate", "null_item_rate", "local_file_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], not {value}")
        if self.token_ttl < 1 or self.code_ttl < 1:
            raise ValueError("token_ttl and code_ttl must be at least 1 second")
        if self.rate_budget is not None and self.rate_budget < 1:
            raise ValueError("rate_budget must be at least 1 (or None for no limit)")
        if self.rate_window <= 0:
            raise ValueError("rate_window must be positive")
        if self.revoke_after_requests is not None and self.revoke_after_requests < 1:
            raise ValueError("revoke_after_requests must be at least 1 (or None)")
        if self.revoke_access_after_requests is not None and self.revoke_access_after_requests < 1:
            raise ValueError("revoke_access_after_requests must be at least 1 (or None)")
        if any(s < 500 or s > 599 for s in self.fault_statuses) or not self.fault_statuses:
            raise ValueError("fault_statuses must be non-empty 5xx codes")
        if self.clock_start.tzinfo is None:
            raise ValueError("clock_start must be timezone-aware")
        start, end = self.listening_hours
        if not 0 <= start < end <= 24:
            raise ValueError("listening_hours must satisfy 0 <= start < end <= 24")
        if self.plays_per_hour < 0:
            raise ValueError("plays_per_hour must not be negative")

    def replace(self, **changes: object) -> EmulatorConfig:
        """Return a copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @property
    def effective_fault_seed(self) -> int:
        return self.seed if self.fault_seed is None else self.fault_seed


__all__ = [
    "ALL_SCOPES",
    "CLIENT_SECRET_ENV",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_CLOCK_START",
    "DEFAULT_FAULT_STATUSES",
    "DEFAULT_REDIRECT_URIS",
    "DEFAULT_USER_DISPLAY_NAME",
    "DEFAULT_USER_ID",
    "PROJECT_SCOPES",
    "EmulatorConfig",
    "Mode",
]
