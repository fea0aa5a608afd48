"""``spotify-elt catalog``: dbt docs and the warehouse into DataHub (or an offline file)."""

from __future__ import annotations

import json

import click

from ..config import load_settings


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def catalog(as_json: bool) -> None:
    """Run the DataHub recipes in datahub/recipes (dbt and postgres).

    With DATAHUB_GMS_URL (and DATAHUB_GMS_TOKEN) set they go to that DataHub server; otherwise
    to JSON files under <data dir>/datahub. Runs `dbt docs generate` and `dbt source freshness`
    first and uses the test results of the last `spotify-elt transform`.
    """
    from ..catalog import prepare_artifacts, run_catalog
    from ..vault import Vault

    settings = load_settings()
    vault = Vault.from_settings(settings)
    artifacts = prepare_artifacts(settings, vault, settings.data_dir / "dbt_artifacts" / "cli")
    report = run_catalog(settings, vault, artifacts=artifacts)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    for name, where in report.outputs.items():
        click.echo(f"{name}: {report.records[name]} records -> {where}")
