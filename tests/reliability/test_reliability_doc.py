"""docs/reliability.md shows what this session's reliability suite measured.

Runs last (``reliability_support`` orders it so). The marker has no area: ``-m reliability``
selects this check with the suite, and it counts as no case itself.
"""

from __future__ import annotations

import difflib
import os
import re

import pytest
from reliability_support import DOC, documented_nodeids, recorder, render

pytestmark = pytest.mark.reliability


#: A row of the counts table: | area | tried | survived | rows compared | lost | ... |
_TABLE_ROW = re.compile(r"^(\|[^|]*\|[^|]*\|[^|]*\|)[^|]*(\|.*)$")


#: A case line: - `node id`: 4/4 survived: what it measured (e.g. when a kill came)
_CASE_LINE = re.compile(r"^(- `[^`]+`: \d+/\d+ survived).*$")


def _masked(doc: str) -> str:
    """``doc`` without what follows the machine's speed and the emulator's live clock (the rows
    compared, when a kill came); every count of cases, survivors, losses and hits must match."""
    lines = (_TABLE_ROW.sub(r"\1 n \2", line) for line in doc.splitlines())
    return "\n".join(_CASE_LINE.sub(r"\1", line) for line in lines)


def test_reliability_doc_is_current() -> None:
    counts = recorder()
    rendered = render(counts)
    if os.environ.get("RELIABILITY_UPDATE_DOC"):
        DOC.write_text(rendered)
        return
    committed = DOC.read_text() if DOC.exists() else ""
    whole = not counts.deselected and (
        counts.default_args or documented_nodeids(committed) <= counts.collected
    )
    if not whole:
        pytest.skip("only part of the reliability suite ran; its counts are not the document's")
    if counts.skipped:
        pytest.skip(
            f"{len(counts.skipped)} reliability cases skipped on this machine (see their reasons); "
            "its counts are not the document's"
        )
    _, total = counts.totals()
    assert total.tried > 0
    diff = "\n".join(
        difflib.unified_diff(
            committed.splitlines(), rendered.splitlines(), "committed", "measured", lineterm=""
        )
    )
    assert _masked(rendered) == _masked(committed), (
        f"{DOC.name} differs from what the suite measured (a case failed, or the suite changed; "
        f"regenerate with RELIABILITY_UPDATE_DOC=1 pytest -m reliability):\n{diff}"
    )
