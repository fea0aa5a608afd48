"""Open data: gold as Parquet and CSV, with a data dictionary and a README, free of PII.

``spotify-elt export`` publishes the gold tables of the current target in a folder that can be
shared as it is (a data portal, a repository, a Kaggle dataset):

* ``parquet/<table>.parquet`` and ``csv/<table>.csv``, written by pyarrow;
* ``data_dictionary.json`` and ``DATA_DICTIONARY.md``, from dbt's manifest and catalog: table and
  column descriptions, types, and the dbt tests each table and column passes;
* ``README.md`` with the tables, their row counts, a licence note and how to read them;
* ``SHA256SUMS`` of every file above, and ``EXPORTED_AT``, the only file that changes when gold
  does not.

What is exported is an allow-list taken from the dbt project: the gold models and the columns
their (enforced) contracts declare, less every column whose ``meta`` says ``contains_pii: true``
(user ids, usernames, devices, countries: see ``dbt_project/models/marts/<model>.yml``) and
every column whose ``meta`` says ``export: false`` (``dbt_updated_at``: when dbt wrote the row).
A column the contract does not declare is never exported, so a new model or column stays out of
the export until it is described, and a personal one stays out until someone decides it is not.

The output is reproducible: rows are sorted by every exported column, writers run with fixed
options, and no file but ``EXPORTED_AT`` holds a timestamp, so the same gold gives the same bytes.
Gold is read as the ``spotify_reader`` role.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .config import Settings
from .errors import UserError

log = logging.getLogger(__name__)

FORMATS = ("parquet", "csv")
PII_META_KEY = "contains_pii"
# A column whose meta says `export: false` is build metadata, never exported.
EXPORT_META_KEY = "export"
DEFAULT_LICENSE = "CC-BY-4.0"
TIMESTAMP_FILE = "EXPORTED_AT"
_MARKER = "data_dictionary.json"
# Fixed writer options: part of the reproducibility promise (same gold, same bytes).
_PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 9,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
    "row_group_size": 1_000_000,
}


class ExportError(UserError):
    """Gold could not be exported (not built yet, a bad output folder, an unknown type)."""

    exit_code = 10


@dataclass(frozen=True)
class ExportColumn:
    name: str
    data_type: str  # the contract's (PostgreSQL) type
    description: str
    tests: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExportTable:
    name: str
    description: str
    columns: tuple[ExportColumn, ...]
    withheld: tuple[str, ...]  # columns left out as personal data
    tests: tuple[str, ...] = ()


@dataclass
class ExportResult:
    out_dir: Path
    formats: tuple[str, ...]
    row_counts: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


# --------------------------------------------------------------------------- what to export


def _describe_test(test: dict[str, Any]) -> str:
    meta = test.get("test_metadata") or {}
    name = str(meta.get("name") or test["name"])
    kwargs = {
        k: v for k, v in (meta.get("kwargs") or {}).items() if k not in ("model", "column_name")
    }
    if name == "accepted_values":
        return "accepted_values: " + ", ".join(str(v) for v in kwargs.get("values", []))
    if name == "relationships":
        to = re.sub(r"^ref\('([^']+)'\)$", r"\1", str(kwargs.get("to", "")))
        return f"relationships: {to}.{kwargs.get('field')}"
    if name == "between":
        return f"between {kwargs.get('min_value')} and {kwargs.get('max_value')}"
    if not meta:  # a singular test (a SQL file in tests/)
        return f"singular: {name}"
    if kwargs:
        return f"{name}: " + json.dumps(kwargs, sort_keys=True, default=str)
    return name


def tables_to_export(manifest: dict[str, Any]) -> list[ExportTable]:
    """The gold models and their exportable columns, from dbt's manifest (sorted by name)."""
    tests_by_model: dict[str, dict[str | None, list[str]]] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "test":
            continue
        targets = [node["attached_node"]] if node.get("attached_node") else []
        if not targets:  # singular tests: every gold model they read
            targets = [d for d in node["depends_on"]["nodes"] if d.startswith("model.")]
        for uid in targets:
            by_column = tests_by_model.setdefault(uid, {})
            by_column.setdefault(node.get("column_name"), []).append(_describe_test(node))
    tables: list[ExportTable] = []
    for uid, node in sorted(manifest["nodes"].items(), key=lambda kv: kv[1]["name"]):
        if node["resource_type"] != "model" or node["schema"] != "gold":
            continue
        tests = tests_by_model.get(uid, {})
        columns: list[ExportColumn] = []
        withheld: list[str] = []
        for name, column in node["columns"].items():
            meta = {**(column.get("meta") or {}), **(column.get("config", {}).get("meta") or {})}
            if meta.get(PII_META_KEY):
                withheld.append(name)
                continue
            if meta.get(EXPORT_META_KEY) is False:
                continue  # build metadata (e.g. dbt_updated_at), not data
            if not column.get("data_type"):
                raise ExportError(
                    f"The gold column {node['name']}.{name} declares no data_type; "
                    "gold contracts must type every column."
                )
            columns.append(
                ExportColumn(
                    name=name,
                    data_type=str(column["data_type"]).strip().lower(),
                    description=" ".join(str(column.get("description") or "").split()),
                    tests=tuple(sorted(tests.get(name, []))),
                )
            )
        tables.append(
            ExportTable(
                name=node["name"],
                description=" ".join(str(node.get("description") or "").split()),
                columns=tuple(columns),
                withheld=tuple(withheld),
                tests=tuple(sorted(tests.get(None, []))),
            )
        )
    if not tables:
        raise ExportError("The dbt manifest has no gold models; is it the spotify_elt project's?")
    return tables


# --------------------------------------------------------------------------- types


def arrow_type(data_type: str) -> Any:
    """The Arrow type of a contract's PostgreSQL type."""
    import pyarrow as pa

    simple = {
        "text": pa.string(),
        "varchar": pa.string(),
        "character varying": pa.string(),
        "bigint": pa.int64(),
        "integer": pa.int32(),
        "int": pa.int32(),
        "smallint": pa.int16(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "double precision": pa.float64(),
        "real": pa.float32(),
        "timestamp with time zone": pa.timestamp("us", tz="UTC"),
        "timestamptz": pa.timestamp("us", tz="UTC"),
        "timestamp without time zone": pa.timestamp("us"),
        "timestamp": pa.timestamp("us"),
    }
    if data_type.endswith("[]"):
        return pa.list_(arrow_type(data_type[:-2]))
    if data_type in simple:
        return simple[data_type]
    match = re.fullmatch(r"numeric\((\d+),\s*(\d+)\)", data_type)
    if match:
        return pa.decimal128(int(match.group(1)), int(match.group(2)))
    raise ExportError(f"The export does not know the PostgreSQL type {data_type!r} yet.")


def _csv_ready(table: Any) -> Any:
    """CSV has no lists: list columns become JSON arrays (text)."""
    import pyarrow as pa

    columns = []
    for column, f in zip(table.columns, table.schema, strict=True):
        if pa.types.is_list(f.type):
            values = [
                None if v is None else json.dumps(v, ensure_ascii=False) for v in column.to_pylist()
            ]
            columns.append(pa.array(values, pa.string()))
        else:
            columns.append(column)
    return pa.table(columns, names=table.column_names)


# --------------------------------------------------------------------------- reading gold


def read_table(conn: Any, table: ExportTable) -> Any:
    """One gold table as an Arrow table: the exported columns only, rows in a total order."""
    import psycopg
    import pyarrow as pa
    from psycopg import sql

    names = [c.name for c in table.columns]
    statement = sql.SQL("SELECT {} FROM {}.{} ORDER BY {}").format(
        sql.SQL(", ").join(sql.Identifier(n) for n in names),
        sql.Identifier("gold"),
        sql.Identifier(table.name),
        sql.SQL(", ").join(sql.Literal(i + 1) for i in range(len(names))),
    )
    try:
        rows = conn.execute(statement).fetchall()
    except psycopg.errors.UndefinedTable:
        raise ExportError(
            f"The gold table {table.name} does not exist; run `spotify-elt transform` first."
        ) from None
    except psycopg.errors.UndefinedColumn as exc:
        raise ExportError(
            f"gold.{table.name} does not match the dbt project "
            f"({str(exc).splitlines()[0]}); run `spotify-elt transform` first."
        ) from None
    fields = [
        pa.field(c.name, arrow_type(c.data_type), metadata={"description": c.description})
        for c in table.columns
    ]
    schema = pa.schema(
        fields, metadata={"dbt_model": f"gold.{table.name}", "description": table.description}
    )
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays = [pa.array(list(values), f.type) for values, f in zip(columns, fields, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


# --------------------------------------------------------------------------- documents


def dictionary_json(tables: list[ExportTable], counts: dict[str, int]) -> str:
    doc = {
        "tables": [
            {
                "name": t.name,
                "description": t.description,
                "rows": counts[t.name],
                "tests": list(t.tests),
                "columns": [
                    {
                        "name": c.name,
                        "type": c.data_type,
                        "arrow_type": str(arrow_type(c.data_type)),
                        "description": c.description,
                        "tests": list(c.tests),
                    }
                    for c in t.columns
                ],
                "withheld_columns": list(t.withheld),
            }
            for t in tables
        ]
    }
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def dictionary_markdown(tables: list[ExportTable], counts: dict[str, int]) -> str:
    lines = [
        "# Data dictionary",
        "",
        "Generated from the dbt project's documentation (models, columns, contracts and tests).",
        "",
    ]
    for t in tables:
        lines += [f"## {t.name}", "", t.description, "", f"Rows: {counts[t.name]:,}", ""]
        if t.tests:
            lines += ["Table tests: " + "; ".join(f"`{x}`" for x in t.tests), ""]
        lines += ["| Column | Type | Description | Tests |", "| --- | --- | --- | --- |"]
        for c in t.columns:
            tests = ", ".join(f"`{_cell(x)}`" for x in c.tests)
            lines.append(f"| `{c.name}` | {c.data_type} | {_cell(c.description)} | {tests} |")
        if t.withheld:
            lines += ["", "Withheld as personal data: " + ", ".join(f"`{n}`" for n in t.withheld)]
        lines.append("")
    return "\n".join(lines)


def readme(
    tables: list[ExportTable], counts: dict[str, int], formats: tuple[str, ...], license_id: str
) -> str:
    withheld = sorted({f"{t.name}.{c}" for t in tables for c in t.withheld})
    names = [t.name for t in tables]
    first = "fct_plays" if "fct_plays" in names else names[0]
    lines = [
        "# Spotify listening data (spotify-elt open-data export)",
        "",
        "One listener's Spotify listening history and library, modelled by the spotify-elt dbt "
        "project into a star schema (`dim_*` dimensions, `fct_*` facts) and report tables "
        "(`rpt_*`). Every table is documented column by column in `DATA_DICTIONARY.md` (also "
        "as `data_dictionary.json`).",
        "",
        "## Tables",
        "",
        "| Table | Rows | Files | Description |",
        "| --- | ---: | --- | --- |",
    ]
    for t in tables:
        files = ", ".join(f"`{fmt}/{t.name}.{fmt}`" for fmt in formats)
        summary = t.description.split(". ")[0].rstrip(".") + "."
        lines.append(f"| `{t.name}` | {counts[t.name]:,} | {files} | {_cell(summary)} |")
    lines += [
        "",
        "## Reading it",
        "",
        "```python",
        "import pandas as pd",
        "",
        f'{first} = pd.read_parquet("parquet/{first}.parquet")'
        if "parquet" in formats
        else f'{first} = pd.read_csv("csv/{first}.csv")',
        "```",
        "",
        "Parquet keeps the types (dates, UTC timestamps, decimals, lists) and each column's "
        "description in its schema. In CSV, lists are JSON arrays, timestamps are UTC "
        "(`YYYY-MM-DD HH:MM:SS.ffffffZ`) and an empty field is a null.",
        "",
        "## Privacy",
        "",
        "Personal identifiers are never exported: user ids and display names, IP addresses, user "
        "agents and usernames of the privacy export (they never reach gold), devices and "
        "countries. The columns withheld from these tables are:",
        "",
        *[f"- `{name}`" for name in withheld],
        "",
        "The rows still describe one person's listening: publish only your own data.",
        "",
        "## Licence",
        "",
        f"The listening data (plays, their times, and the tables derived from them) is made "
        f"available by its owner under {license_id} "
        f"(https://spdx.org/licenses/{license_id}.html). Names, identifiers, URLs and "
        "popularity figures of tracks, albums, artists and playlists are Spotify catalogue "
        "metadata from the Spotify Web API: they remain subject to the Spotify Developer Terms "
        "and to their owners' rights, and are included only so that the data can be read. "
        "Check both before republishing.",
        "",
        "## Integrity",
        "",
        "`SHA256SUMS` lists a checksum of every file (`sha256sum -c SHA256SUMS`). The same gold "
        f"gives byte-identical files; only `{TIMESTAMP_FILE}` says when this copy was made.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- the export


def _prepare_out_dir(out: Path) -> None:
    """An empty folder, or an earlier export (replaced); refuse to clobber anything else."""
    if out.exists():
        if not out.is_dir():
            raise ExportError(f"The export folder {out} is a file.")
        entries = list(out.iterdir())
        if entries and not (out / _MARKER).exists():
            raise ExportError(
                f"The export folder {out} is not empty and holds no earlier export; "
                "choose another --out."
            )
        for entry in entries:
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    out.mkdir(parents=True, exist_ok=True)


def write_export(
    conn: Any,
    manifest: dict[str, Any],
    out: Path,
    *,
    formats: tuple[str, ...] = FORMATS,
    license_id: str = DEFAULT_LICENSE,
    now: datetime | None = None,
) -> ExportResult:
    """Write the export of the gold tables ``conn`` (the reader's connection) can read."""
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    unknown = set(formats) - set(FORMATS)
    if not formats or unknown:
        raise ExportError(f"The export formats are {', '.join(FORMATS)}, got {formats!r}.")
    formats = tuple(f for f in FORMATS if f in formats)
    tables = tables_to_export(manifest)
    out = out.resolve()
    _prepare_out_dir(out)
    result = ExportResult(out, formats)
    conn.execute("SET TIME ZONE 'UTC'")
    for table in tables:
        data = read_table(conn, table)
        result.row_counts[table.name] = data.num_rows
        if "parquet" in formats:
            path = out / "parquet" / f"{table.name}.parquet"
            path.parent.mkdir(exist_ok=True)
            pq.write_table(data, path, **_PARQUET_OPTIONS)
            result.files.append(path)
        if "csv" in formats:
            path = out / "csv" / f"{table.name}.csv"
            path.parent.mkdir(exist_ok=True)
            pa_csv.write_csv(
                _csv_ready(data),
                path,
                write_options=pa_csv.WriteOptions(include_header=True, delimiter=","),
            )
            result.files.append(path)
        log.debug("exported gold.%s: %d rows", table.name, data.num_rows)
    documents = {
        "README.md": readme(tables, result.row_counts, formats, license_id),
        "DATA_DICTIONARY.md": dictionary_markdown(tables, result.row_counts),
        _MARKER: dictionary_json(tables, result.row_counts),
    }
    for name, text in documents.items():
        (out / name).write_text(text, encoding="utf-8")
        result.files.append(out / name)
    result.files.sort()
    sums = "".join(
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(out).as_posix()}\n"
        for p in result.files
    )
    (out / "SHA256SUMS").write_text(sums, encoding="utf-8")
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    (out / TIMESTAMP_FILE).write_text(stamp + "\n", encoding="utf-8")
    return result


def default_out_dir(settings: Settings, database: str) -> Path:
    return Path(settings.data_dir) / "export" / database


def run_export(
    settings: Settings,
    vault: Any,
    *,
    out_dir: Path | None = None,
    formats: tuple[str, ...] = FORMATS,
    license_id: str = DEFAULT_LICENSE,
    target_path: Path | None = None,
    generate: bool = True,
) -> ExportResult:
    """Export the gold of ``settings``' database; ``dbt docs generate`` first unless not
    ``generate`` (then the manifest in ``target_path`` describes the tables)."""
    from .db import DatabaseTarget, connect, database_of, role_urls
    from .transform import default_target_path, generate_docs

    admin = DatabaseTarget(settings).admin_url()
    target = target_path or default_target_path(settings)
    if generate:
        generate_docs(settings, vault, target_path=target, quiet=True)
    try:
        manifest = json.loads((target / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise ExportError(
            f"The dbt manifest in {target} cannot be read ({exc}); run `spotify-elt docs "
            "generate` first, or leave out --no-generate."
        ) from None
    out = out_dir or default_out_dir(settings, database_of(admin))
    with connect(role_urls(admin, vault).reader) as conn:
        return write_export(conn, manifest, out, formats=formats, license_id=license_id)
