"""The reliability suite's bookkeeping: the cases every test tries, and ``docs/reliability.md``.

A test joins the suite with the marker ``@pytest.mark.reliability("<area>")`` (or a module-level
``pytestmark``); each test item, and each parametrised case of it, counts as one case, survived
when the test passes. A test that tries several cases in a loop names each one with
``reliability.case(name)``; it reports what it measured through the ``reliability`` fixture, and
asserts on the values the fixture returns, so the counts in the document are the measured ones:

* ``reliability.compare(got, want)``: bronze fingerprints (:func:`bronze_fingerprint`) or any
  row lists; returns rows ``(lost, duplicated)``;
* ``reliability.secret_hits(hits)``: places where a secret value was found;
* ``reliability.output(text, ...)``: output a user sees; returns the tracebacks in it.

Captured stdout/stderr of every marked test is scanned for tracebacks as well. At the end of a
session that ran the whole suite, ``tests/reliability/test_reliability_doc.py`` renders
``docs/reliability.md`` from the counts and fails when the committed file differs;
``RELIABILITY_UPDATE_DOC=1 pytest -m reliability`` rewrites it. ``RELIABILITY_RESULTS=<file>``
also writes the raw counts as JSON at the end of the session.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from stack_support import SPOTIFY_BRONZE_KEYS

from spotify_elt.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
MARKER = "reliability"
TRACEBACK = "Traceback (most recent call last)"
DOC_TEST = "test_reliability_doc_is_current"

#: The order areas appear in the document (others follow alphabetically).
AREAS = (
    "API faults",
    "Crash safety",
    "PostgreSQL restart",
    "Bad input",
    "Secrets",
    "Least privilege",
    "Injection",
    "Concurrency",
)

#: Natural keys of the bronze tables (a table not listed is keyed by all its plain columns).
BRONZE_KEYS: dict[str, tuple[str, ...]] = {
    **SPOTIFY_BRONZE_KEYS,
    "streaming_history": ("play_key",),
}
#: Columns that differ between two loads of the same data (load ids, request times).
VOLATILE = ("_dlt_load_id", "_dlt_id", "requested_at", "imported_at")


# --------------------------------------------------------------------------- fingerprints

Fingerprint = dict[str, list[tuple[str, str]]]


def bronze_fingerprint(admin_url: str, *, base_url: str | None = None) -> Fingerprint:
    """Every bronze table as sorted ``(key, hash of the row)`` pairs, load columns left out.

    ``base_url`` (an emulator's address, which its links carry) is replaced before hashing, so
    that loads from two emulators on two ports compare equal.
    """
    found: Fingerprint = {}
    with psycopg.connect(admin_url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'bronze' "
                "AND table_name NOT LIKE '\\_dlt%' ORDER BY 1"
            ).fetchall()
        ]
        for table in tables:
            columns = [
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = 'bronze' AND table_name = %s ORDER BY ordinal_position",
                    (table,),
                ).fetchall()
            ]
            keys = BRONZE_KEYS.get(table) or tuple(
                c for c in columns if c not in (*VOLATILE, "payload", "endpoint")
            )
            row = sql.SQL("to_jsonb(t)") + sql.SQL("").join(
                sql.SQL(" - {}").format(sql.Literal(c)) for c in VOLATILE if c in columns
            )
            key = sql.SQL("jsonb_build_array({})").format(
                sql.SQL(", ").join(sql.Identifier(k) for k in keys)
            )
            query = sql.SQL(
                "SELECT {key}::text, md5(replace(({row})::text, %s, 'EMULATOR')) "
                "FROM {table} AS t ORDER BY 1, 2"
            ).format(key=key, row=row, table=sql.Identifier("bronze", table))
            found[table] = [(k, h) for k, h in conn.execute(query, (base_url or "\x01",))]
    return found


def rows_of(fingerprint: Fingerprint) -> int:
    return sum(len(rows) for rows in fingerprint.values())


# --------------------------------------------------------------------------- counting


@dataclass
class Tally:
    """What one area (or the whole suite) tried and measured."""

    tried: int = 0
    survived: int = 0
    rows_compared: int = 0
    rows_lost: int = 0
    rows_duplicated: int = 0
    secret_hits: int = 0
    tracebacks: int = 0

    def add(self, other: Tally) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


@dataclass
class ItemRecord:
    """The cases of one test item."""

    nodeid: str
    area: str
    cases: list[tuple[str, bool]] = field(default_factory=list)
    measured: Tally = field(default_factory=Tally)
    passed: bool | None = None

    def tally(self) -> Tally:
        total = Tally(**asdict(self.measured))
        cases = self.cases or [("", bool(self.passed))]
        total.tried = len(cases)
        survived = sum(1 for _, ok in cases if ok)
        if not self.passed:
            survived = min(survived, total.tried - 1)
        total.survived = survived
        return total


class CaseLog:
    """The ``reliability`` fixture: what a test reports about the cases it tries."""

    def __init__(self, record: ItemRecord) -> None:
        self._record = record

    @contextlib.contextmanager
    def case(self, name: str) -> Iterator[None]:
        """One case of a test that tries several; survived when the block exits cleanly."""
        index = len(self._record.cases)
        self._record.cases.append((name, False))
        yield
        self._record.cases[index] = (name, True)

    def compare(
        self, got: Fingerprint | Sequence[Any], want: Fingerprint | Sequence[Any]
    ) -> tuple[int, int]:
        """Rows of ``want`` missing from ``got`` and extra copies of a key in ``got``."""
        got_rows, want_rows = _flatten(got), _flatten(want)
        missing = Counter(want_rows) - Counter(got_rows)
        keys = Counter((t, k) for t, k, _ in got_rows)
        duplicated = sum(n - 1 for n in keys.values() if n > 1)
        lost = sum(missing.values())
        measured = self._record.measured
        measured.rows_compared += len(want_rows)
        measured.rows_lost += lost
        measured.rows_duplicated += duplicated
        return lost, duplicated

    def duplicates(self, got: Fingerprint | Sequence[Any]) -> int:
        """Extra copies of a key in ``got`` (for a result with no reference to compare to)."""
        keys = Counter((t, k) for t, k, _ in _flatten(got))
        duplicated = sum(n - 1 for n in keys.values() if n > 1)
        self._record.measured.rows_duplicated += duplicated
        return duplicated

    def secret_hits(self, hits: int) -> int:
        self._record.measured.secret_hits += hits
        return hits

    def output(self, *texts: str | None) -> int:
        """Tracebacks in output a user sees (a CLI's stdout and stderr)."""
        found = sum((text or "").count(TRACEBACK) for text in texts)
        self._record.measured.tracebacks += found
        return found


def _flatten(rows: Fingerprint | Sequence[Any]) -> list[tuple[Any, Any, Any]]:
    if isinstance(rows, dict):
        return [(table, key, digest) for table, pairs in rows.items() for key, digest in pairs]
    flat = []
    for row in rows:
        values = tuple(row) if isinstance(row, Iterable) and not isinstance(row, str) else (row,)
        flat.append(("", values[:-1] if len(values) > 1 else values, values[-1]))
    return flat


class Recorder:
    """All the items of the session, and whether the whole suite ran."""

    def __init__(self) -> None:
        self.items: dict[str, ItemRecord] = {}
        self.collected: set[str] = set()
        self.deselected: set[str] = set()
        #: Cases this machine cannot run (e.g. no server of its own to restart).
        self.skipped: set[str] = set()
        self.default_args = True

    def totals(self) -> tuple[dict[str, Tally], Tally]:
        by_area: dict[str, Tally] = {}
        for record in self.items.values():
            if record.passed is None:
                continue
            by_area.setdefault(record.area, Tally()).add(record.tally())
        total = Tally()
        for tally in by_area.values():
            total.add(tally)
        return by_area, total

    def as_json(self) -> dict[str, Any]:
        by_area, total = self.totals()
        return {
            "total": asdict(total),
            "areas": {area: asdict(t) for area, t in by_area.items()},
            "items": {
                nodeid: {"area": r.area, "passed": r.passed, "tally": asdict(r.tally())}
                for nodeid, r in sorted(self.items.items())
                if r.passed is not None
            },
        }


def _area_order(area: str) -> tuple[int, str]:
    return (AREAS.index(area) if area in AREAS else len(AREAS), area)


COLUMNS = (
    ("cases tried", "tried"),
    ("survived", "survived"),
    ("rows compared", "rows_compared"),
    ("rows lost", "rows_lost"),
    ("rows duplicated", "rows_duplicated"),
    ("secret hits", "secret_hits"),
    ("tracebacks", "tracebacks"),
)


def render(recorder: Recorder) -> str:
    """The text of ``docs/reliability.md`` for the counts of ``recorder``."""
    by_area, total = recorder.totals()
    lines = [
        "# Reliability and security: the counts",
        "",
        "Generated by the reliability suite (`pytest -m reliability`, part of",
        "`uv run --locked scripts/check` and `.ci/run`); do not edit by hand. After changing the",
        "suite, regenerate it with",
        "`RELIABILITY_UPDATE_DOC=1 uv run --locked pytest -m reliability`",
        "(the suite fails while this file differs from what it measured; on a machine where a",
        "case cannot run, e.g. no server of its own to restart, the check skips, saying so).",
        "These counts include the machine's PostgreSQL server restarted mid-load: regenerate with",
        "`SPOTIFY_ELT_TEST_DATABASE_URL=<its admin DSN> SPOTIFY_ELT_TEST_RESTART_SERVER=1` as",
        "`.ci/run` sets them. Every case runs real components: HTTP to the Spotify emulator, dlt,",
        "PostgreSQL, dbt, Airflow's scheduler, the CLI in subprocesses. How each area is tested:",
        "`tests/reliability/` (and the cases other modules mark).",
        "",
        "| area | " + " | ".join(title for title, _ in COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for area in sorted(by_area, key=_area_order):
        tally = by_area[area]
        lines.append(f"| {area} | " + " | ".join(str(getattr(tally, n)) for _, n in COLUMNS) + " |")
    lines.append(
        "| **total** | " + " | ".join(f"**{getattr(total, n)}**" for _, n in COLUMNS) + " |"
    )
    lines += [
        "",
        "*Rows compared*: bronze rows of the reference run (keys and a hash of each row, load",
        "columns left out) checked against the run under test; *lost* counts reference rows",
        "missing or different, *duplicated* extra copies of a key. *Secret hits*: places where",
        "one of the distinctive secret values was found. *Tracebacks*: in output a user sees.",
        "",
        "## Cases",
    ]
    by_item: dict[str, list[ItemRecord]] = {}
    for record in recorder.items.values():
        if record.passed is not None:
            by_item.setdefault(record.area, []).append(record)
    for area in sorted(by_item, key=_area_order):
        lines += ["", f"### {area}", ""]
        for record in sorted(by_item[area], key=lambda r: r.nodeid):
            tally = record.tally()
            names = [name for name, _ in record.cases if name]
            detail = f": {', '.join(names)}" if 0 < len(names) <= 12 else ""
            lines.append(f"- `{record.nodeid}`: {tally.survived}/{tally.tried} survived{detail}")
    return "\n".join(lines) + "\n"


def documented_nodeids(text: str) -> set[str]:
    """The test ids a rendered document lists."""
    return {line.split("`")[1] for line in text.splitlines() if line.startswith("- `")}


# --------------------------------------------------------------------------- secrets


def searched_files(settings: Settings, roots: Iterable[Path]) -> Iterator[Path]:
    """Every file below ``roots`` but the vault of ``settings``, its key and its lock file."""
    skip = {settings.effective_vault_path.resolve(), settings.effective_vault_key_file.resolve()}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.resolve() in skip or path.name.startswith(".vault.json"):
                continue
            if path.is_file() and not path.is_symlink():
                yield path


def assert_no_secret(
    reliability: CaseLog,
    secrets: Mapping[str, Sequence[str]],
    haystacks: Sequence[tuple[str, bytes]],
) -> None:
    """One case per kind of secret: none of its values (8 characters or more) in any haystack.

    ``haystacks`` are ``(where, content)`` pairs; the places found count as secret hits.
    """
    for kind, values in secrets.items():
        with reliability.case(kind):
            needles = [v.encode() for v in values if len(v) >= 8]
            found = [where for where, text in haystacks if any(n in text for n in needles)]
            assert reliability.secret_hits(len(found)) == 0, f"{kind} found in {found[:5]}"


# --------------------------------------------------------------------------- pytest hooks

_RECORDER = Recorder()


def recorder() -> Recorder:
    return _RECORDER


def _area(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker(MARKER)
    if marker is None or not marker.args:
        return None
    return str(marker.args[0])


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Count what the suite will run, and run the document's check last."""
    _RECORDER.default_args = (
        not config.args
        or [Path(a).resolve() for a in config.args] == [ROOT / "tests"]
        or [Path(a).resolve() for a in config.args] == [ROOT]
    )
    _RECORDER.collected = {i.nodeid for i in items if _area(i)}
    doc = [i for i in items if i.name == DOC_TEST]
    items[:] = [i for i in items if i.name != DOC_TEST] + doc


def pytest_deselected(items: Sequence[pytest.Item]) -> None:
    _RECORDER.deselected |= {i.nodeid for i in items if _area(i)}


@pytest.fixture
def reliability(request: pytest.FixtureRequest) -> CaseLog:
    """Report the cases of a reliability test and what they measured (see module docstring)."""
    item = request.node
    area = _area(item)
    if area is None:
        raise pytest.UsageError(f"{item.nodeid} uses `reliability` without the reliability marker")
    return CaseLog(_RECORDER.items.setdefault(item.nodeid, ItemRecord(item.nodeid, area)))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    area = _area(item)
    if area is None:
        return
    if report.skipped:
        _RECORDER.skipped.add(item.nodeid)
        _RECORDER.items.pop(item.nodeid, None)
        return
    record = _RECORDER.items.setdefault(item.nodeid, ItemRecord(item.nodeid, area))
    if report.when == "setup" and report.failed:
        record.passed = False
    if report.when == "call":
        record.passed = report.passed
        for name, text in report.sections:
            if name.startswith("Captured std"):
                record.measured.tracebacks += text.count(TRACEBACK)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get("RELIABILITY_RESULTS")
    if target and _RECORDER.items:
        Path(target).write_text(json.dumps(_RECORDER.as_json(), indent=2) + "\n")
