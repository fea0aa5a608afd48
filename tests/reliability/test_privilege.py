"""Least privilege on the pipeline's real tables: each role can do its job and nothing more.

``spotify_reader`` (the report) reads gold only and writes nothing; ``spotify_loader`` (the
extractor) never touches silver or gold; ``spotify_transformer`` (dbt) never writes bronze.
Each statement is one case, refused by PostgreSQL (insufficient privilege) or the case fails.
"""

from __future__ import annotations

import psycopg
import pytest
from conftest import PipelineRun
from psycopg import sql
from reliability_support import CaseLog

from spotify_elt.db import LOADER, READER, TRANSFORMER, database_of, role_names, role_urls

pytestmark = [pytest.mark.reliability("Least privilege"), pytest.mark.slow]


def _tables(run: PipelineRun, schema: str) -> list[str]:
    with psycopg.connect(run.stack.admin_url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "AND table_type = 'BASE TABLE' ORDER BY 1",
            (schema,),
        ).fetchall()
    return [r[0] for r in rows]


def _statements(run: PipelineRun) -> list[tuple[str, sql.Composable]]:
    """(role, statement) pairs that must be refused."""
    ident = sql.Identifier
    refused: list[tuple[str, sql.Composable]] = []
    bronze, silver, gold = (_tables(run, s) for s in ("bronze", "silver", "gold"))
    names = role_names(database_of(run.stack.admin_url))  # this installation's roles
    assert bronze and silver and gold
    with psycopg.connect(run.stack.admin_url) as conn:
        views = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.views WHERE table_schema = 'silver'"
            ).fetchall()
        ]
    for schema, tables in (("bronze", bronze), ("silver", silver + views)):
        for table in tables:
            refused.append((READER, sql.SQL("SELECT * FROM {}").format(ident(schema, table))))
    for table in gold:
        t = ident("gold", table)
        refused += [
            (READER, sql.SQL("INSERT INTO {} DEFAULT VALUES").format(t)),
            (READER, sql.SQL("DELETE FROM {}").format(t)),
            (READER, sql.SQL("TRUNCATE {}").format(t)),
            (LOADER, sql.SQL("SELECT * FROM {}").format(t)),
            (LOADER, sql.SQL("INSERT INTO {} DEFAULT VALUES").format(t)),
        ]
    first_gold = ident("gold", gold[0])
    with psycopg.connect(run.stack.admin_url) as conn:
        column = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'gold' "
            "AND table_name = %s ORDER BY ordinal_position LIMIT 1",
            (gold[0],),
        ).fetchone()
    assert column
    refused += [
        (READER, sql.SQL("UPDATE {} SET {} = NULL").format(first_gold, ident(column[0]))),
        (READER, sql.SQL("DROP TABLE {}").format(first_gold)),
        (READER, sql.SQL("ALTER TABLE {} ADD COLUMN x int").format(first_gold)),
        (LOADER, sql.SQL("DROP TABLE {}").format(first_gold)),
    ]
    for table in silver:
        refused.append((LOADER, sql.SQL("SELECT * FROM {}").format(ident("silver", table))))
    for schema in ("bronze", "silver", "gold", "public"):
        refused.append(
            (READER, sql.SQL("CREATE TABLE {} (x int)").format(ident(schema, "reader_was_here")))
        )
    for schema in ("silver", "gold", "public"):
        refused.append(
            (LOADER, sql.SQL("CREATE TABLE {} (x int)").format(ident(schema, "loader_was_here")))
        )
    for table in bronze:
        t = ident("bronze", table)
        refused += [
            (TRANSFORMER, sql.SQL("DELETE FROM {}").format(t)),
            (TRANSFORMER, sql.SQL("TRUNCATE {}").format(t)),
        ]
    refused += [
        (TRANSFORMER, sql.SQL("DROP TABLE {}").format(ident("bronze", bronze[0]))),
        (TRANSFORMER, sql.SQL("CREATE TABLE {} (x int)").format(ident("bronze", "t_was_here"))),
        (READER, sql.SQL("CREATE SCHEMA reader_schema")),
        (LOADER, sql.SQL("CREATE SCHEMA loader_schema")),
        (READER, sql.SQL("ALTER ROLE {} SUPERUSER").format(ident(names[READER]))),
        (
            LOADER,
            sql.SQL("GRANT {} TO {}").format(ident(names[TRANSFORMER]), ident(names[LOADER])),
        ),
        (READER, sql.SQL("COPY (SELECT 1) TO PROGRAM 'true'")),
    ]
    return refused


def test_every_role_is_refused_what_is_not_its_job(
    pipeline: PipelineRun, reliability: CaseLog
) -> None:
    urls = role_urls(pipeline.stack.admin_url, pipeline.stack.vault)
    statements = _statements(pipeline)
    assert len(statements) > 100
    connections = {
        role: psycopg.connect(urls.for_role(role)) for role in (READER, LOADER, TRANSFORMER)
    }
    try:
        # What each role is for still works (the refusals below are not a broken login).
        for role, check in (
            (READER, "SELECT count(*) FROM gold.fct_plays"),
            (LOADER, "SELECT count(*) FROM bronze.recently_played"),
            (TRANSFORMER, "SELECT count(*) FROM bronze.recently_played"),
        ):
            row = connections[role].execute(check).fetchone()
            connections[role].rollback()
            assert row and row[0] > 0, check
        for role, statement in statements:
            conn = connections[role]
            with reliability.case(f"{role}: {statement.as_string(conn)}"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
                conn.rollback()
    finally:
        for conn in connections.values():
            conn.close()
