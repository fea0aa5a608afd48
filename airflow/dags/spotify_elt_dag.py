"""
# spotify_elt: Spotify -> bronze -> dbt silver/gold -> docs -> DataHub -> report

Runs the whole pipeline of [spotify-elt](https://github.com/spotify-elt) on a schedule (hourly by
default: Spotify only ever shows the last 50 plays, so the history is accumulated run by run).

1. **extract** (dlt, same code as `spotify-elt extract --resource`): `user_data` is mapped over
   the groups of bronze resources (plays, top lists, library, playlists), which run in parallel,
   each with its own dlt pipeline; then the catalog objects they reference. All of them draw from
   one rate budget held in PostgreSQL (Spotify's rolling 30-second window counts the app, not a
   process), and advisory locks per bronze table keep two writers of a table apart. Updates the
   `spotify_elt.bronze` asset.
2. **dbt** (Cosmos `DbtTaskGroup`, rendered from the manifest `dbt parse` wrote): every model and
   snapshot is a task, followed by a task running its tests; a test failing stops everything that
   depends on it. `gold_ready` then updates the `spotify_elt.gold` asset: subscribe to it with
   `schedule=[Asset("spotify-elt://warehouse/gold")]`.
3. **docs**: `dbt docs generate`, `dbt source freshness` and the markdown catalog.
4. **datahub**: the recipes in `datahub/recipes/` (to `DATAHUB_GMS_URL` when set, else to files
   under the data directory); with a server configured the DataHub Airflow plugin also reports
   this DAG's pipeline and task lineage.
5. **report**: the seaborn report from gold (`spotify-elt report`).

Configuration: `SPOTIFY_ELT_*` variables and the config file (as for the CLI); the vault key from
`SPOTIFY_ELT_VAULT_KEY` or the key file. The Airflow Connection `spotify_elt_postgres` (server and
database) and `spotify_elt_spotify` (client id/secret, refresh token) override them when present.
No secret is written into this file, rendered templates, XComs or task logs.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Asset, TaskGroup, task

from spotify_elt import dbt_runner
from spotify_elt import orchestration as orch

log = logging.getLogger(__name__)

DBT_PROJECT = dbt_runner.project_dir()
MANIFEST = dbt_runner.manifest_path()
SCHEDULE = os.environ.get(orch.ENV_SCHEDULE) or "@hourly"
RETRIES = int(os.environ.get(orch.ENV_RETRIES) or 2)

BRONZE = Asset(name="spotify_elt.bronze", uri="spotify-elt://warehouse/bronze", group="spotify_elt")
GOLD = Asset(name="spotify_elt.gold", uri="spotify-elt://warehouse/gold", group="spotify_elt")

default_args: dict[str, Any] = {
    "owner": "spotify-elt",
    "retries": RETRIES,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
}


def dbt_task_group() -> Any:
    """The Cosmos task group: from the manifest when there is one, else `dbt ls` (slow)."""
    from cosmos import (
        DbtTaskGroup,
        ExecutionConfig,
        ProfileConfig,
        ProjectConfig,
        RenderConfig,
    )
    from cosmos.constants import (
        ExecutionMode,
        InvocationMode,
        LoadMode,
        TestBehavior,
        TestIndirectSelection,
    )

    behavior = TestBehavior(os.environ.get(orch.ENV_TEST_BEHAVIOR) or "after_each")
    # watcher: one `dbt build` (dbt's threads) feeds a sensor per model, which keeps per-model
    # task status at a fraction of a dbt invocation per task; local: one dbt command per task.
    mode = ExecutionMode(os.environ.get(orch.ENV_EXECUTION_MODE) or "watcher")
    if MANIFEST.is_file():
        project = ProjectConfig(
            dbt_project_path=DBT_PROJECT, manifest_path=MANIFEST, install_dbt_deps=False
        )
        load_mode = LoadMode.DBT_MANIFEST
        render_env = None
    else:
        log.warning(
            "dbt manifest %s not found: rendering the dbt tasks with `dbt ls` (slow); run "
            "`spotify-elt airflow parse` to write it.",
            MANIFEST,
        )
        project = ProjectConfig(dbt_project_path=DBT_PROJECT, install_dbt_deps=False)
        load_mode = LoadMode.DBT_LS
        # `dbt ls` reads the profile but never connects: a placeholder password, render time only.
        render_env = dbt_runner.parse_env()
    return DbtTaskGroup(
        group_id="dbt",
        project_config=project,
        profile_config=ProfileConfig(
            profile_name=dbt_runner.DBT_PROFILE,
            target_name=dbt_runner.DBT_TARGET,
            profiles_yml_filepath=DBT_PROJECT / "profiles.yml",
        ),
        execution_config=ExecutionConfig(
            execution_mode=mode,
            dbt_executable_path=dbt_runner.dbt_executable(),
            invocation_mode=InvocationMode.DBT_RUNNER,
            # A test of several models runs once all of them are built.
            test_indirect_selection=TestIndirectSelection.CAUTIOUS,
        ),
        render_config=RenderConfig(
            load_method=load_mode,
            test_behavior=behavior,
            should_detach_multiple_parents_tests=True,
            env_vars=render_env,
            # Exposures (the report, this DAG) are documentation, not tasks. Sources are not
            # rendered as tasks, so their tests are left out of every test behaviour alike
            # (freshness is checked by the docs task).
            exclude=["resource_type:exposure", "source:*"],
            select=(os.environ.get(orch.ENV_SELECT) or "").split(),
            # Cosmos' per-model assets use OpenLineage URIs that Airflow 3 refuses for a
            # Unix-socket host; the DAG declares the bronze and gold assets itself.
            emit_datasets=False,
        ),
        operator_args={
            "append_env": True,
            # Credentials at run time, never in templates; test results kept for DataHub.
            "interceptors": [orch.inject_dbt_env],
            "callback": orch.keep_run_results,
        },
    )


with DAG(
    dag_id=orch.DAG_ID,
    schedule=SCHEDULE,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    tags=["spotify-elt", "elt", "dlt", "dbt", "cosmos", "datahub"],
    doc_md=__doc__,
) as dag:
    with TaskGroup("extract", tooltip="Spotify into bronze (dlt)") as extract:

        @task(map_index_template="{{ extract_group }}")
        def user_data(group: str) -> dict[str, int]:
            """One group of the listener's bronze tables (a shard: its own dlt pipeline)."""
            from airflow.sdk import get_current_context

            get_current_context()["extract_group"] = group  # the map index's name in the UI
            return orch.extract_group(group)

        @task(outlets=[BRONZE])
        def catalog_objects() -> dict[str, int]:
            """The catalog objects (artists, albums, tracks) bronze references and lacks."""
            return orch.extract_task(None, catalog=True, shard="catalog")

        user_data.expand(group=list(orch.EXTRACT_GROUPS)) >> catalog_objects()

    dbt = dbt_task_group()

    @task(outlets=[GOLD])
    def gold_ready() -> str:
        """Every dbt model and test passed: gold is fresh."""
        return "gold"

    @task
    def docs(**context: Any) -> str:
        """dbt docs generate, source freshness and the markdown catalog of this run."""
        return orch.docs_task(str(context["run_id"]))

    @task
    def datahub(artifacts: str) -> dict[str, Any]:
        """The DataHub recipes: to DATAHUB_GMS_URL, or offline to files in the data directory."""
        return orch.datahub_task(artifacts)

    @task
    def report() -> str:
        """The seaborn report from gold (spotify-elt report)."""
        return orch.report_task()

    artifacts: Any = docs()
    extract >> dbt >> gold_ready() >> artifacts
    datahub(artifacts) >> report()
