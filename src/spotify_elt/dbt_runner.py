"""Running dbt: the project, its connection, one way to invoke it, and the docs bundle.

Everything that runs dbt goes through here: ``spotify-elt transform``/``docs``/``catalog``, the
Airflow tasks (:mod:`spotify_elt.orchestration`) and ``spotify-elt airflow parse``.

* :func:`project_dir` finds the dbt project (``SPOTIFY_ELT_DBT_PROJECT_DIR`` or
  ``dbt_project/`` of the source tree) and :func:`dbt_executable` the dbt program;
* the project reads its connection from ``SPOTIFY_ELT_DBT_*`` environment variables only:
  :func:`connection_env` derives them from a PostgreSQL URL, :func:`dbt_env` from the
  configuration and the vault (the ``spotify_transformer`` role's URL);
* :func:`run_dbt` runs one dbt command, in-process through ``dbtRunner`` or as a subprocess;
* :func:`dbt_parse` writes the manifest Cosmos renders the DAG from;
* :func:`write_docs_bundle` writes what the catalog reads: ``dbt docs generate``,
  ``dbt source freshness``, the test results of the dbt runs and the markdown catalog.

In-process, dbt keeps global state (flags, adapters, the environment it reads): one invocation at
a time per process, which :data:`_DBT_LOCK` enforces.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Settings
from .db import READER, DatabaseTarget, Dsn, database_of, role_name, role_urls
from .errors import UserError
from .logs import register_secret
from .vault import Vault

log = logging.getLogger(__name__)

ENV_PREFIX = "SPOTIFY_ELT_DBT_"
PROJECT_DIR_ENV = "SPOTIFY_ELT_DBT_PROJECT_DIR"
MANIFEST_ENV = "SPOTIFY_ELT_DBT_MANIFEST"
DBT_PROFILE = "spotify_elt"
DBT_TARGET = "default"
_REPO_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
_DBT_LOCK = threading.Lock()

# Statuses of dbt nodes that mean the run did not do what was asked.
_BAD_STATUSES = {"error", "fail", "runtime error"}


class DbtError(UserError):
    """dbt cannot run or did not do what was asked (no project, a failing node, no database)."""

    exit_code = 8


# --------------------------------------------------------------------------- project


def project_dir() -> Path:
    """The dbt project: ``SPOTIFY_ELT_DBT_PROJECT_DIR`` or ``dbt_project/`` of the source tree."""
    configured = os.environ.get(PROJECT_DIR_ENV)
    path = Path(configured) if configured else _REPO_PROJECT_DIR
    if not (path / "dbt_project.yml").is_file():
        raise DbtError(
            f"No dbt project at {path}; set {PROJECT_DIR_ENV} to the directory holding "
            "dbt_project.yml."
        )
    return path


def manifest_path() -> Path:
    """Where Cosmos reads the manifest: ``SPOTIFY_ELT_DBT_MANIFEST`` or the project's target."""
    configured = os.environ.get(MANIFEST_ENV)
    return Path(configured) if configured else project_dir() / "target" / "manifest.json"


def dbt_executable() -> str:
    """The dbt of this environment (Airflow tasks may run with a PATH that lacks the venv)."""
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else shutil.which("dbt") or "dbt"


# --------------------------------------------------------------------------- connection


def connection_env(url: str) -> dict[str, str]:
    """The ``SPOTIFY_ELT_DBT_*`` connection variables for a PostgreSQL URL.

    A Unix-socket server (``postgresql://user:pw@/db?host=/run/dir``) gives the socket directory
    as the host, which psycopg2 and dbt accept as ``host``.
    """
    return Dsn.parse(url).dbt_env(ENV_PREFIX)


def dbt_env(settings: Settings, vault: Vault) -> dict[str, str]:
    """Environment variables that point the dbt profile at this configuration's database.

    The connection is the ``spotify_transformer`` role's (password from the vault); the result
    holds a password: pass it to dbt, never print it.
    """
    admin = DatabaseTarget(settings).admin_url()
    database_of(admin)  # refuses a name dbt cannot quote
    transformer = role_urls(admin, vault).transformer
    env = connection_env(transformer)
    # Gold's grants name this installation's reader role (dbt_project.yml).
    env[f"{ENV_PREFIX}READER_ROLE"] = role_name(READER, database_of(admin))
    register_secret(env[f"{ENV_PREFIX}PASSWORD"])
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    env["DBT_PROFILES_DIR"] = str(project_dir())
    return env


def parse_env() -> dict[str, str]:
    """Enough of the profile's variables for ``dbt parse`` (which never connects)."""
    return {f"{ENV_PREFIX}PASSWORD": os.environ.get(f"{ENV_PREFIX}PASSWORD", "unused")}


# --------------------------------------------------------------------------- results


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
    """What a dbt invocation did: per-node outcomes, counts by status, time, artifacts.

    A subprocess run (``in_process=False``) has no per-node outcomes; it keeps the exit status
    (``returncode``) and dbt's output instead.
    """

    command: str
    success: bool
    nodes: list[NodeResult] = field(default_factory=list)
    seconds: float = 0.0
    target_path: Path | None = None
    error: str | None = None
    returncode: int | None = None
    output: str = ""

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
        """One sentence naming what failed, for the CLI (a subprocess: its output's tail)."""
        if self.returncode is not None:
            tail = "\n".join(self.output.strip().splitlines()[-15:])
            return f"dbt {self.command} failed (exit {self.returncode}):\n{tail}"
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


# --------------------------------------------------------------------------- running dbt


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


def run_dbt(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    in_process: bool,
    target_path: Path | None = None,
    project: Path | None = None,
    quiet: bool = False,
    check: bool = False,
) -> TransformResult:
    """Run one dbt command (``args`` like ``["build", "--select", "marts"]``) on the project.

    ``env`` holds the ``SPOTIFY_ELT_DBT_*`` connection (see :func:`dbt_env`); artifacts and logs
    go under ``target_path``. ``in_process`` runs dbt through ``dbtRunner`` in this process (one
    invocation at a time), else :func:`dbt_executable` as a subprocess, its output captured.
    Returns the outcome; with ``check``, a failure raises :class:`UserError` instead.
    """
    project = project or project_dir()
    full: list[str] = [*args, "--project-dir", str(project), "--profiles-dir", str(project)]
    if target_path is not None:
        target_path.mkdir(parents=True, exist_ok=True)
        full += ["--target-path", str(target_path), "--log-path", str(target_path / "logs")]
    if quiet:
        full.insert(0, "--quiet")
    run = _invoke if in_process else _subprocess
    result = run(full, args[0], env, project, target_path)
    if check and not result.success:
        raise UserError(result.failure_sentence())
    return result


def _invoke(
    full: list[str],
    command: str,
    env: Mapping[str, str],
    project: Path,
    target_path: Path | None,
) -> TransformResult:
    from dbt.cli.main import dbtRunner

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


def _subprocess(
    full: list[str],
    command: str,
    env: Mapping[str, str],
    project: Path,
    target_path: Path | None,
) -> TransformResult:
    full_env = {
        **os.environ,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_USE_COLORS": "false",
        **env,
    }
    started = time.monotonic()
    done = subprocess.run(
        [dbt_executable(), *full], env=full_env, capture_output=True, text=True, check=False
    )
    seconds = time.monotonic() - started
    log.info("dbt %s: exit %d in %.1f s", command, done.returncode, seconds)
    return TransformResult(
        command,
        done.returncode == 0,
        seconds=seconds,
        target_path=target_path,
        returncode=done.returncode,
        output=done.stdout,
    )


def dbt_parse(target_path: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """Write the manifest Cosmos renders the DAG from (``dbt parse``); returns its path.

    With the real profile variables (``env``), dbt's partial-parse file written beside it stays
    valid when the dbt tasks run; without, placeholders do (dbt parse never connects).
    """
    target = target_path or manifest_path().parent
    # Cosmos runs dbt with --profile/--target, which dbt hashes into its partial-parse state:
    # parse with the same flags, or every dbt task re-parses the whole project.
    flags = ["--profile", DBT_PROFILE, "--target", DBT_TARGET]
    run_dbt(
        ["parse", *flags], env=env or parse_env(), in_process=False, target_path=target, check=True
    )
    return target / "manifest.json"


# --------------------------------------------------------------------------- docs bundle


@dataclass(frozen=True)
class DocsBundle:
    """What :func:`write_docs_bundle` wrote: the dbt target folder and the catalog's pages."""

    target: Path
    pages: int


def merge_run_results(files: Sequence[Path], destination: Path) -> Path | None:
    """One ``run_results.json`` holding the results of every dbt run in ``files``."""
    results: list[Any] = []
    head: dict[str, Any] | None = None
    for path in sorted(files):
        document = json.loads(path.read_text())
        head = head or document
        results.extend(document.get("results", []))
    if head is None:
        return None
    merged = {**head, "results": results}
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(json.dumps(merged))
    return destination


def write_docs_bundle(
    env: Mapping[str, str],
    folder: Path,
    *,
    run_results: Sequence[Path] | None,
    in_process: bool = False,
) -> DocsBundle:
    """``dbt docs generate`` + ``dbt source freshness`` + test results + the markdown catalog.

    dbt's artifacts go to ``folder/target`` (what DataHub reads), the markdown catalog to
    ``folder/catalog``. ``run_results`` are the ``run_results.json`` of the dbt runs whose test
    results the catalog shows: merged, they replace what docs generate left there; an empty
    sequence leaves no ``run_results.json``, None keeps docs generate's. Stale sources are a
    warning; a failing docs generate raises :class:`UserError`.
    """
    from .catalog_md import write_markdown_catalog

    target = folder / "target"
    run_dbt(["docs", "generate"], env=env, in_process=in_process, target_path=target, check=True)
    freshness = run_dbt(["source", "freshness"], env=env, in_process=in_process, target_path=target)
    if not freshness.success:
        log.warning("dbt source freshness reported stale or failing sources (see sources.json)")
    if run_results is not None:
        merged = target / "run_results.json"
        if not merge_run_results(run_results, merged):
            merged.unlink(missing_ok=True)
    pages = write_markdown_catalog(target, folder / "catalog")
    return DocsBundle(target=target, pages=pages)
