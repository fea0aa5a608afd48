"""Configuration: env > config file > defaults, validation, redaction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spotify_elt.cli import main
from spotify_elt.config import SPOTIFY_API_URL, Settings, load_settings
from spotify_elt.dsn import redact_url
from spotify_elt.errors import ConfigError


def _write_config(home: Path, text: str) -> Path:
    path = home / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults(isolated_env: Path) -> None:
    settings = load_settings()
    assert settings.api_url == SPOTIFY_API_URL
    assert settings.database_url is None
    assert settings.effective_vault_path == isolated_env / "config" / "vault.json"
    # The key is kept apart from the vault and from the embedded database's data.
    assert settings.effective_vault_key_file == isolated_env / "state" / "vault.key"
    assert settings.embedded_pgdata == settings.data_dir / "pgdata"
    assert settings.data_dir.name.startswith("spotify-elt-test-data-")


def test_env_overrides_file_overrides_defaults(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_config(
        isolated_env,
        'api_url = "http://127.0.0.1:9/v1"\nclient_id = "from-file"\nscopes = ["a", "b"]\n',
    )
    settings = load_settings()
    assert settings.api_url == "http://127.0.0.1:9/v1"
    assert settings.client_id == "from-file"
    assert settings.scopes == ("a", "b")
    monkeypatch.setenv("SPOTIFY_ELT_CLIENT_ID", "from-env")
    monkeypatch.setenv("SPOTIFY_ELT_SCOPES", "x, y")
    settings = load_settings()
    assert settings.client_id == "from-env"
    assert settings.scopes == ("x", "y")
    assert settings.api_url == "http://127.0.0.1:9/v1"


def test_config_file_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "elsewhere.toml"
    other.write_text('log_level = "DEBUG"\n')
    monkeypatch.setenv("SPOTIFY_ELT_CONFIG_FILE", str(other))
    assert load_settings().log_level == "DEBUG"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("api_url = [", "is not valid TOML"),
        ('nonsense = "x"', "unknown key 'nonsense'"),
        ('data_dir = "/x"', "use SPOTIFY_ELT_DATA_DIR"),
        ("client_id = 5", "client_id must be a string, got 5"),
    ],
)
def test_bad_config_file(isolated_env: Path, text: str, message: str) -> None:
    _write_config(isolated_env, text)
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_bad_config_is_one_sentence_on_the_cli(
    isolated_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_config(isolated_env, "api_url = [")
    assert main(["config", "show"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: The config file ") and err.count("\n") == 1
    assert "Traceback" not in err


def test_config_show_redacts_the_database_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SPOTIFY_ELT_DATABASE_URL", "postgresql://admin:s3cr3t-pw@db:5432/spotify")
    assert main(["config", "show", "--json"]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out)
    assert shown["database_url"] == "postgresql://admin:********@db:5432/spotify"
    assert "s3cr3t-pw" not in out
    assert main(["config", "show"]) == 0
    assert "s3cr3t-pw" not in capsys.readouterr().out


def test_redact_url_keeps_urls_without_password() -> None:
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert redact_url("postgresql://u:p%40ss@h:1/db?x=1") == "postgresql://u:********@h:1/db?x=1"


def test_every_field_is_documented() -> None:
    import dataclasses

    for f in dataclasses.fields(Settings):
        assert f.metadata.get("help") or f.metadata.get("env_only"), f.name


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    import click

    from spotify_elt.cli import cli

    def walk(command: click.Command, path: list[str]) -> None:
        assert main([*path, "--help"]) == 0, path
        out = capsys.readouterr().out
        assert "Usage: spotify-elt" in out
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])

    walk(cli, [])
