"""spotify_elt.dbt_runner without a database: the docs bundle's run results, subprocess failures,
and the package's import graph (no module circle)."""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from spotify_elt import dbt_runner
from spotify_elt.dbt_runner import TransformResult, write_docs_bundle
from spotify_elt.errors import UserError

PACKAGE = Path(dbt_runner.__file__).resolve().parent


def _fake_dbt(monkeypatch: pytest.MonkeyPatch, *, fail: str | None = None) -> list[str]:
    """Replace dbt: docs generate writes a manifest, a catalog and its own run results."""
    commands: list[str] = []

    def run_dbt(args: Sequence[str], *, target_path: Path, **_: Any) -> TransformResult:
        command = " ".join(args)
        commands.append(command)
        target_path.mkdir(parents=True, exist_ok=True)
        if command == "docs generate":
            (target_path / "manifest.json").write_text(json.dumps({"nodes": {}}))
            (target_path / "catalog.json").write_text(json.dumps({"nodes": {}}))
            (target_path / "run_results.json").write_text(json.dumps({"results": ["docs"]}))
        ok = command != fail
        result = TransformResult(args[0], ok, returncode=0 if ok else 1, output="boom")
        if not ok and _.get("check"):
            raise UserError(result.failure_sentence())
        return result

    monkeypatch.setattr(dbt_runner, "run_dbt", run_dbt)
    return commands


def _results(target: Path) -> Any:
    path = target / "run_results.json"
    return json.loads(path.read_text())["results"] if path.exists() else None


def test_docs_bundle_merges_kept_run_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = _fake_dbt(monkeypatch)
    kept = []
    for name, results in (("a", ["t1"]), ("b", ["t2", "t3"])):
        kept.append(tmp_path / f"{name}.json")
        kept[-1].write_text(json.dumps({"metadata": {}, "results": results}))
    bundle = write_docs_bundle({}, tmp_path / "run", run_results=kept)
    assert commands == ["docs generate", "source freshness"]
    assert bundle.target == tmp_path / "run" / "target"
    assert _results(bundle.target) == ["t1", "t2", "t3"]
    assert bundle.pages == 1  # the index page
    assert (tmp_path / "run" / "catalog" / "README.md").is_file()


@pytest.mark.parametrize(("run_results", "expected"), [([], None), (None, ["docs"])])
def test_docs_bundle_without_kept_results(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run_results: list[Path] | None,
    expected: list[str] | None,
) -> None:
    """An empty list leaves no run_results.json; None keeps docs generate's."""
    _fake_dbt(monkeypatch)
    bundle = write_docs_bundle({}, tmp_path, run_results=run_results)
    assert _results(bundle.target) == expected


def test_docs_bundle_stale_sources_warn_and_failing_docs_raise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_dbt(monkeypatch, fail="source freshness")
    write_docs_bundle({}, tmp_path / "stale", run_results=None)
    _fake_dbt(monkeypatch, fail="docs generate")
    with pytest.raises(UserError, match=r"dbt docs failed \(exit 1\):\nboom"):
        write_docs_bundle({}, tmp_path / "broken", run_results=None)


def _imports(path: Path, module: str) -> set[str]:
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            named = [node.module] if node.module else []
            target = ".".join([*base, *named]) if node.level else node.module or ""
            found |= {target, *(f"{target}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def _module_graph() -> Mapping[str, set[str]]:
    modules: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("spotify_elt", *path.relative_to(PACKAGE).with_suffix("").parts)
        modules[".".join(parts).removesuffix(".__init__")] = path
    return {
        name: {m for m in _imports(path, name) if m in modules and m != name}
        for name, path in modules.items()
    }


def test_no_import_circle_among_package_modules() -> None:
    """Function-level imports count too: a circle there is still a circle."""
    graph = _module_graph()
    for start in graph:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            current = todo.pop()
            assert current != start, f"{start} imports itself through {sorted(seen)}"
            if current not in seen:
                seen.add(current)
                todo.extend(graph[current])
