"""The project's configuration: one home, three layers.

Precedence, highest first:

1. environment variables ``SPOTIFY_ELT_<FIELD>`` (``SPOTIFY_ELT_DATABASE_URL``, ...);
2. the TOML file ``config.toml`` in the per-user config directory
   (``SPOTIFY_ELT_CONFIG_FILE`` points elsewhere);
3. the defaults declared on :class:`Settings`.

The directories themselves (``SPOTIFY_ELT_CONFIG_DIR``, ``SPOTIFY_ELT_DATA_DIR``,
``SPOTIFY_ELT_STATE_DIR``) can only be moved by environment variables, since the config file lives
in one of them. Secrets never live here: the client secret and the refresh token are in the vault
(:mod:`spotify_elt.vault`); only the database URL may carry a password, and it is redacted
whenever the configuration is shown.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from .dsn import Dsn, redact_url
from .errors import ConfigError

APP_NAME = "spotify-elt"
ENV_PREFIX = "SPOTIFY_ELT_"

SPOTIFY_ACCOUNTS_URL = "https://accounts.spotify.com"
SPOTIFY_API_URL = "https://api.spotify.com/v1"
DEFAULT_SCOPES = (
    "user-read-recently-played",
    "user-top-read",
    "user-library-read",
    "playlist-read-private",
    "playlist-read-collaborative",
    "user-follow-read",
)


def _config_dir() -> Path:
    configured = os.environ.get(f"{ENV_PREFIX}CONFIG_DIR")
    return Path(configured or platformdirs.user_config_dir(APP_NAME))


def _data_dir() -> Path:
    return Path(os.environ.get(f"{ENV_PREFIX}DATA_DIR") or platformdirs.user_data_dir(APP_NAME))


def _state_dir() -> Path:
    # The vault key lives here, away from the vault (config dir) and from the embedded
    # PostgreSQL data (data dir), whose parent folders pgserver opens to other users.
    return Path(os.environ.get(f"{ENV_PREFIX}STATE_DIR") or platformdirs.user_state_dir(APP_NAME))


@dataclass(frozen=True)
class Settings:
    """The effective configuration: field names are the config-file keys (env: upper-cased)."""

    # Where things live.
    config_dir: Path = field(default_factory=_config_dir, metadata={"env_only": True})
    data_dir: Path = field(default_factory=_data_dir, metadata={"env_only": True})
    state_dir: Path = field(default_factory=_state_dir, metadata={"env_only": True})
    vault_path: Path | None = field(
        default=None, metadata={"help": "Encrypted vault file (default: <config_dir>/vault.json)."}
    )
    vault_key_file: Path | None = field(
        default=None,
        metadata={"help": "Vault key file, mode 0600 (default: <state_dir>/vault.key)."},
    )

    # Database.
    database_url: str | None = field(
        default=None,
        metadata={
            "secret_url": True,
            "help": "Admin DSN of an existing PostgreSQL server; unset means the embedded server.",
        },
    )
    database_name: str = field(
        default="spotify_elt",
        metadata={"help": "Database created on the embedded server (no quotes or backslashes)."},
    )
    target: str = field(
        default="auto",
        metadata={
            "help": "auto | emulator | spotify: whose data the commands after `run` work on "
            "(auto: the last run's, else spotify with a client id, else the emulator).",
            "choices": ("auto", "emulator", "spotify"),
        },
    )

    # Spotify.
    accounts_url: str = field(
        default=SPOTIFY_ACCOUNTS_URL, metadata={"help": "Base URL of the accounts service."}
    )
    api_url: str = field(default=SPOTIFY_API_URL, metadata={"help": "Base URL of the Web API."})
    client_id: str | None = field(
        default=None, metadata={"help": "Spotify app client id (the secret is in the vault)."}
    )
    redirect_uri: str = field(
        default="http://127.0.0.1:8888/callback",
        metadata={"help": "Redirect URI registered for the app (a loopback IP literal)."},
    )
    scopes: tuple[str, ...] = field(
        default=DEFAULT_SCOPES, metadata={"help": "OAuth scopes asked for at login."}
    )

    # Extraction.
    api_mode: str = field(
        default="auto",
        metadata={
            "help": "auto | development | extended: batch catalog endpoints need extended quota "
            "(auto tries them and falls back on a 403).",
            "choices": ("auto", "development", "extended"),
        },
    )
    rate_budget: int = field(
        default=90, metadata={"help": "Most requests the extractor sends in any rate window."}
    )
    rate_window_seconds: float = field(
        default=30.0, metadata={"help": "The rolling window Spotify counts requests over."}
    )
    max_retries: int = field(
        default=5, metadata={"help": "Retries of a request after a 5xx, timeout or bad body."}
    )
    backoff_seconds: float = field(
        default=0.5, metadata={"help": "First backoff delay; it doubles per retry (with jitter)."}
    )
    catalog_refresh_days: float = field(
        default=30.0,
        metadata={"help": "Catalog objects older than this in bronze are fetched again."},
    )
    missing_retry_days: float = field(
        default=7.0,
        metadata={
            "help": "Catalog ids the API answered as unknown (404) are asked again only after "
            "this many days (remembered in bronze.catalog_missing)."
        },
    )
    seed_artist_ids: tuple[str, ...] = field(
        default=(), metadata={"help": "Artist ids whose albums are loaded into the catalog."}
    )
    search_queries: tuple[str, ...] = field(
        default=(), metadata={"help": "Search queries whose results are loaded into the catalog."}
    )
    search_pages: int = field(
        default=1, metadata={"help": "Pages (10 items each) read per search query."}
    )
    time_ranges: tuple[str, ...] = field(
        default=("short_term", "medium_term", "long_term"),
        metadata={"help": "Top-list time ranges snapshotted on each run."},
    )

    # History import (`spotify-elt import-history`).
    history_pii: str = field(
        default="drop",
        metadata={
            "help": "drop | hash: IP addresses, user agents and the username of a privacy "
            "export are dropped, or kept as a salted hash (the salt lives in the vault).",
            "choices": ("drop", "hash"),
        },
    )

    # Application.
    log_level: str = field(default="INFO", metadata={"help": "Python logging level."})

    @property
    def config_file(self) -> Path:
        return config_file_path(self.config_dir)

    @property
    def effective_vault_path(self) -> Path:
        return self.vault_path or self.config_dir / "vault.json"

    @property
    def effective_vault_key_file(self) -> Path:
        return self.vault_key_file or self.state_dir / "vault.key"

    @property
    def embedded_pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def redacted(self) -> dict[str, Any]:
        """Every field with its effective value, secrets redacted, ready to print."""
        shown: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("secret_url") and value:
                value = redact_url(value)
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            shown[f.name] = value
        shown["vault_path"] = str(self.effective_vault_path)
        shown["vault_key_file"] = str(self.effective_vault_key_file)
        return shown


# dbt's PostgreSQL macros write the database name into SQL literals and quoted identifiers
# without escaping it: a quote in the name would end them (and could inject SQL).
_UNSAFE_DATABASE_NAME = re.compile(r"[\"'\\\x00-\x1f]")


def unsafe_database_name(name: str) -> str | None:
    """Why ``name`` cannot be this project's database, or None when it can."""
    if not name.strip():
        return "The database name is empty."
    if _UNSAFE_DATABASE_NAME.search(name):
        return (
            f"The database name {name!r} holds a quote, a backslash or a control character, "
            "which dbt writes into SQL unescaped; use letters, digits, spaces, _ or -."
        )
    return None


def config_file_path(config_dir: Path | None = None) -> Path:
    explicit = os.environ.get(f"{ENV_PREFIX}CONFIG_FILE")
    if explicit:
        return Path(explicit)
    return (config_dir or _config_dir()) / "config.toml"


def _coerce(name: str, annotation: Any, raw: Any, origin: str) -> Any:
    """Turn a raw value (string from the environment, or a TOML value) into the field's type."""
    hint = annotation
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if raw is None or (isinstance(raw, str) and raw == ""):
            return None
        hint = non_none[0]
    try:
        if hint is Path:
            if not isinstance(raw, str):
                raise TypeError
            return Path(raw).expanduser()
        if hint is bool:
            if isinstance(raw, bool):
                return raw
            lowered = str(raw).strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError
        if hint is int:
            if isinstance(raw, bool | float):  # int() would drop a fraction silently
                raise TypeError
            return int(raw)
        if hint is float:
            if isinstance(raw, bool):
                raise TypeError
            return float(raw)
        if typing.get_origin(hint) is tuple:
            if not isinstance(raw, str | list):  # a TOML table or number is no list
                raise TypeError
            items = raw.split(",") if isinstance(raw, str) else raw
            return tuple(str(i).strip() for i in items if str(i).strip())
        if hint is str:
            if not isinstance(raw, str):
                raise TypeError
            return raw
    except (TypeError, ValueError):
        pass
    else:
        raise AssertionError(f"unsupported settings type for {name}: {hint!r}")
    raise ConfigError(f"{origin}: {name} must be {_describe(hint)}, got {raw!r}.")


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) is tuple:
        return "a list of strings (comma-separated in an environment variable)"
    return {
        Path: "a path",
        bool: "true or false",
        int: "a whole number",
        float: "a number",
        str: "a string",
    }.get(hint, str(hint))


def _read_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The config file {path} is not valid TOML ({exc}).") from None
    except UnicodeDecodeError:
        raise ConfigError(f"The config file {path} is not UTF-8 text; save it as UTF-8.") from None
    except OSError as exc:
        raise ConfigError(f"The config file {path} cannot be read ({exc.strerror}).") from None
    return data


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the effective :class:`Settings` from defaults, the config file and the environment."""
    env = os.environ if environ is None else environ
    hints = typing.get_type_hints(Settings)
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    values: dict[str, Any] = {}

    config_dir = overrides.get("config_dir") or Settings().config_dir
    path = config_file_path(Path(config_dir))
    file_values = _read_file(path)
    for key, raw in file_values.items():
        if key not in fields:
            known = ", ".join(
                sorted(n for n, f in fields.items() if not f.metadata.get("env_only"))
            )
            raise ConfigError(f"The config file {path} has an unknown key {key!r}; known: {known}.")
        if fields[key].metadata.get("env_only"):
            raise ConfigError(
                f"The config file {path} cannot set {key!r}; use {ENV_PREFIX}{key.upper()}."
            )
        values[key] = _coerce(key, hints[key], raw, f"The config file {path}")

    for name in fields:
        env_name = f"{ENV_PREFIX}{name.upper()}"
        if env_name in env:
            values[name] = _coerce(name, hints[name], env[env_name], f"The variable {env_name}")

    values.update(overrides)
    for name, value in values.items():
        choices = fields[name].metadata.get("choices")
        if choices and value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}.")
        if hints[name] in (int, float) and value < 0:
            raise ConfigError(f"{name} must not be negative, got {value!r}.")
    _validate(values)
    return Settings(**values)


#: The smallest accepted value of numeric fields (when not 0) and the largest.
_NUMBER_RANGES: dict[str, tuple[float, float]] = {
    "rate_budget": (1, 1_000_000),
    "rate_window_seconds": (0.001, 86_400),
    "max_retries": (0, 100),
    "backoff_seconds": (0, 3_600),
    "catalog_refresh_days": (0, 36_500),
    "missing_retry_days": (0, 36_500),
    "search_pages": (1, 100),
}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_TIME_RANGES = ("short_term", "medium_term", "long_term")
_SPOTIFY_ID = re.compile(r"[0-9A-Za-z]{22}")


#: Query parameters of a DSN that libpq reads as whole numbers.
def _validate(values: Mapping[str, Any]) -> None:
    """Refuse values that are well typed but unusable, with one sentence naming the key."""
    for name, (low, high) in _NUMBER_RANGES.items():
        value = values.get(name)
        if value is None:
            continue
        if not math.isfinite(value) or not low <= value <= high:
            raise ConfigError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}.")
    level = values.get("log_level")
    if level is not None and str(level).upper() not in _LOG_LEVELS:
        raise ConfigError(
            f"log_level must be one of {', '.join(_LOG_LEVELS)} (any case), got {level!r}."
        )
    for time_range in values.get("time_ranges") or ():
        if time_range not in _TIME_RANGES:
            raise ConfigError(
                f"time_ranges holds {time_range!r}; Spotify's are {', '.join(_TIME_RANGES)}."
            )
    for artist in values.get("seed_artist_ids") or ():
        if not _SPOTIFY_ID.fullmatch(artist):
            raise ConfigError(
                f"seed_artist_ids holds {artist!r}, which is not a Spotify id (22 letters and "
                "digits, as in open.spotify.com/artist/<id>)."
            )
    database = values.get("database_name", "spotify_elt")
    problem = unsafe_database_name(database)
    if problem:
        raise ConfigError(problem)
    if len(database.encode()) > 63:
        raise ConfigError(f"database_name must be at most 63 bytes long, got {database!r}.")
    if values.get("database_url"):
        Dsn.parse(values["database_url"])  # refuses what libpq would not read


def settings_help() -> list[tuple[str, str, str]]:
    """(key, environment variable, help) for every configurable field, for docs and ``--help``."""
    return [
        (f.name, f"{ENV_PREFIX}{f.name.upper()}", str(f.metadata.get("help", "")))
        for f in dataclasses.fields(Settings)
    ]
