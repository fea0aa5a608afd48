"""Secrets: distinctive values go through the whole pipeline and turn up nowhere.

The ``pipeline`` run (history import with hashed PII, extraction, dbt build, report, dbt docs,
DataHub catalog, all through the CLI) used a distinctive client secret and PII salt, the session's
random role passwords, and the emulator's random refresh and access tokens. Searched: the output
of every command; every file of the data, config and state directories (the embedded server's
data files and its log included) except the vault and its key; the repository's dbt target and
log folders; and a dump of every table of bronze, silver and gold.

Airflow's logs (task logs of two runs through the real scheduler, the scheduler's, API server's
and DAG processor's own) are searched by ``tests/test_airflow_scheduler.py``
(``test_airflow_logs_hold_no_secret``, a case of this area), on the deployment that module starts.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import PipelineRun
from psycopg import sql
from reliability_support import ROOT, CaseLog, assert_no_secret, searched_files
from suite_support import CLIENT_SECRET, PII_SALT

from spotify_elt.db import database_of, role_names
from spotify_elt.history import SALT_NAME
from spotify_elt.vault import REFRESH_TOKEN, db_password_name

pytestmark = [pytest.mark.reliability("Secrets"), pytest.mark.slow]


def _files(run: PipelineRun) -> Iterator[Path]:
    settings = run.stack.settings
    roots = [settings.data_dir, settings.config_dir, settings.state_dir]
    roots += [ROOT / "dbt_project" / "target", ROOT / "dbt_project" / "logs", ROOT / "logs"]
    return searched_files(settings, roots)


def _haystacks(run: PipelineRun) -> Iterator[tuple[str, bytes]]:
    for name, proc in run.outputs.items():
        yield f"output of spotify-elt {name}", (proc.stdout + proc.stderr).encode()
    for path in _files(run):
        try:
            yield str(path), path.read_bytes()
        except PermissionError:  # pgserver's files as another OS user: read them as it can
            yield str(path), b""
    url = run.stack.admin_url
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('bronze', 'bronze_staging', 'silver', 'gold')"
        ).fetchall()
        for schema, table in tables:
            rows = conn.execute(
                sql.SQL("SELECT t::text FROM {} AS t").format(sql.Identifier(schema, table))
            ).fetchall()
            yield f"{schema}.{table}", "\n".join(r[0] for r in rows).encode()


def test_the_pipeline_ran(pipeline: PipelineRun, reliability: CaseLog) -> None:
    for name, proc in pipeline.outputs.items():
        reliability.output(proc.stdout, proc.stderr)
        assert proc.returncode == 0, f"{name}: {proc.stderr[-3000:]}"
    report = pipeline.stack.settings.data_dir / "reports"
    assert list(report.rglob("*.html"))
    assert list((pipeline.stack.settings.data_dir / "datahub").glob("*.json"))


def test_no_secret_value_anywhere(pipeline: PipelineRun, reliability: CaseLog) -> None:
    vault = pipeline.stack.vault
    client_id = str(pipeline.stack.settings.client_id)
    key_file = pipeline.stack.settings.effective_vault_key_file
    secrets = {
        "client secret": [
            CLIENT_SECRET,
            base64.b64encode(f"{client_id}:{CLIENT_SECRET}".encode()).decode(),
        ],
        "refresh token": [vault.require(REFRESH_TOKEN)],
        "access and refresh tokens issued": pipeline.tokens,
        "role passwords": [
            vault.require(db_password_name(role))
            for role in role_names(database_of(pipeline.stack.admin_url)).values()
        ],
        "PII salt": [PII_SALT],
        "vault key": [line for line in key_file.read_text().splitlines() if line.strip()],
    }
    assert vault.get(SALT_NAME) == PII_SALT
    assert vault.get("spotify_client_secret") == CLIENT_SECRET
    assert all(secrets.values()) and len(pipeline.tokens) > 1
    haystacks = list(_haystacks(pipeline))
    assert len(haystacks) > 50
    assert_no_secret(reliability, secrets, haystacks)
