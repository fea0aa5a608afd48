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
    for service in services.values():
        for variable in service.get("environment", {}):
            if variable.startswith(ENV_PREFIX):
                assert variable in keys, variable


def test_compose_file_holds_no_secret() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    # Passwords and keys come from the environment (${VAR:?...}), never literal values.
    for match in re.finditer(r"^\s*[A-Z_]*(PASSWORD|KEY|SECRET)[A-Z_]*:\s*(\S+)", text, re.M):
        assert match.group(2).startswith("${"), match.group(0)
