"""The catalog: dbt artifacts into DataHub.

Two recipes live in the repository, ``datahub/recipes/dbt.yml`` (models, snapshots, sources,
tests with their results, owners/tags/terms from dbt ``meta``) and ``datahub/recipes/postgres.yml``
(the bronze, silver and gold schemas as the warehouse sees them). Both read every secret and path
from the environment; :func:`run_catalog` fills it in from the configuration and the vault:

* with ``DATAHUB_GMS_URL`` (and ``DATAHUB_GMS_TOKEN``) set, they are sent to that DataHub server;
* otherwise they go to an offline file sink, one JSON file of metadata change proposals per recipe
  under ``<data dir>/datahub/`` (inspect them with ``jq``, or load them into a server later with
  ``datahub ingest`` and a ``file`` source).

The artifacts (docs, source freshness, test results, and the markdown catalog beside them) are
written by :func:`spotify_elt.dbt_runner.write_docs_bundle`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .config import Settings
from .errors import UserError

# No usage telemetry from DataHub's library (and no network at import).
os.environ.setdefault("DATAHUB_TELEMETRY_ENABLED", "false")

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
RECIPES = ("dbt", "postgres")
GMS_URL_ENV = "DATAHUB_GMS_URL"
GMS_TOKEN_ENV = "DATAHUB_GMS_TOKEN"  # noqa: S105 - the variable's name, not a token


class CatalogError(UserError):
    """A DataHub recipe failed (bad artifacts, unreachable server, refused token)."""

    exit_code = 6


def recipes_dir() -> Path:
    return Path(os.environ.get("SPOTIFY_ELT_DATAHUB_RECIPES") or REPO_ROOT / "datahub" / "recipes")


def offline_dir(settings: Settings) -> Path:
    """Where the offline file sink writes: ``<data dir>/datahub``."""
    return settings.data_dir / "datahub"


@dataclass
class CatalogReport:
    """What each recipe wrote and where."""

    destination: str
    outputs: dict[str, str] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "outputs": self.outputs,
            "records": self.records,
            "warnings": self.warnings,
            "seconds": round(self.seconds, 1),
        }


# --------------------------------------------------------------------------- recipes


def recipe_env(settings: Settings, vault: Any, artifacts: Path) -> dict[str, str]:
    """The variables the recipes read: artifact folder, warehouse connection, DataHub server."""
    from .db import DatabaseTarget, Dsn, role_urls

    url = role_urls(DatabaseTarget(settings).admin_url(), vault).transformer
    env = {"DBT_ARTIFACTS_DIR": str(artifacts), **Dsn.parse(url).datahub_env()}
    for name in (GMS_URL_ENV, GMS_TOKEN_ENV, "DATAHUB_ENV"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    if not env.get(GMS_URL_ENV):
        env["DATAHUB_WRITE_SEMANTICS"] = "OVERRIDE"
        env["DATAHUB_INCREMENTAL_LINEAGE"] = "false"
    return env


def load_recipe(path: Path, env: Mapping[str, str]) -> dict[str, Any]:
    """A recipe with its ``${VAR}`` references resolved from ``env`` (nothing else)."""
    from datahub.configuration.config_loader import resolve_env_variables

    raw = yaml.safe_load(path.read_text())
    return dict(resolve_env_variables(raw, environ=dict(env)))


def _adapt(name: str, recipe: dict[str, Any], env: Mapping[str, str], out: Path) -> None:
    source = recipe["source"]["config"]
    if name == "dbt":
        # Optional artifacts: sources.json (freshness) and run_results.json (tests).
        if source.get("sources_path") and not Path(source["sources_path"]).exists():
            source.pop("sources_path")
        source["run_results_paths"] = [
            p for p in source.get("run_results_paths", []) if Path(p).exists()
        ]
        for required in ("manifest_path", "catalog_path"):
            if not Path(source[required]).exists():
                raise CatalogError(
                    f"The dbt artifact {source[required]} is missing; run `dbt docs generate` "
                    "(spotify-elt catalog does) first."
                )
    if name == "postgres" and env.get("DATAHUB_PG_SOCKET_DIR"):
        # A Unix-socket server (the embedded default): libpq's host is the socket folder.
        options = source.setdefault("options", {})
        options.setdefault("connect_args", {})["host"] = env["DATAHUB_PG_SOCKET_DIR"]
    if not env.get(GMS_URL_ENV):
        recipe["sink"] = {"type": "file", "config": {"filename": str(out / f"{name}.json")}}


def run_catalog(
    settings: Settings,
    vault: Any,
    *,
    artifacts: Path,
    recipes: Sequence[str] = RECIPES,
) -> CatalogReport:
    """Run the recipes against ``artifacts`` (a dbt target folder); see the module docstring."""
    from datahub.ingestion.run.pipeline import Pipeline

    started = time.monotonic()
    env = recipe_env(settings, vault, artifacts)
    server = env.get(GMS_URL_ENV)
    out = offline_dir(settings)
    out.mkdir(parents=True, exist_ok=True)
    report = CatalogReport(destination=server or str(out))
    for name in recipes:
        recipe = load_recipe(recipes_dir() / f"{name}.yml", env)
        _adapt(name, recipe, env, out)
        recipe.setdefault("pipeline_name", f"spotify_elt_{name}")
        try:
            pipeline = Pipeline.create(recipe, report_to=None, no_progress=True)
            pipeline.run()
            pipeline.raise_from_status()
        except Exception as exc:
            if isinstance(exc, UserError):
                raise
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CatalogError(f"The DataHub recipe {name} failed: {first}") from None
        source_report = pipeline.source.get_report()
        report.records[name] = int(pipeline.sink.get_report().total_records_written)
        report.warnings[name] = len(source_report.warnings)
        report.outputs[name] = server or str(out / f"{name}.json")
        log.info("DataHub %s: %d records to %s", name, report.records[name], report.outputs[name])
    report.seconds = time.monotonic() - started
    return report
