"""The transform step: dbt builds silver and gold from bronze, as the transformer role.

Shared by ``spotify-elt transform``, ``spotify-elt docs`` and the CLI's exports. dbt runs
in-process through :func:`spotify_elt.dbt_runner.run_dbt`, with the connection
:func:`spotify_elt.dbt_runner.dbt_env` derives from the configuration and the vault.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .config import Settings
from .db import (
    DatabaseTarget,
    advisory_lock,
    check_initialised,
    database_of,
    role_urls,
)
from .dbt_runner import DbtError, TransformResult, dbt_env, run_dbt
from .vault import Vault

log = logging.getLogger(__name__)

LOCK_KEY = "spotify-elt transform"


class TransformError(DbtError):
    """dbt could not build silver and gold (a failing model or test, or no database)."""


def default_target_path(settings: Settings) -> Path:
    """Where dbt writes its artifacts (manifest, run results, docs) unless told otherwise."""
    return Path(settings.data_dir) / "dbt" / "target"


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
    wait_for_lock: bool = False,
) -> TransformResult:
    """``dbt build`` silver and gold (models, snapshots, tests) as ``spotify_transformer``.

    One build at a time per database (a session-level advisory lock): another one refuses, or
    waits with ``wait_for_lock``. Raises :class:`TransformError` naming the failed nodes when
    ``check`` and the build fails, or when ``select`` matches no node.
    """
    admin = DatabaseTarget(settings).admin_url()
    # A database that does not exist, or was never initialised, is said before the vault is
    # asked for passwords of roles it would have.
    missing = check_initialised(admin)
    if missing:
        raise TransformError(
            f"The database {database_of(admin)!r} is not initialised (missing "
            f"{', '.join(missing)}); run `spotify-elt db init`, then `spotify-elt extract`."
        )
    env = dbt_env(settings, vault)
    _require_bronze(settings, vault)
    busy = TransformError(
        "Another transform is running on this database; wait for it to finish or run with --wait."
    )
    transformer = role_urls(DatabaseTarget(settings).admin_url(), vault).transformer
    with advisory_lock(transformer, LOCK_KEY, wait=wait_for_lock, busy=busy):
        return _build(settings, env, select, exclude, full_refresh, target_path, quiet, check)


def _build(
    settings: Settings,
    env: Mapping[str, str],
    select: Sequence[str],
    exclude: Sequence[str],
    full_refresh: bool,
    target_path: Path | None,
    quiet: bool,
    check: bool,
) -> TransformResult:
    args = ["build"]
    if select:
        args += ["--select", *select]
    if exclude:
        args += ["--exclude", *exclude]
    if full_refresh:
        args.append("--full-refresh")
    target = target_path or default_target_path(settings)
    result = run_dbt(args, env=env, in_process=True, target_path=target, quiet=quiet)
    log.info("%s", result.summary())
    if select and result.success and not result.nodes:
        raise TransformError(
            f"--select {' '.join(select)} matches no dbt model, test or snapshot; "
            "see `dbt ls` for the node names."
        )
    if check and not result.success:
        raise TransformError(result.failure_sentence())
    return result


def generate_docs(
    settings: Settings, vault: Vault, *, target_path: Path | None = None, quiet: bool = False
) -> Path:
    """``dbt docs generate``: the docs site (manifest.json, catalog.json, index.html)."""
    target = target_path or default_target_path(settings)
    result = run_dbt(
        ["docs", "generate"],
        env=dbt_env(settings, vault),
        in_process=True,
        target_path=target,
        quiet=quiet,
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
