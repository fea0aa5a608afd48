"""The DataHub catalog, offline: what the recipes wrote to the file sink, checked aspect by aspect.

Runs the repository's recipes (``datahub/recipes/``) on the session's dbt build (``dev_build``,
``docs_target`` from ``dbt_support``) with no DataHub server, so they go to the file sink.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from dbt_support import GOLD_TABLES, Build, sync_roles
from stack_support import outside_pytest_tmp

from spotify_elt.catalog import RECIPES, recipes_dir, run_catalog

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def offline(dev_build: Build, docs_target: Path) -> Iterator[dict[str, Any]]:
    stack = dev_build.stack
    sync_roles(stack)
    folder = outside_pytest_tmp("spotify-elt-catalog-") / "target"
    folder.mkdir(parents=True)
    for name in ("manifest.json", "catalog.json"):
        shutil.copyfile(docs_target / name, folder / name)
    shutil.copyfile(dev_build.target / "run_results.json", folder / "run_results.json")
    report = run_catalog(stack.settings, stack.vault, artifacts=folder)
    records = {name: json.loads(Path(report.outputs[name]).read_text()) for name in report.outputs}
    yield {"stack": stack, "report": report, "records": records}
    shutil.rmtree(folder.parent, ignore_errors=True)


def _aspects(records: list[dict[str, Any]]) -> dict[str, dict[str, list[Any]]]:
    """urn -> aspect name -> values, from both MCEs (snapshots) and MCPs."""
    found: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        if "proposedSnapshot" in record:
            snapshot = next(iter(record["proposedSnapshot"].values()))
            for aspect in snapshot.get("aspects", []):
                name, value = next(iter(aspect.items()))
                found[snapshot["urn"]][name.rsplit(".", 1)[-1]].append(value)
        elif "entityUrn" in record:
            aspect = record.get("aspect", {})
            value = json.loads(aspect["value"]) if "value" in aspect else aspect.get("json", aspect)
            found[record["entityUrn"]][record["aspectName"]].append(value)
    return found


def _upstreams(aspects: dict[str, dict[str, list[Any]]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for urn, by_name in aspects.items():
        for lineage in by_name.get("UpstreamLineage", []) + by_name.get("upstreamLineage", []):
            for upstream in lineage.get("upstreams", []):
                graph[urn].add(upstream["dataset"])
    return graph


def _reaches_bronze(urn: str, graph: dict[str, set[str]]) -> bool:
    seen, todo = set(), [urn]
    while todo:
        current = todo.pop()
        if ".bronze." in current:
            return True
        if current not in seen:
            seen.add(current)
            todo.extend(graph.get(current, ()))
    return False


def test_both_recipes_wrote_offline(offline: dict[str, Any]) -> None:
    report = offline["report"]
    assert set(report.outputs) == set(RECIPES)
    stack = offline["stack"]
    for name in RECIPES:
        assert Path(report.outputs[name]).parent == stack.settings.data_dir / "datahub"
        assert report.records[name] > 20, name


def test_every_gold_table_has_lineage_reaching_bronze(offline: dict[str, Any]) -> None:
    aspects = _aspects(offline["records"]["dbt"])
    graph = _upstreams(aspects)
    # dim_date is generated (a calendar from vars): it has no upstream to reach.
    generated = {"dim_date"}
    for table in GOLD_TABLES:
        urns = [u for u in aspects if u.endswith(f".gold.{table},PROD)")]
        assert urns, table
        # The dbt node and the Postgres table it builds.
        assert {"dbt", "postgres"} <= {u.split("dataPlatform:")[1].split(",")[0] for u in urns}
        if table not in generated:
            assert any(_reaches_bronze(u, graph) for u in urns), table


def test_dbt_nodes_and_postgres_tables_share_names(offline: dict[str, Any]) -> None:
    """DataHub links siblings by name: the dbt recipe's postgres URNs are the postgres recipe's."""
    dbt_urns = set(_aspects(offline["records"]["dbt"]))
    pg_urns = set(_aspects(offline["records"]["postgres"]))

    def name(urn: str) -> str:
        return urn.split(",")[1]

    for layer in ("bronze", "silver", "gold"):
        in_pg = {name(u) for u in pg_urns if f".{layer}." in u and "dataPlatform:postgres" in u}
        assert in_pg, layer
        # dbt sources (bronze) are dbt-platform nodes; models also get their postgres URN.
        from_dbt = {name(u) for u in dbt_urns if f".{layer}." in u and "dataset:" in u}
        assert from_dbt & in_pg, layer
    gold_models = {u for u in dbt_urns if ".gold." in u and "dataPlatform:postgres" in u}
    assert gold_models <= pg_urns


def test_tests_are_assertions_with_results(offline: dict[str, Any], dev_build: Build) -> None:
    aspects = _aspects(offline["records"]["dbt"])
    infos = [
        u for u, a in aspects.items() if u.startswith("urn:li:assertion:") and "assertionInfo" in a
    ]
    runs = [
        event
        for u, a in aspects.items()
        if u.startswith("urn:li:assertion:")
        for event in a.get("assertionRunEvent", [])
    ]
    results = json.loads((dev_build.target / "run_results.json").read_text())["results"]
    tests = [r for r in results if r["unique_id"].startswith("test.")]
    assert len(infos) >= len({r["unique_id"] for r in tests}) > 50
    by_type: dict[str, int] = defaultdict(int)
    for run in runs:
        by_type[run["result"]["type"]] += 1
    passed = sum(1 for r in tests if r["status"] == "pass")
    # One run event per test and asserted dataset (a relationships test asserts on two).
    assert by_type["SUCCESS"] >= passed
    assert sum(by_type.values()) >= len(tests)
    assert by_type["SUCCESS"] > 50


def test_descriptions_owners_tags_and_terms(offline: dict[str, Any]) -> None:
    aspects = _aspects(offline["records"]["dbt"])
    fct = next(
        u for u in aspects if "dataPlatform:dbt" in u and u.endswith(".gold.fct_plays,PROD)")
    )
    by_name = aspects[fct]
    properties = by_name.get("DatasetProperties", []) + by_name.get("datasetProperties", [])
    assert any(p.get("description") for p in properties)
    tags = {
        t["tag"]
        for g in by_name.get("GlobalTags", []) + by_name.get("globalTags", [])
        for t in g["tags"]
    }
    assert {"urn:li:tag:gold", "urn:li:tag:layer:gold"} <= tags, tags
    owners = by_name.get("Ownership", []) + by_name.get("ownership", [])
    assert owners and owners[0]["owners"]
    pii = [
        u
        for u, a in aspects.items()
        for g in a.get("GlobalTags", []) + a.get("globalTags", [])
        for t in g["tags"]
        if t["tag"] == "urn:li:tag:pii"
    ]
    assert any(".bronze.recently_played," in u for u in pii)
    terms = [u for u, a in aspects.items() if a.get("glossaryTerms") or a.get("GlossaryTerms")]
    assert terms


def test_no_secret_in_the_output_or_the_recipes(offline: dict[str, Any]) -> None:
    stack = offline["stack"]
    values = [stack.vault.get(name) or "" for name in stack.vault.names()]
    values += stack.settings.effective_vault_key_file.read_text().split()
    texts = [json.dumps(offline["records"])]
    texts += [(recipes_dir() / f"{name}.yml").read_text() for name in RECIPES]
    long_values = [v for v in values if len(v) >= 6]
    assert long_values
    for value in long_values:
        for text in texts:
            assert value not in text
    for name in RECIPES:
        recipe = yaml.safe_load((recipes_dir() / f"{name}.yml").read_text())
        password = recipe["source"]["config"].get("password")
        assert password is None or str(password).startswith("${")
        assert str(recipe["sink"]["config"]["token"]).startswith("${")
