"""docs/ARCHITECTURE.md matches the code: each module has a layer, each import keeps the rules.

The layer of each module is read from the document's table, so the document cannot drift: a new
module without a row, a row without a module, an import of a higher layer, an import circle, the
library importing the application or Airflow, or production code importing the emulator each
fail here with the offending module and import named.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ARCHITECTURE.md"
DAG = ROOT / "airflow" / "dags" / "spotify_elt_dag.py"
RANK = {"library": 0, "emulator": 0, "platform": 1, "steps": 2, "cli": 3}
EMULATOR = "extract.emulator"
#: The CLI modules that serve the emulator or generate an export from it (the rule's exception).
EMULATOR_USERS = {"spotify_elt.cli.emulator", "spotify_elt.cli.emulator_export"}
#: What the emulator may import outside itself: the export writer's play and how long one lasts.
EMULATOR_MAY_IMPORT = {"extract.history.synthetic"}
_ROW = re.compile(r"^\| `([\w.]+)` \| (\w+) \|")


def _layers() -> dict[str, str]:
    rows = [_ROW.match(line) for line in DOC.read_text().splitlines()]
    layers = {m.group(1): m.group(2) for m in rows if m}
    assert layers and set(layers.values()) <= set(RANK), layers
    return layers


def _modules() -> dict[str, Path]:
    found = {}
    for top in (ROOT / "src" / "spotify_elt", ROOT / "extract"):
        base = top.parent
        for path in sorted(top.rglob("*.py")):
            parts = path.relative_to(base).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()
LAYERS = _layers()


def _entry(module: str) -> str:
    """The table's row for ``module``: itself, or the emulator package for its submodules."""
    if module == EMULATOR or module.startswith(EMULATOR + "."):
        return EMULATOR
    return module


def _imports(module: str, path: Path) -> Iterator[tuple[int, str]]:
    """Every import in ``module`` (lazy ones in functions too): line and the module imported."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                # ``from pkg import sub``: the submodule when there is one, else the package.
                sub = f"{target}.{alias.name}"
                yield node.lineno, sub if sub in MODULES else target


def _project_imports(module: str) -> Iterator[tuple[int, str]]:
    for line, target in _imports(module, MODULES[module]):
        if target in MODULES and target != module:
            yield line, target


def test_every_module_has_one_row_and_every_row_a_module() -> None:
    missing = sorted(m for m in MODULES if _entry(m) not in LAYERS)
    assert not missing, f"modules without a row in {DOC.name}: {missing}"
    stale = sorted(row for row in LAYERS if row not in MODULES)
    assert not stale, f"rows of {DOC.name} naming no module: {stale}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_keep_the_layers(module: str) -> None:
    layer = LAYERS[_entry(module)]
    wrong = []
    for line, target in _imports(module, MODULES[module]):
        where = f"{MODULES[module].relative_to(ROOT)}:{line} imports {target}"
        top = target.split(".")[0]
        if layer in ("library", "emulator") and top in ("spotify_elt", "airflow", "cosmos"):
            wrong.append(f"{where}: the library imports nothing of the application or Airflow")
        if target not in MODULES or target == module:
            continue
        target_layer = LAYERS[_entry(target)]
        if RANK[target_layer] > RANK[layer]:
            wrong.append(f"{where}: a {layer} module imports a {target_layer} module")
        in_emulator = _entry(target) == EMULATOR
        if in_emulator and layer != "emulator" and module not in EMULATOR_USERS:
            wrong.append(f"{where}: only {sorted(EMULATOR_USERS)} may import the emulator")
        if layer == "emulator" and not in_emulator and target not in EMULATOR_MAY_IMPORT:
            wrong.append(f"{where}: the emulator is written from the contract, not the client")
    assert not wrong, "\n".join(wrong)


def test_no_import_circle() -> None:
    graph = {m: {t for _, t in _project_imports(m)} for m in MODULES}
    # Importing a package's submodule runs the package's __init__ first: that is no circle.
    for module, targets in graph.items():
        targets -= {m for m in MODULES if module.startswith(m + ".")}
    circles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_the_dag_imports_the_tasks_and_where_dbt_is_nothing_else() -> None:
    project = {
        target
        for _, target in _imports("spotify_elt_dag", DAG)
        if target.split(".")[0] in ("spotify_elt", "extract")
    }
    assert project == {"spotify_elt.orchestration", "spotify_elt.dbt_runner"}, project
