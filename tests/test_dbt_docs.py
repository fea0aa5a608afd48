"""dbt docs: lineage bronze -> silver -> gold, and the committed markdown catalog is current."""

from __future__ import annotations

from pathlib import Path

import pytest

from spotify_elt.catalog_md import render_catalog, stale_pages
from spotify_elt.transform import load_artifacts

pytestmark = pytest.mark.slow

CATALOG_DIR = Path(__file__).resolve().parents[1] / "docs" / "catalog"


def _layer(uid: str, manifest: dict) -> str:
    if uid.startswith("source."):
        return manifest["sources"][uid]["schema"]
    return manifest["nodes"][uid]["schema"]


def test_lineage_runs_bronze_to_silver_to_gold(docs_target: Path) -> None:
    manifest, catalog = load_artifacts(docs_target)
    parents = manifest["parent_map"]
    models = {
        uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"
    }
    assert {node["schema"] for node in models.values()} == {"silver", "gold"}
    sources = {uid for uid in manifest["sources"] if uid.startswith("source.spotify_elt.spotify.")}
    assert {manifest["sources"][uid]["schema"] for uid in sources} == {"bronze"}
    for uid, node in models.items():
        layers = {_layer(parent, manifest) for parent in parents[uid]}
        if node["name"] == "dim_date":
            assert not layers  # generated, reads nothing
        elif node["schema"] == "gold":
            # Gold reads silver (and other gold tables), never bronze directly.
            assert layers and layers <= {"silver", "gold"}, (uid, layers)
        elif node["name"].startswith("stg_"):
            # Staging is the only layer reading bronze sources.
            assert layers == {"bronze"}, (uid, layers)
        else:
            assert layers <= {"silver"}, (uid, layers)
    # Every bronze source feeds silver, and every gold table traces back to bronze.
    children = manifest["child_map"]
    for uid in sources:
        assert any(c.startswith("model.") for c in children[uid]), uid

    def reaches_bronze(uid: str, seen: set[str]) -> bool:
        if uid.startswith("source."):
            return True
        seen.add(uid)
        return any(reaches_bronze(p, seen) for p in parents.get(uid, []) if p not in seen)

    for uid, node in models.items():
        if node["schema"] == "gold" and node["name"] != "dim_date":
            assert reaches_bronze(uid, set()), uid
    # The docs site has the catalog (column types from the database) for every model.
    assert set(models) <= set(catalog["nodes"])
    assert (docs_target / "index.html").exists()


def test_every_model_and_column_is_described(docs_target: Path) -> None:
    manifest, catalog = load_artifacts(docs_target)
    assert any(node["resource_type"] == "model" for node in manifest["nodes"].values())
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] != "model":
            continue
        assert node["description"].strip(), uid
        declared = node["columns"]
        columns = catalog["nodes"][uid]["columns"]
        assert columns, uid
        for column in columns:
            assert column in declared and declared[column]["description"].strip(), (uid, column)
        if node["schema"] == "gold":
            assert node["config"]["contract"]["enforced"], uid
            assert all(c.get("data_type") for c in declared.values()), uid
            assert node["config"]["meta"]["owner"], uid
    exposures = {e["name"] for e in manifest["exposures"].values()}
    assert exposures == {"listening_report", "spotify_elt_dag"}


def test_committed_catalog_is_current(docs_target: Path) -> None:
    manifest, catalog = load_artifacts(docs_target)
    pages = render_catalog(manifest, catalog)
    assert "gold/fct_plays.md" in pages and "silver/stg_spotify__recently_played.md" in pages
    stale = stale_pages(pages, CATALOG_DIR)
    assert not stale, (
        f"docs/catalog is out of date ({', '.join(stale[:5])}); run `spotify-elt docs catalog`"
    )
