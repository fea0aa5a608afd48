"""The transform step: dbt builds silver and gold from bronze, as the transformer role.

Shared by ``spotify-elt transform``, ``spotify-elt docs`` and the Airflow DAG. The dbt project
(``dbt_project/``) reads its connection from ``SPOTIFY_ELT_DBT_*`` environment variables only;
:func:`dbt_env` derives them from the configuration and the vault (the ``spotify_transformer``
role's URL), and :func:`run_dbt` runs dbt in-process through ``dbtRunner`` with them.

dbt keeps global state (flags, adapters, the environment it reads): one invocation at a time per
process, which :data:`_DBT_LOCK` enforces.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .config import Settings
from .db import DatabaseTarget, role_urls
from .errors import UserError
from .logs import register_secret
from .vault import Vault

log = logging.getLogger(__name__)

ENV_PREFIX = "SPOTIFY_ELT_DBT_"
PROJECT_DIR_ENV = "SPOTIFY_ELT_DBT_PROJECT_DIR"
_REPO_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
_DBT_LOCK = threading.Lock()

# Statuses of dbt nodes that mean the run did not do what was asked.
_BAD_STATUSES = {"error", "fail", "runtime error"}


class TransformError(UserError):
    """dbt could not build silver and gold (a failing model or test, or no database)."""

    exit_code = 8


def project_dir() -> Path:
    """The dbt project: ``SPOTIFY_ELT_DBT_PROJECT_DIR`` or ``dbt_project/`` of the source tree."""
    configured = os.environ.get(PROJECT_DIR_ENV)
    path = Path(configured) if configured else _REPO_PROJECT_DIR
    if not (path / "dbt_project.yml").is_file():
        raise TransformError(
            f"No dbt project at {path}; set {PROJECT_DIR_ENV} to the directory holding "
            "dbt_project.yml."
        )
    return path


def default_target_path(settings: Settings) -> Path:
    """Where dbt writes its artifacts (manifest, run results, docs) unless told otherwise."""
    return Path(settings.data_dir) / "dbt" / "target"


def connection_env(url: str) -> dict[str, str]:
    """The ``SPOTIFY_ELT_DBT_*`` connection variables for a PostgreSQL URL.

    A Unix-socket server (``postgresql://user:pw@/db?host=/run/dir``) gives the socket directory
    as the host, which psycopg2 and dbt accept as ``host``.
    """
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    host = parts.hostname or unquote(query.get("host", "")) or "localhost"
    env = {
        f"{ENV_PREFIX}HOST": host,
        f"{ENV_PREFIX}PORT": str(parts.port or query.get("port") or 5432),
        f"{ENV_PREFIX}USER": unquote(parts.username or ""),
        f"{ENV_PREFIX}PASSWORD": unquote(parts.password or ""),
        f"{ENV_PREFIX}DBNAME": parts.path.lstrip("/"),
    }
    if "sslmode" in query:
        env[f"{ENV_PREFIX}SSLMODE"] = query["sslmode"]
    return env


def dbt_env(settings: Settings, vault: Vault) -> dict[str, str]:
    """Environment variables that point the dbt profile at this configuration's database.

    The connection is the ``spotify_transformer`` role's (password from the vault); the result
    holds a password: pass it to dbt, never print it.
    """
    admin = DatabaseTarget(settings).admin_url()
    transformer = role_urls(admin, vault).transformer
    env = connection_env(transformer)
    register_secret(env[f"{ENV_PREFIX}PASSWORD"])
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    env["DBT_PROFILES_DIR"] = str(project_dir())
    return env


@contextlib.contextmanager
def _patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class NodeResult:
    """One dbt node's outcome (a model, test, snapshot, unit test...)."""

    unique_id: str
    resource_type: str
    status: str
    message: str = ""
    failures: int | None = None

    @property
    def name(self) -> str:
        """The node's name: ``model.<project>.<name>``, ``test.<project>.<name>.<hash>``,
        ``unit_test.<project>.<model>.<name>``."""
        parts = self.unique_id.split(".")
        if parts[0] == "unit_test" and len(parts) > 3:
            return parts[3]
        return parts[2] if len(parts) > 2 else self.unique_id


@dataclass
class TransformResult:
    """What a dbt invocation did: per-node outcomes, counts by status, time, artifacts."""

    command: str
    success: bool
    nodes: list[NodeResult] = field(default_factory=list)
    seconds: float = 0.0
    target_path: Path | None = None
    error: str | None = None

    @property
    def counts(self) -> Counter[str]:
        return Counter(node.status for node in self.nodes)

    @property
    def failed(self) -> list[NodeResult]:
        return [node for node in self.nodes if node.status in _BAD_STATUSES]

    def summary(self) -> str:
        counts = self.counts
        parts = [f"{counts[s]} {s}" for s in sorted(counts)]
        return (
            f"dbt {self.command}: {len(self.nodes)} nodes ({', '.join(parts) or 'none'}) "
            f"in {self.seconds:.1f} s"
        )

    def failure_sentence(self) -> str:
        """One sentence naming what failed, for the CLI."""
        if self.error and not self.failed:
            return f"dbt {self.command} failed: {self.error}"
        names = [node.name for node in self.failed]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        where = f"; see {self.target_path / 'run_results.json'}" if self.target_path else ""
        return f"dbt {self.command} failed: {len(names)} node(s) failed ({shown}){where}."


def _node_results(result: Any) -> list[NodeResult]:
    nodes: list[NodeResult] = []
    for item in getattr(result, "results", None) or []:
        node = getattr(item, "node", None)
        status = getattr(item, "status", "")
        nodes.append(
            NodeResult(
                unique_id=str(getattr(node, "unique_id", "?")),
                resource_type=str(getattr(node, "resource_type", "?")),
                status=str(getattr(status, "value", status)),
                message=str(getattr(item, "message", "") or ""),
                failures=getattr(item, "failures", None),
            )
        )
    return nodes


def _explain(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    low = text.lower()
    if "password authentication failed" in low:
        return (
            "PostgreSQL refused the spotify_transformer role's password "
            "(run `spotify-elt db init`)."
        )
    if "could not connect" in low or "connection refused" in low or "no such file" in low:
        return "cannot reach PostgreSQL (is the server running? `spotify-elt db up`)."
    return text[:300]


def run_dbt(
    args: Sequence[str],
    env: Mapping[str, str],
    *,
    target_path: Path | None = None,
    project: Path | None = None,
    quiet: bool = False,
) -> TransformResult:
    """Run one dbt command in-process (``args`` like ``["build", "--select", "marts"]``).

    ``env`` holds the ``SPOTIFY_ELT_DBT_*`` connection (see :func:`dbt_env`); artifacts and logs
    go under ``target_path``. Returns the outcome; does not raise for failing nodes.
    """
    from dbt.cli.main import dbtRunner

    project = project or project_dir()
    command = args[0]
    full: list[str] = [*args, "--project-dir", str(project), "--profiles-dir", str(project)]
    if target_path is not None:
        target_path.mkdir(parents=True, exist_ok=True)
        full += ["--target-path", str(target_path), "--log-path", str(target_path / "logs")]
    if quiet:
        full.insert(0, "--quiet")
    started = time.monotonic()
    with _DBT_LOCK, _patched_environ({**env, "DBT_PROFILES_DIR": str(project)}):
        try:
            outcome = dbtRunner().invoke(full)
        except Exception as exc:  # dbt raises on some setup errors instead of returning them
            return TransformResult(
                command,
                False,
                seconds=time.monotonic() - started,
                target_path=target_path,
                error=_explain(exc),
            )
    result = TransformResult(
        command,
        bool(outcome.success),
        nodes=_node_results(outcome.result),
        seconds=time.monotonic() - started,
        target_path=target_path,
    )
    if outcome.exception is not None:
        result.error = _explain(outcome.exception)
    elif not outcome.success and not result.failed:
        result.error = "dbt reported a failure; see its log above."
    return result


def _require_bronze(settings: Settings, vault: Vault) -> None:
    """Refuse to build on a database whose bronze is empty (nothing extracted yet)."""
    from .db import connect

    admin = DatabaseTarget(settings).admin_url()
    with connect(role_urls(admin, vault).transformer) as conn:
        row = conn.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'bronze' AND table_name NOT LIKE '\\_dlt%'"
        ).fetchone()
    if not row or not row[0]:
        raise TransformError(
            "The bronze schema holds no Spotify data yet; run `spotify-elt extract` first."
        )


def run_transform(
    settings: Settings,
    vault: Vault,
    *,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    full_refresh: bool = False,
    target_path: Path | None = None,
    quiet: bool = False,
    check: bool = True,
) -> TransformResult:
    """``dbt build`` silver and gold (models, snapshots, tests) as ``spotify_transformer``.

    Raises :class:`TransformError` naming the failed nodes when ``check`` and the build fails.
    """
    env = dbt_env(settings, vault)
    _require_bronze(settings, vault)
    args = ["build"]
    if select:
        args += ["--select", *select]
    if exclude:
        args += ["--exclude", *exclude]
    if full_refresh:
        args.append("--full-refresh")
    target = target_path or default_target_path(settings)
    result = run_dbt(args, env, target_path=target, quiet=quiet)
    log.info("%s", result.summary())
    if check and not result.success:
        raise TransformError(result.failure_sentence())
    return result


def generate_docs(
    settings: Settings, vault: Vault, *, target_path: Path | None = None, quiet: bool = False
) -> Path:
    """``dbt docs generate``: the docs site (manifest.json, catalog.json, index.html)."""
    target = target_path or default_target_path(settings)
    result = run_dbt(
        ["docs", "generate"], dbt_env(settings, vault), target_path=target, quiet=quiet
    )
    if not result.success:
        raise TransformError(result.failure_sentence())
    return target


def load_artifacts(target_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``manifest.json`` and ``catalog.json`` of a ``dbt docs generate`` run."""
    try:
        manifest = json.loads((target_path / "manifest.json").read_text())
        catalog = json.loads((target_path / "catalog.json").read_text())
    except (OSError, ValueError) as exc:
        raise TransformError(
            f"The dbt artifacts in {target_path} cannot be read ({exc}); run "
            "`spotify-elt docs generate` first."
        ) from None
    return manifest, catalog
