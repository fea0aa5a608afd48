"""``spotify-elt airflow up|status|down``: a local Airflow 3 running the ``spotify_elt`` DAG.

Everything lives in ``<data dir>/airflow`` (AIRFLOW_HOME: SQLite metadata DB, logs, the admin
password file); ``airflow standalone`` runs the API server, scheduler, DAG processor and triggerer
in one process group. ``up`` wires everything first:

* the database is started and initialised (schemas, roles), as for ``spotify-elt run``;
* ``dbt parse`` writes the manifest the DAG renders from (fast DAG parsing);
* the Airflow Fernet key (``AIRFLOW__CORE__FERNET_KEY``, which encrypts connections and variables
  in Airflow's DB) is generated once and kept in the project's vault;
* the connections ``spotify_elt_postgres`` (the server) and, for the emulator demo,
  ``spotify_elt_spotify`` are given to Airflow as ``AIRFLOW_CONN_*`` variables of its processes;
* with no Spotify app configured, the local emulator is served in the background with a live
  clock (as ``spotify-elt run`` does), so the hourly DAG has something to extract;
* the DAG starts unpaused; the admin password is shown.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from .config import Settings
from .errors import UserError
from .orchestration import (
    POSTGRES_CONN_ID,
    SPOTIFY_CONN_ID,
    dags_folder,
    dbt_env,
    dbt_parse,
    manifest_path,
    postgres_connection_from_url,
)
from .vault import Vault

log = logging.getLogger(__name__)

FERNET_SECRET = "airflow_fernet_key"  # noqa: S105 - a vault entry's name
DEFAULT_PORT = 8080  # not 8793/8794: Airflow's worker and triggerer log servers
PASSWORD_FILE = "simple_auth_manager_passwords.json.generated"  # noqa: S105 - a file name


class AirflowError(UserError):
    """Airflow could not be started or stopped."""

    exit_code = 9


def airflow_home(settings: Settings) -> Path:
    return Path(os.environ.get("AIRFLOW_HOME") or settings.data_dir / "airflow")


def _pid_file(home: Path, name: str) -> Path:
    return home / f"{name}.pid"


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(home: Path, name: str) -> int | None:
    path = _pid_file(home, name)
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def fernet_key(vault: Vault) -> str:
    """Airflow's Fernet key, generated once into the vault."""
    key = vault.get(FERNET_SECRET)
    if not key:
        from cryptography.fernet import Fernet

        key = Fernet.generate_key().decode("ascii")
        vault.set(FERNET_SECRET, key)
    return key


def airflow_env(
    settings: Settings, vault: Vault, *, port: int, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment of the Airflow processes (holds the Fernet key: never print it)."""
    home = airflow_home(settings)
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(home),
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        AIRFLOW__CORE__DAGS_FOLDER=str(dags_folder()),
        AIRFLOW__CORE__LOAD_EXAMPLES="false",
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="false",
        AIRFLOW__CORE__FERNET_KEY=fernet_key(vault),
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__COSMOS__ENABLE_TELEMETRY="false",
        SPOTIFY_ELT_DATA_DIR=str(settings.data_dir),
        SPOTIFY_ELT_CONFIG_DIR=str(settings.config_dir),
        SPOTIFY_ELT_STATE_DIR=str(settings.state_dir),
        SPOTIFY_ELT_DBT_MANIFEST=str(manifest_path()),
        DATAHUB_TELEMETRY_ENABLED="false",
    )
    # The DataHub plugin reports runs only when a server is configured.
    gms = os.environ.get("DATAHUB_GMS_URL")
    env["AIRFLOW__DATAHUB__ENABLED"] = "true" if gms else "false"
    if gms:
        conn: dict[str, Any] = {"conn_type": "datahub-rest", "host": gms}
        if os.environ.get("DATAHUB_GMS_TOKEN"):
            conn["password"] = os.environ["DATAHUB_GMS_TOKEN"]
        env["AIRFLOW_CONN_DATAHUB_REST_DEFAULT"] = json.dumps(conn)
    env.update(extra or {})
    return env


@dataclass
class UpReport:
    url: str
    home: Path
    password: str | None
    demo: bool


def _serve_emulator(settings: Settings, vault: Vault, home: Path) -> dict[str, str]:
    """Start the emulator in the background (once) and log in; the DAG's demo configuration."""
    from . import demo

    base_file = home / "emulator.url"
    pid = _read_pid(home, "emulator")
    if _alive(pid) and base_file.exists():
        base = base_file.read_text().strip()
    else:
        secret_name, _ = demo.secret_names(demo.PREFIX)
        secret = vault.get(secret_name) or secrets.token_urlsafe(32)
        vault.set(secret_name, secret)
        port = demo._free_port()
        base = f"http://127.0.0.1:{port}"
        now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        command = [
            sys.executable, "-m", "spotify_elt", "emulator", "serve",
            "--port", str(port), "--seed", str(demo.SEED), "--client-id", demo.CLIENT_ID,
            "--redirect-uri", "http://127.0.0.1/callback",
            "--clock-start", now, "--realtime-clock",
        ]  # fmt: skip
        log_file = (home / "emulator.log").open("ab")
        proc = subprocess.Popen(
            command,
            env=dict(os.environ, SPOTIFY_ELT_EMULATOR_CLIENT_SECRET=secret),
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
        )
        _pid_file(home, "emulator").write_text(str(proc.pid))
        base_file.write_text(base)
        _wait_http(f"{base}/_emulator/health", 30, "the local Spotify emulator")
    job = demo.demo_settings(settings, base)
    demo.demo_credentials(job, vault)
    return {
        "SPOTIFY_ELT_ACCOUNTS_URL": job.accounts_url,
        "SPOTIFY_ELT_API_URL": job.api_url,
        "SPOTIFY_ELT_CLIENT_ID": demo.CLIENT_ID,
        "SPOTIFY_ELT_DATABASE_NAME": job.database_name,
        "SPOTIFY_ELT_RATE_BUDGET": str(job.rate_budget),
        f"AIRFLOW_CONN_{SPOTIFY_CONN_ID.upper()}": json.dumps(
            {
                "conn_type": "generic",
                "login": demo.CLIENT_ID,
                "extra": {"vault_prefix": demo.PREFIX},
            }
        ),
    }


def _wait_http(url: str, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).ok:
                return
        time.sleep(1)
    raise AirflowError(f"{what} did not answer at {url} within {seconds:.0f} s.")


def up(
    settings: Settings, *, port: int = DEFAULT_PORT, use_emulator: bool | None = None
) -> UpReport:
    """Start the local Airflow with everything wired (idempotent); see the module docstring."""
    from dataclasses import replace

    from .db import DatabaseTarget, init_database

    vault = Vault.from_settings(settings)
    if not vault.exists():
        vault.init()
    home = airflow_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    # Anything that imports Airflow in this process must not create ~/airflow.
    os.environ.setdefault("AIRFLOW_HOME", str(home))
    demo_mode = not settings.client_id if use_emulator is None else use_emulator
    extra: dict[str, str] = {}
    job = settings
    if demo_mode:
        extra = _serve_emulator(settings, vault, home)
        if not settings.database_url:
            job = replace(settings, database_name=extra["SPOTIFY_ELT_DATABASE_NAME"])
    target = DatabaseTarget(job)
    admin = target.up()
    init_database(admin, vault)
    extra[f"AIRFLOW_CONN_{POSTGRES_CONN_ID.upper()}"] = json.dumps(
        postgres_connection_from_url(admin)
    )
    # The manifest, parsed with the real profile so dbt's partial parsing stays valid at run time.
    dbt_parse(env=dbt_env(job, vault))
    env = airflow_env(settings, vault, port=port, extra=extra)
    url = f"http://127.0.0.1:{port}"
    pid = _read_pid(home, "airflow")
    if not _alive(pid):
        migrate = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if migrate.returncode != 0:
            raise AirflowError(
                f"`airflow db migrate` failed; see {home} ({migrate.stderr[-300:]})."
            )
        log_file = (home / "standalone.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow", "standalone"],
            env=env,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
        )
        _pid_file(home, "airflow").write_text(str(proc.pid))
    _wait_http(f"{url}/api/v2/monitor/health", 180, "Airflow's API server")
    return UpReport(url=url, home=home, password=admin_password(home), demo=demo_mode)


def admin_password(home: Path) -> str | None:
    path = home / PASSWORD_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    value = data.get("admin") if isinstance(data, dict) else None
    return str(value) if value else None


def status(settings: Settings, *, port: int = DEFAULT_PORT) -> dict[str, Any]:
    home = airflow_home(settings)
    pid = _read_pid(home, "airflow")
    healthy = False
    if _alive(pid):
        with contextlib.suppress(requests.RequestException):
            healthy = requests.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=3).ok
    return {
        "home": str(home),
        "running": _alive(pid),
        "pid": pid,
        "healthy": healthy,
        "url": f"http://127.0.0.1:{port}",
        "emulator": _alive(_read_pid(home, "emulator")),
    }


def down(settings: Settings) -> list[str]:
    """Stop Airflow (its whole process group) and the demo emulator; returns what was stopped."""
    home = airflow_home(settings)
    stopped = []
    for name in ("airflow", "emulator"):
        pid = _read_pid(home, name)
        if _alive(pid):
            assert pid is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            for _ in range(60):
                if not _alive(pid):
                    break
                time.sleep(0.5)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            stopped.append(name)
        _pid_file(home, name).unlink(missing_ok=True)
    return stopped
