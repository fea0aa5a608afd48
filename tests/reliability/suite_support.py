"""Helpers of the reliability suite's tests (fixtures are in this folder's conftest.py)."""

from __future__ import annotations

import subprocess
import sys

import requests
from reliability_support import Fingerprint, bronze_fingerprint
from stack_support import SpotifyStack


def fingerprint(stack: SpotifyStack) -> Fingerprint:
    return bronze_fingerprint(stack.admin_url, base_url=stack.emulator.base_url)


def relogin(stack: SpotifyStack) -> None:
    """Log the stack's user in again (the headless PKCE flow ``make_stack`` uses)."""
    from spotify_elt.login import login

    login(
        stack.settings,
        stack.vault,
        client_id=str(stack.settings.client_id),
        show_url=lambda url: None,
        open_browser=lambda url: requests.get(url, timeout=10),
    )


def cli(stack: SpotifyStack, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``spotify-elt <args>`` in a subprocess configured like ``stack``."""
    return subprocess.run(
        [sys.executable, "-m", "spotify_elt", *args],
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def error_lines(stderr: str) -> list[str]:
    """The CLI's error sentences (log lines are left out)."""
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


# --------------------------------------------------------------------------- the hostile pipeline

#: The database the whole-pipeline run uses, as the embedded server's ``database_name``.
HOSTILE_DATABASE = "spotify elt; DROP SCHEMA bronze CASCADE; --"
#: The names of the user's three own playlists on the emulator.
HOSTILE_PLAYLISTS = (
    "'); DROP TABLE bronze.playlists; --",
    '<script>alert("x")</script> Robert"); DROP TABLE gold.dim_playlists;--',
    "{{ env_var('SPOTIFY_ELT_DBT_PASSWORD') }} %s %(name)s {0} $1 \\'",
)
#: Search queries and seed artist ids of the configuration (config.toml).
HOSTILE_QUERIES = (
    "'; DROP TABLE bronze.albums; --",
    'love" OR 1=1; SELECT pg_sleep(0) --',
    "%s %(x)s {} \\x00",
)
HOSTILE_SEED_IDS = ("0/../../me", "x' OR '1'='1", "x?market=SE#")
#: Distinctive secret values (the refresh token and access tokens are the emulator's own).
CLIENT_SECRET = "cs-RELIABILITY-5f0c2e9a7b1d4e8f9a0b"
PII_SALT = "salt-RELIABILITY-1c9e4b7d2a5f8e3b6c0d"
#: A row every run must leave where it is.
CANARY = "reliability_canary"


def toml_strings(values: tuple[str, ...]) -> str:
    """A TOML array of strings (literal escapes for quotes and backslashes)."""
    import json

    return "[" + ", ".join(json.dumps(v) for v in values) + "]"
