"""sqlfluff (dbt templater, postgres dialect) finds nothing in the dbt project's SQL.

The dbt templater compiles every model through the profile, so it needs a database: the one of
the session bronze stack, reached through the same SPOTIFY_ELT_DBT_* variables as dbt.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dbt_support import sync_roles

from spotify_elt.dbt_runner import dbt_env

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[1] / "dbt_project"


def test_sqlfluff_is_clean(bronze_stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sync_roles(bronze_stack)
    env = {**os.environ, **dbt_env(bronze_stack.settings, bronze_stack.vault)}
    # The templater's dbt writes its artifacts here, not into the project.
    env["DBT_TARGET_PATH"] = str(tmp_path / "target")
    env["DBT_LOG_PATH"] = str(tmp_path / "logs")
    sqlfluff = Path(sys.executable).with_name("sqlfluff")
    proc = subprocess.run(
        [str(sqlfluff), "lint", "models", "snapshots", "tests", "--nofail", "--format", "json"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    import json

    assert proc.stdout.strip(), proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    linted = [f["filepath"] for f in report]
    assert any(p.endswith("fct_plays.sql") for p in linted), linted
    problems = [
        f"{f['filepath']}:{v['start_line_no']}: {v['code']} {v['description']}"
        for f in report
        for v in f["violations"]
    ]
    assert not problems, "\n".join(problems)
