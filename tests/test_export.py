"""The open-data export: gold as Parquet and CSV, documented, reproducible, without PII.

Runs `spotify-elt export` on the session's dbt build (``dev_build``, ``docs_target`` from
``dbt_support``): no build of its own.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from dbt_support import GOLD_TABLES, Build, cli, query, sync_roles
from stack_support import outside_pytest_tmp

from spotify_elt.export import PII_META_KEY, tables_to_export

pytestmark = pytest.mark.slow

MARTS_YML = Path(__file__).resolve().parents[1] / "dbt_project" / "models" / "marts"
# Column names that identify a person or their device: each must be flagged in the dbt project.
IDENTIFIER_NAMES = re.compile(
    r"(^|_)(owner|added_by|user|username|ip|ip_addr(ess)?|user_agent|email)(_|$)"
    r"|conn_country|countries|context_uri"
)


@pytest.fixture(scope="module")
def exports(dev_build: Build, docs_target: Path) -> Iterator[dict[str, Any]]:
    """Two exports of the same gold, into two folders."""
    stack = dev_build.stack
    sync_roles(stack)
    root = outside_pytest_tmp("spotify-elt-export-")
    runs = []
    for name in ("first", "second"):
        proc = cli(
            stack.env(),
            "export",
            "--out",
            str(root / name),
            "--no-generate",
            "--target-path",
            str(docs_target),
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs.append(proc)
    manifest = json.loads((docs_target / "manifest.json").read_text())
    gold = sorted(
        row[0]
        for row in query(
            stack.admin_url,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'gold'",
        )
    )
    assert set(GOLD_TABLES) <= set(gold)
    yield {
        "gold": gold,
        "stack": stack,
        "first": root / "first",
        "second": root / "second",
        "manifest": manifest,
        "runs": runs,
    }
    shutil.rmtree(root, ignore_errors=True)


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_every_gold_table_in_both_formats_with_documents(exports: dict[str, Any]) -> None:
    files = set(_files(exports["first"]))
    for table in exports["gold"]:
        assert f"parquet/{table}.parquet" in files
        assert f"csv/{table}.csv" in files
    assert {"README.md", "DATA_DICTIONARY.md", "data_dictionary.json", "SHA256SUMS"} <= files
    assert "EXPORTED_AT" in files
    assert f"Exported {len(exports['gold'])} gold tables" in exports["runs"][0].stdout


def test_parquet_reads_back_with_gold_row_counts_and_schema(exports: dict[str, Any]) -> None:
    admin = exports["stack"].admin_url
    declared = {t.name: t for t in tables_to_export(exports["manifest"])}
    assert set(declared) == set(exports["gold"])
    pg_to_pandas = {
        "text": "object",
        "bigint": "int64",
        "integer": "int32",
        "boolean": "bool",
    }
    for table in exports["gold"]:
        frame = pd.read_parquet(exports["first"] / "parquet" / f"{table}.parquet")
        (count,) = query(admin, f"SELECT count(*) FROM gold.{table}")[0]
        assert len(frame) == count, table
        columns = query(
            admin,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'gold' AND table_name = %s ORDER BY ordinal_position",
            (table,),
        )
        # Gold's columns, in gold's order, less the personal ones and the build stamp.
        left_out = {*declared[table].withheld, "dbt_updated_at"}
        assert list(frame.columns) == [name for name, _ in columns if name not in left_out]
        schema = pq.read_schema(exports["first"] / "parquet" / f"{table}.parquet")
        for name, data_type in columns:
            if name in left_out:
                continue
            arrow = schema.field(name).type
            expected = {
                "text": "string",
                "bigint": "int64",
                "integer": "int32",
                "boolean": "bool",
                "date": "date32[day]",
                "timestamp with time zone": "timestamp[us, tz=UTC]",
            }.get(data_type)
            if data_type == "numeric":
                assert str(arrow).startswith("decimal128("), (table, name, arrow)
            elif data_type == "ARRAY":
                assert re.fullmatch(r"list<\w+: string>", str(arrow)), (table, name, arrow)
            else:
                assert str(arrow) == expected, (table, name, data_type, arrow)
            assert schema.field(name).metadata[b"description"], (table, name)
            if data_type in pg_to_pandas and not frame[name].isna().any():
                # Nullable ints come back as floats when they hold nulls; exact otherwise.
                assert str(frame[name].dtype) in (pg_to_pandas[data_type], "string", "str")
    # A spot check of values: the plays, in the total order of the export.
    plays = pd.read_parquet(exports["first"] / "parquet" / "fct_plays.parquet")
    gold_ids = [row[0] for row in query(admin, "SELECT play_id FROM gold.fct_plays")]
    assert sorted(plays["play_id"]) == sorted(gold_ids)
    assert list(plays["play_id"]) == sorted(plays["play_id"])


def test_csv_matches_parquet(exports: dict[str, Any]) -> None:
    for table in ("fct_plays", "dim_artists", "rpt_listening_habits"):
        parquet = pd.read_parquet(exports["first"] / "parquet" / f"{table}.parquet")
        csv = pd.read_csv(exports["first"] / "csv" / f"{table}.csv")
        assert list(csv.columns) == list(parquet.columns)
        assert len(csv) == len(parquet)
    artists = pd.read_csv(exports["first"] / "csv" / "dim_artists.csv")
    genres = artists["genres"].dropna()
    # Lists are JSON arrays in CSV.
    assert all(isinstance(json.loads(v), list) for v in genres)


def test_two_exports_of_the_same_gold_are_byte_identical(exports: dict[str, Any]) -> None:
    first, second = _files(exports["first"]), _files(exports["second"])
    assert set(first) == set(second)
    different = [name for name in first if first[name] != second[name]]
    # Only the timestamp file may differ.
    assert set(different) <= {"EXPORTED_AT"}, different
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n", first["EXPORTED_AT"].decode())
    sums = first["SHA256SUMS"].decode().splitlines()
    assert len(sums) == len(first) - 2  # every file but SHA256SUMS and EXPORTED_AT
    for line in sums:
        digest, name = line.split("  ", 1)
        assert hashlib.sha256(first[name]).hexdigest() == digest


def test_no_personal_identifier_is_exported(exports: dict[str, Any]) -> None:
    admin = exports["stack"].admin_url
    emulator = exports["stack"].emulator.state.config
    values = {emulator.user_id, emulator.user_display_name}
    # (Not other users' display names: the emulator draws them from the pool of artist names.)
    for statement in (
        "SELECT owner_id FROM gold.dim_playlists",
        "SELECT added_by_id FROM gold.fct_playlist_tracks",
        "SELECT context_uri FROM gold.fct_plays WHERE context_uri LIKE 'spotify:user:%%'",
    ):
        values |= {row[0] for row in query(admin, statement) if row[0]}
    assert emulator.user_id and len(values) > 1
    folder = exports["first"]
    paths = sorted(folder.rglob("*"))
    assert {".parquet", ".csv"} <= {p.suffix for p in paths}
    for path in paths:
        if not path.is_file():
            continue
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
            text = frame.to_csv(index=False)
            names = list(frame.columns)
        else:
            text = path.read_text()
            names = (
                text.splitlines()[0].replace('"', "").split(",") if path.suffix == ".csv" else []
            )
        for value in values:
            assert value not in text, (path, value)
        for name in names:
            assert not IDENTIFIER_NAMES.search(name), (path, name)
    readme = (folder / "README.md").read_text()
    for column in (
        "dim_playlists.owner_id",
        "fct_playlist_tracks.added_by_id",
        "fct_plays.conn_country",
    ):
        assert f"`{column}`" in readme


def test_personal_columns_of_gold_are_flagged_in_the_dbt_project() -> None:
    """The export's deny-list is the dbt meta: a new identifying column must carry it."""
    flagged, unflagged = [], []
    for path in sorted(MARTS_YML.glob("*.yml")):
        for model in yaml.safe_load(path.read_text()).get("models", []):
            for column in model.get("columns", []):
                meta = {**column.get("meta", {}), **column.get("config", {}).get("meta", {})}
                if IDENTIFIER_NAMES.search(column["name"]):
                    (flagged if meta.get(PII_META_KEY) else unflagged).append(
                        f"{model['name']}.{column['name']}"
                    )
    assert not unflagged, f"flag these gold columns with meta {PII_META_KEY}: true: {unflagged}"
    assert "dim_playlists.owner_id" in flagged and "fct_plays.conn_country" in flagged


def test_dictionary_documents_types_descriptions_and_tests(exports: dict[str, Any]) -> None:
    doc = json.loads((exports["first"] / "data_dictionary.json").read_text())
    tables = {t["name"]: t for t in doc["tables"]}
    assert set(tables) == set(exports["gold"])
    plays = tables["fct_plays"]
    assert plays["description"] and plays["rows"] > 0
    columns = {c["name"]: c for c in plays["columns"]}
    assert columns["play_id"]["type"] == "text"
    assert {"unique", "not_null"} <= set(columns["play_id"]["tests"])
    assert "relationships: dim_date.date_day" in columns["played_date"]["tests"]
    assert all(c["description"] for t in doc["tables"] for c in t["columns"])
    assert "conn_country" in plays["withheld_columns"] and "conn_country" not in columns
    markdown = (exports["first"] / "DATA_DICTIONARY.md").read_text()
    assert "## fct_plays" in markdown and "| `play_id` | text |" in markdown
    readme = (exports["first"] / "README.md").read_text()
    assert "## Licence" in readme and "CC-BY-4.0" in readme
    assert f"| `fct_plays` | {plays['rows']:,} |" in readme


def test_export_refuses_a_foreign_folder(
    exports: dict[str, Any], tmp_path: Path, docs_target: Path
) -> None:
    (tmp_path / "thesis.tex").write_text("precious")
    proc = cli(
        exports["stack"].env(),
        "export",
        "--out",
        str(tmp_path),
        "--no-generate",
        "--target-path",
        str(docs_target),
    )
    assert proc.returncode == 10
    assert "not empty and holds no earlier export" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (tmp_path / "thesis.tex").read_text() == "precious"


def test_csv_only_export(exports: dict[str, Any], tmp_path: Path, docs_target: Path) -> None:
    out = tmp_path / "csv-only"
    proc = cli(
        exports["stack"].env(),
        "export",
        "--out",
        str(out),
        "--format",
        "csv",
        "--no-generate",
        "--target-path",
        str(docs_target),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not (out / "parquet").exists()
    assert (out / "csv" / "fct_plays.csv").read_bytes() == (
        exports["first"] / "csv" / "fct_plays.csv"
    ).read_bytes()
