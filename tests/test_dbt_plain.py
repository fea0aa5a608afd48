"""Plain dbt, as analytics engineers run it: `eval "$(spotify-elt db env)"`, then
`cd dbt_project && dbt build` with the shipped profiles.yml and no other help.

Works on a copy of the session's built database (``dev_build``), so the build is incremental.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbt_support import (
    Build,
    adopt_copy,
    cli,
    copy_database,
    database_name,
    drop_database,
    query,
    sync_roles,
)
from stack_support import outside_pytest_tmp

from spotify_elt.db import READER, TRANSFORMER, role_name
from spotify_elt.dbt_runner import ENV_PREFIX
from spotify_elt.vault import db_password_name

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[1] / "dbt_project"


@pytest.fixture(scope="module")
def copy(dev_build: Build) -> Iterator[tuple[dict[str, str], str]]:
    """A copy of the built database, and the environment of a CLI configured for it."""
    assert dev_build.result.success
    sync_roles(dev_build.stack)
    url = copy_database(dev_build.stack.admin_url)
    adopt_copy(dev_build.stack, url)
    env = dict(dev_build.stack.env(), SPOTIFY_ELT_DATABASE_URL=url)
    try:
        yield env, url
    finally:
        drop_database(url)


def _shell(env: dict[str, str], script: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in bash with this environment's ``spotify-elt`` and ``dbt`` on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    env = dict(env, PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}")
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_db_env_keeps_the_password_off_the_screen(
    copy: tuple[dict[str, str], str], dev_build: Build
) -> None:
    env, url = copy
    transformer = role_name(TRANSFORMER, database_name(url))
    reader_role = role_name(READER, database_name(url))
    proc = cli(env, "db", "env")
    assert proc.returncode == 0, proc.stderr[-2000:]
    password = dev_build.stack.vault.require(db_password_name(transformer))
    assert password not in proc.stdout + proc.stderr
    exports = dict(
        line.removeprefix("export ").split("=", 1)
        for line in proc.stdout.splitlines()
        if line.startswith("export ")
    )
    assert shlex.split(exports[f"{ENV_PREFIX}USER"]) == [transformer]
    assert f"unset {ENV_PREFIX}PASSWORD" in proc.stdout
    pgpass = Path(shlex.split(exports["PGPASSFILE"])[0])
    assert stat.S_IMODE(pgpass.stat().st_mode) == 0o600
    assert pgpass.read_text().rstrip("\n").endswith(f":{transformer}:" + password)
    assert pgpass.parent == Path(env["SPOTIFY_ELT_STATE_DIR"])
    # Printing the password is an explicit act.
    shown = cli(env, "db", "env", "--show-password", "--role", "spotify_reader")
    assert shown.returncode == 0, shown.stderr[-2000:]
    reader = dev_build.stack.vault.require(db_password_name(reader_role))
    assert f"export {ENV_PREFIX}PASSWORD={shlex.quote(reader)}" in shown.stdout
    assert f"export {ENV_PREFIX}USER={reader_role}" in shown.stdout


def test_psql_works_with_the_exports(copy: tuple[dict[str, str], str]) -> None:
    env, url = copy
    proc = _shell(
        env,
        'eval "$(spotify-elt db env --role spotify_reader)"; '
        "psql -XAtc 'select count(*) from gold.fct_plays'",
    )
    if proc.returncode == 127:
        pytest.skip("no psql on this machine")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout.strip()) == query(url, "SELECT count(*) FROM gold.fct_plays")[0][0]


def test_plain_dbt_build_test_and_docs_in_the_project(copy: tuple[dict[str, str], str]) -> None:
    env, url = copy
    target = outside_pytest_tmp("spotify-elt-plain-dbt-")
    # Artifacts and logs outside the repository (the variables dbt itself reads).
    env = dict(env, DBT_TARGET_PATH=str(target / "target"), DBT_LOG_PATH=str(target / "logs"))
    for name in list(env):
        if name.startswith(ENV_PREFIX) or name == "DBT_PROFILES_DIR":
            env.pop(name)
    before = query(url, "SELECT count(*) FROM gold.fct_plays")[0][0]
    proc = _shell(
        env,
        'eval "$(spotify-elt db env)"\n'
        f"cd {shlex.quote(str(PROJECT))}\n"
        "dbt build\n"
        "dbt test -s fct_plays\n"
        "dbt docs generate\n",
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    # build and test say so; docs generate writes the catalog.
    assert proc.stdout.count("Completed successfully") == 2, proc.stdout[-3000:]
    assert "Catalog written to" in proc.stdout
    assert (target / "target" / "catalog.json").is_file()
    assert (target / "target" / "index.html").is_file()
    assert query(url, "SELECT count(*) FROM gold.fct_plays")[0][0] == before
