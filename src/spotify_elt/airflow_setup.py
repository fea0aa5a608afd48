"""``spotify-elt airflow up|status|down``: a local Airflow 3 running the ``spotify_elt`` DAG.

``AIRFLOW_HOME`` is ``<data dir>/airflow`` (configuration, logs, the admin password file, one PID
file per process). Airflow's metadata database is ``<database>_airflow`` on the project's own
PostgreSQL server (the embedded one by default), unless ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``
names another (a managed PostgreSQL). ``up`` starts Airflow's components as separate processes,
each in its own process group, as a deployment does: the API server, the scheduler, the DAG
processor and the triggerer, and with ``--executor celery`` a Celery worker
(``airflow celery worker``) on a broker (Redis by default). ``up`` wires everything first:

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
from .dbt_runner import dbt_parse, manifest_path
from .errors import UserError
from .orchestration import (
    DATAHUB_CONN_ID,
    POSTGRES_CONN_ID,
    SPOTIFY_CONN_ID,
    dags_folder,
    masked_dbt_env,
    postgres_connection_from_url,
)
from .vault import Vault

log = logging.getLogger(__name__)

FERNET_SECRET = "airflow_fernet_key"  # noqa: S105 - a vault entry's name
JWT_SECRET = "airflow_jwt_secret"  # noqa: S105 - a vault entry's name
DEFAULT_PORT = 8080  # not 8793/8794: Airflow's worker and triggerer log servers
PASSWORD_FILE = "simple_auth_manager_passwords.json.generated"  # noqa: S105 - a file name
SIMPLE_AUTH_MANAGER = (
    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
)
EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
ENV_BROKER = "SPOTIFY_ELT_AIRFLOW_BROKER_URL"
ENV_WORKER_CONCURRENCY = "SPOTIFY_ELT_AIRFLOW_WORKER_CONCURRENCY"
#: The processes of a local deployment (``airflow <command>``), in start order: the API server
#: first (task processes report to its execution API from their first second), then the rest.
COMPONENTS: dict[str, tuple[str, ...]] = {
    "api-server": ("api-server",),
    "scheduler": ("scheduler",),
    "dag-processor": ("dag-processor",),
    "triggerer": ("triggerer",),
}
CELERY_WORKER = "celery-worker"


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


def jwt_secret(vault: Vault) -> str:
    """The secret Airflow's components sign their API tokens with (one for all of them)."""
    key = vault.get(JWT_SECRET)
    if not key:
        key = secrets.token_urlsafe(32)
        vault.set(JWT_SECRET, key)
    return key


def metadata_url(admin_url: str) -> str:
    """Airflow's metadata DB: ``<database>_airflow`` on the server of ``admin_url`` (created)."""
    from psycopg import sql

    from .db import Dsn, connect, database_of

    name = f"{database_of(admin_url)}_airflow"
    with connect(admin_url) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = Dsn.parse(admin_url)
    admin = dsn.with_credentials(dsn.user or "postgres", dsn.password)
    return admin.with_database(name).sqlalchemy_url()


def celery_settings(broker_url: str, metadata: str) -> dict[str, str]:
    """The CeleryExecutor's settings (the compose ``celery`` profile sets the same keys)."""
    backend = "db+postgresql://" + metadata.split("://", 1)[1]
    return {
        "AIRFLOW__CORE__EXECUTOR": EXECUTORS["celery"],
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": backend,
    }


def _check_celery(broker_url: str) -> None:
    """The celery extra is installed and the broker answers, or one sentence says what to do."""
    import importlib.util
    import socket
    from urllib.parse import urlsplit

    if importlib.util.find_spec("airflow.providers.celery") is None:
        raise AirflowError(
            "The CeleryExecutor needs the celery extra: install spotify-elt[celery] "
            "(uv sync --extra celery)."
        )
    parts = urlsplit(broker_url)
    default = 5672 if parts.scheme.startswith("amqp") else 6379
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default), 5).close()
    except OSError:
        raise AirflowError(
            f"The Celery broker at {parts.hostname}:{parts.port or default} does not answer; "
            f"start it or set {ENV_BROKER}."
        ) from None


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
        AIRFLOW__API_AUTH__JWT_SECRET=jwt_secret(vault),
        AIRFLOW__CORE__AUTH_MANAGER=SIMPLE_AUTH_MANAGER,
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        # Log servers of the task runners and the triggerer: free ports, several Airflows side
        # by side (the defaults 8793/8794 would clash).
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(_free_port()),
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(_free_port()),
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
        env[f"AIRFLOW_CONN_{DATAHUB_CONN_ID.upper()}"] = json.dumps(conn)
    env.update(extra or {})
    return env


@dataclass
class UpReport:
    url: str
    home: Path
    password: str | None
    demo: bool
    executor: str = "local"


def _serve_emulator(settings: Settings, vault: Vault, home: Path) -> dict[str, str]:
    """Start the emulator in the background (once) and log in; the DAG's demo configuration."""
    from . import demo

    base_file = home / "emulator.url"
    pid = _read_pid(home, "emulator")
    if _alive(pid) and base_file.exists():
        base = base_file.read_text().strip()
    else:
        try:
            emulator = demo.start_emulator(vault, log_file=home / "emulator.log")
        except UserError as exc:
            raise AirflowError(str(exc)) from None
        base = emulator.base_url
        _pid_file(home, "emulator").write_text(str(emulator.pid))
        base_file.write_text(base)
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
    settings: Settings,
    *,
    port: int = DEFAULT_PORT,
    use_emulator: bool | None = None,
    executor: str = "local",
) -> UpReport:
    """Start the local Airflow with everything wired (idempotent); see the module docstring."""
    from dataclasses import replace

    from .db import DatabaseTarget, init_database

    if executor not in EXECUTORS:
        raise AirflowError(f"Unknown executor {executor!r}; choose {' or '.join(EXECUTORS)}.")
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
    metadata = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or metadata_url(admin)
    extra["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = metadata
    extra["AIRFLOW__CORE__EXECUTOR"] = EXECUTORS[executor]
    if executor == "celery":
        broker = os.environ.get(ENV_BROKER) or DEFAULT_BROKER
        _check_celery(broker)
        extra.update(celery_settings(broker, metadata))
    # The manifest, parsed with the real profile so dbt's partial parsing stays valid at run time.
    dbt_parse(env=masked_dbt_env(job, vault))
    env = airflow_env(settings, vault, port=port, extra=extra)
    url = f"http://127.0.0.1:{port}"
    components = dict(COMPONENTS)
    if executor == "celery":
        concurrency = os.environ.get(ENV_WORKER_CONCURRENCY) or "4"
        components[CELERY_WORKER] = ("celery", "worker", "--concurrency", concurrency)
    if not any(_alive(_read_pid(home, name)) for name in components):
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
    (home / "executor").write_text(executor)
    for name, command in components.items():
        if _alive(_read_pid(home, name)):
            continue
        log_file = (home / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow", *command],
            env=env,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
        )
        _pid_file(home, name).write_text(str(proc.pid))
        if name == "api-server":
            _wait_http(f"{url}/api/v2/monitor/health", 180, "Airflow's API server")
    _wait_http(f"{url}/api/v2/monitor/health", 180, "Airflow's API server")
    return UpReport(
        url=url, home=home, password=admin_password(home), demo=demo_mode, executor=executor
    )


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
    running = [name for name in [*COMPONENTS, CELERY_WORKER] if _alive(_read_pid(home, name))]
    healthy = False
    if running:
        with contextlib.suppress(requests.RequestException):
            healthy = requests.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=3).ok
    executor_file = home / "executor"
    return {
        "home": str(home),
        "running": ", ".join(running) or "nothing",
        "executor": executor_file.read_text().strip() if executor_file.exists() else "-",
        "healthy": healthy,
        "url": f"http://127.0.0.1:{port}",
        "emulator": _alive(_read_pid(home, "emulator")),
    }


def down(settings: Settings) -> list[str]:
    """Stop Airflow's processes (each process group) and the demo emulator; what was stopped."""
    home = airflow_home(settings)
    stopped = []
    # The worker first (it finishes nothing new once the scheduler is gone), the emulator last.
    for name in [CELERY_WORKER, *reversed(COMPONENTS), "airflow", "emulator"]:
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
