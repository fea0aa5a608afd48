"""The embedded default's Spotify: the project's emulator, run as a child process.

On a fresh machine nobody has a Spotify app yet, so ``spotify-elt run`` serves the Web API from
the local emulator (``spotify-elt emulator serve``) with a live clock starting now, logs in to it
headlessly (it consents at once) and extracts from it exactly as from Spotify. Application code
never imports the emulator: it starts the same CLI command a user would.

The demo keeps its data apart from a real account's: its own database on the embedded server,
its own dlt pipeline, and its own vault entries (prefix ``emulator.``). The emulator's client
secret is generated once and kept in the vault, like a real one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from .config import Settings
from .errors import UserError
from .extraction import Credentials, credentials_from_vault, secret_names
from .login import login
from .target import EMULATOR, settings_for
from .vault import Vault

log = logging.getLogger(__name__)

PREFIX = "emulator."
CLIENT_ID = "spotify-elt-demo"
PIPELINE = "spotify_elt_bronze_demo"
SEED = 42
# The first run imports a generated privacy export of this many days of the emulator's history
# (its tracks are then enriched through the catalog step, one request each in Development Mode).
HISTORY_DAYS = 14


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclasses.dataclass(frozen=True)
class EmulatorProcess:
    """A running ``spotify-elt emulator serve``: its process and its base URL."""

    process: subprocess.Popen[Any]
    base_url: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _client_secret(vault: Vault) -> str:
    """The emulator's client secret, generated once into the vault."""
    secret_name, _ = secret_names(PREFIX)
    secret = vault.get(secret_name)
    if not secret:
        secret = secrets.token_urlsafe(32)
        vault.set(secret_name, secret)
    return secret


def start_emulator(
    vault: Vault, *, seed: int = SEED, log_file: Path | None = None, timeout: float = 30
) -> EmulatorProcess:
    """Start ``spotify-elt emulator serve`` on a free port with a live clock; wait until it answers.

    Without ``log_file`` the emulator is a child of this process (its output discarded but the
    last error line, which a failed start reports). With ``log_file`` it runs in its own session
    (it outlives this process, as ``airflow up`` needs), its output appended to the file.
    """
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, SPOTIFY_ELT_EMULATOR_CLIENT_SECRET=_client_secret(vault))
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    command = [
        sys.executable, "-m", "spotify_elt", "emulator", "serve",
        "--port", str(port), "--seed", str(seed), "--client-id", CLIENT_ID,
        "--redirect-uri", "http://127.0.0.1/callback",
        "--clock-start", now, "--realtime-clock",
    ]  # fmt: skip
    proc: subprocess.Popen[Any]
    if log_file is None:
        proc = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
    else:
        with log_file.open("ab") as out:
            proc = subprocess.Popen(
                command, env=env, stdout=out, stderr=out, start_new_session=True
            )
    emulator = EmulatorProcess(proc, base)
    try:
        _wait_healthy(emulator, timeout, log_file)
    except BaseException:
        emulator.stop()
        raise
    return emulator


def _wait_healthy(emulator: EmulatorProcess, timeout: float, log_file: Path | None) -> None:
    proc = emulator.process
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            if log_file is None:
                output = proc.stderr.read() if proc.stderr else ""
            else:
                output = log_file.read_text(errors="replace")
            err = output.strip().splitlines()
            raise UserError(
                f"The local Spotify emulator did not start: {err[-1] if err else 'no output'}."
            )
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{emulator.base_url}/_emulator/health", timeout=1).ok:
                return
        if time.monotonic() > deadline:
            raise UserError(f"The local Spotify emulator did not answer within {timeout:.0f} s.")
        time.sleep(0.1)


@contextlib.contextmanager
def emulator_process(vault: Vault, *, seed: int = SEED) -> Iterator[str]:
    """Run the emulator (:func:`start_emulator`) for the block; yield its base URL."""
    emulator = start_emulator(vault, seed=seed)
    try:
        yield emulator.base_url
    finally:
        emulator.stop()


def demo_settings(settings: Settings, base_url: str) -> Settings:
    """The configuration pointed at the emulator, with the demo's own database."""
    return dataclasses.replace(
        settings_for(settings, EMULATOR),
        accounts_url=base_url,
        api_url=f"{base_url}/v1",
        client_id=CLIENT_ID,
        redirect_uri=f"http://127.0.0.1:{_free_port()}/callback",
        rate_budget=max(settings.rate_budget, 1000),
    )


def demo_credentials(settings: Settings, vault: Vault) -> Credentials:
    """Log in to the emulator (it consents at once) and return the demo's credentials."""
    login(
        settings,
        vault,
        client_id=CLIENT_ID,
        show_url=lambda url: None,
        open_browser=lambda url: requests.get(url, timeout=30),
        prefix=PREFIX,
    )
    return credentials_from_vault(settings, vault, client_id=CLIENT_ID, prefix=PREFIX)
