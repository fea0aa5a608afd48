"""docker-compose.yml cannot run here (no Docker engine): check its structure instead."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import yaml

from spotify_elt.config import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[1]


def test_compose_file_is_consistent() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "spotify-elt"} <= set(services)
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in compose["volumes"], (name, source)
    assert (ROOT / "Dockerfile").is_file()
    keys = {f"{ENV_PREFIX}{f.name.upper()}" for f in dataclasses.fields(Settings)}
    keys.add(f"{ENV_PREFIX}VAULT_KEY")
    from spotify_elt import dbt_runner, orchestration

    keys |= {v for k, v in vars(orchestration).items() if k.startswith("ENV_")}
    keys |= {dbt_runner.PROJECT_DIR_ENV, dbt_runner.MANIFEST_ENV}
    for service in services.values():
        for variable in service.get("environment", {}):
            if variable.startswith(ENV_PREFIX):
                assert variable in keys, variable


def test_compose_file_holds_no_secret() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    # Passwords and keys come from the environment (${VAR:?...}), never literal values.
    matches = list(re.finditer(r"^\s*[A-Z_]*(PASSWORD|KEY|SECRET)[A-Z_]*:\s*(\S+)", text, re.M))
    assert matches
    for match in matches:
        assert match.group(2).startswith("${"), match.group(0)


# ----------------------------------------------------------------- Airflow and DataHub services

# The parts of the Compose specification (compose-spec/compose-go's schema) this file uses;
# anything else is a typo Docker would reject.
SERVICE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "image": {"type": "string", "pattern": r"^[a-z0-9./_-]+:[A-Za-z0-9._-]+$"},
        "build": {
            "oneOf": [
                {"type": "string"},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "context": {"type": "string"},
                        "dockerfile": {"type": "string"},
                        "args": {"type": "object"},
                    },
                },
            ]
        },
        "command": {"type": ["string", "array"]},
        "entrypoint": {"type": ["string", "array"]},
        "environment": {"type": "object"},
        "env_file": {"type": ["string", "array"]},
        "ports": {"type": "array", "items": {"type": "string"}},
        "volumes": {"type": "array", "items": {"type": "string"}},
        "depends_on": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "condition": {
                        "enum": [
                            "service_started",
                            "service_healthy",
                            "service_completed_successfully",
                        ]
                    }
                },
            },
        },
        "healthcheck": {"type": "object"},
        "profiles": {"type": "array", "items": {"type": "string"}},
        "restart": {"enum": ["no", "always", "on-failure", "unless-stopped"]},
    },
}
COMPOSE_SCHEMA = {
    "type": "object",
    "required": ["services"],
    "properties": {
        "name": {"type": "string"},
        "services": {"type": "object", "additionalProperties": SERVICE_SCHEMA},
        "volumes": {"type": "object"},
    },
    "patternProperties": {"^x-": {}},
    "additionalProperties": False,
}


def _compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_file_matches_the_compose_schema() -> None:
    import jsonschema

    jsonschema.validate(_compose(), COMPOSE_SCHEMA)


def test_airflow_and_datahub_services_are_all_there() -> None:
    services = _compose()["services"]
    airflow = {
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
    }
    assert airflow | {"airflow-init", "airflow-db"} <= set(services)
    for name in airflow:
        assert services[name]["environment"]["AIRFLOW__CORE__EXECUTOR"].endswith("LocalExecutor}")
        assert services[name]["build"]["dockerfile"] == "airflow/Dockerfile"
    assert services["redis"]["profiles"] == ["celery"]
    assert services["airflow-worker"]["profiles"] == ["celery"]
    assert services["airflow-worker"]["command"] == ["celery", "worker"]
    assert {"datahub-gms", "datahub-frontend", "datahub-mysql", "datahub-kafka"} <= set(services)
    assert any("opensearch" in n or "elasticsearch" in n for n in services)
    env = services["airflow-scheduler"]["environment"]
    assert env["DATAHUB_GMS_URL"] == "http://datahub-gms:8080"
    assert env["AIRFLOW__DATAHUB__ENABLED"] == "true"
    assert "datahub-gms" in env["AIRFLOW_CONN_DATAHUB_REST_DEFAULT"]


def test_every_image_is_pinned_and_every_reference_exists() -> None:
    compose = _compose()
    services = compose["services"]
    assert services
    for name, service in services.items():
        image = service.get("image")
        if image:
            tag = image.rsplit(":", 1)[1]
            assert tag not in ("latest", "head", "main"), (name, image)
        build = service.get("build")
        if isinstance(build, dict):
            assert (
                ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
            ).is_file()
        env_files = service.get("env_file", [])
        for env_file in [env_files] if isinstance(env_files, str) else env_files:
            assert (ROOT / env_file).is_file(), (name, env_file)
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
            # A dependency outside a profile must not sit inside one (compose would refuse).
            if not service.get("profiles"):
                assert not services[dependency].get("profiles"), (name, dependency)
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), (name, source)
            else:
                assert source in compose["volumes"], (name, source)
    used = {v.split(":")[0] for s in services.values() for v in s.get("volumes", [])}
    assert set(compose["volumes"]) <= used


def test_required_variables_are_documented() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    header = text.split("\nname:", 1)[0]
    required = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    assert required
    for variable in required:
        assert variable in header, variable


def test_airflow_image_installs_from_the_lock_file() -> None:
    dockerfile = (ROOT / "airflow" / "Dockerfile").read_text()
    assert "COPY pyproject.toml uv.lock" in dockerfile
    syncs = re.findall(r"uv sync ([^\n\\]*)", dockerfile)
    assert syncs and all("--locked" in s for s in syncs)
    assert "pip install" not in dockerfile.replace("pip install --no-cache-dir uv", "")
    assert "dbt parse" in dockerfile  # the manifest the DAG renders from
    lock = (ROOT / "uv.lock").read_text()
    for package in ("apache-airflow", "astronomer-cosmos", "acryl-datahub-airflow-plugin"):
        assert f'name = "{package}"' in lock
    assert not list((ROOT / "airflow").rglob("__init__.py"))


def test_compose_celery_profile_uses_the_settings_of_airflow_up() -> None:
    """`spotify-elt airflow up --executor celery` and the compose profile set the same keys."""
    from spotify_elt.airflow_setup import celery_settings

    env = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["x-airflow-env"]
    keys = set(celery_settings("redis://localhost:6379/0", "postgresql+psycopg://u@h/db"))
    assert keys <= set(env)
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://")
