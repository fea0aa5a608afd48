"""``spotify-elt catalog``: dbt docs and the warehouse into DataHub (or an offline file)."""

from __future__ import annotations

import json

import click

from ._target import resolve_target, target_option


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@target_option
def catalog(as_json: bool, use_emulator: bool | None) -> None:
    """Run the DataHub recipes in datahub/recipes (dbt and postgres).

    With DATAHUB_GMS_URL (and DATAHUB_GMS_TOKEN) set they go to that DataHub server; otherwise
    to JSON files under <data dir>/datahub. Runs `dbt docs generate` and `dbt source freshness`
    first and uses the test results of the last `spotify-elt transform`.
    """
    from ..catalog import run_catalog
    from ..dbt_runner import dbt_env, write_docs_bundle
    from ..transform import default_target_path
    from ..vault import Vault

    settings = resolve_target(use_emulator, announce=not as_json).settings
    vault = Vault.from_settings(settings)
    # The test results of the last `dbt build` (spotify-elt transform writes them there).
    built = default_target_path(settings) / "run_results.json"
    bundle = write_docs_bundle(
        dbt_env(settings, vault),
        settings.data_dir / "dbt_artifacts" / "cli",
        run_results=[built] if built.exists() else [],
    )
    report = run_catalog(settings, vault, artifacts=bundle.target)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    for name, where in report.outputs.items():
        click.echo(f"{name}: {report.records[name]} records -> {where}")
