"""The current target: flag > setting > last run > client id (no database needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spotify_elt.config import load_settings
from spotify_elt.errors import ConfigError
from spotify_elt.target import DEMO_DATABASE, choose, remember, remembered, state_file


def test_fresh_user_without_client_id_gets_the_emulator(isolated_env: Path) -> None:
    target = choose(load_settings())
    assert (target.name, target.database) == ("emulator", DEMO_DATABASE)
    assert target.reason == "no client id is configured"


def test_a_client_id_means_spotify(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOTIFY_ELT_CLIENT_ID", "abc")
    target = choose(load_settings())
    assert (target.name, target.database) == ("spotify", "spotify_elt")


def test_the_last_run_wins_over_the_client_id_but_not_for_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPOTIFY_ELT_CLIENT_ID", "abc")
    settings = load_settings()
    remember(settings, "emulator")
    assert state_file(settings).read_text() == "emulator\n"
    assert remembered(settings) == "emulator"
    assert choose(settings).name == "emulator"
    assert choose(settings).reason == "the last `spotify-elt run`"
    # `run` itself follows the configuration, not its own last target.
    assert choose(settings, use_last_run=False).name == "spotify"


def test_the_setting_and_the_flag_win(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    remember(settings, "emulator")
    monkeypatch.setenv("SPOTIFY_ELT_TARGET", "spotify")
    settings = load_settings()
    assert choose(settings).name == "spotify"
    assert choose(settings, "emulator").name == "emulator"
    assert choose(settings, "emulator").reason == "--emulator"


def test_an_external_database_is_shared_by_both_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOTIFY_ELT_DATABASE_URL", "postgresql://u@db.example/warehouse")
    settings = load_settings()
    assert choose(settings, "emulator").database == "warehouse"
    assert choose(settings, "spotify").database == "warehouse"


def test_a_bad_target_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOTIFY_ELT_TARGET", "staging")
    with pytest.raises(ConfigError, match="target must be one of auto, emulator, spotify"):
        load_settings()


def test_an_unreadable_state_file_counts_as_no_last_run(isolated_env: Path) -> None:
    settings = load_settings()
    state_file(settings).parent.mkdir(parents=True, exist_ok=True)
    state_file(settings).write_text("garbage\n")
    assert remembered(settings) is None
    assert choose(settings).reason == "no client id is configured"
