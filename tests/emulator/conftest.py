"""Fixtures for the emulator suites (and for suites that reuse the emulator).

* ``spotify_contract``: the contract validator, loaded once per session.
* ``emulator`` / ``emulator_extended``: a running :class:`EmulatorServer` per test (start-up is a
  fraction of a second) in development / extended mode with a small catalog.
* ``client`` / ``client_extended``: an :class:`EmulatorClient` on those servers that validates
  every Web API response it receives against the contract.
* ``make_emulator``: a factory for servers with custom settings (stopped after the test).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from contract import SpotifyContract
from emulator_support import TEST_SCALE, EmulatorClient

from extract.emulator import EmulatorConfig, EmulatorServer


@pytest.fixture(scope="session")
def spotify_contract() -> SpotifyContract:
    return SpotifyContract()


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., EmulatorServer]]:
    servers: list[EmulatorServer] = []

    def factory(**settings: Any) -> EmulatorServer:
        settings.setdefault("scale", TEST_SCALE)
        settings.setdefault("seed", 7)
        server = EmulatorServer(EmulatorConfig(**settings)).start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()


@pytest.fixture
def emulator(make_emulator: Callable[..., EmulatorServer]) -> EmulatorServer:
    return make_emulator(mode="development")


@pytest.fixture
def emulator_extended(make_emulator: Callable[..., EmulatorServer]) -> EmulatorServer:
    return make_emulator(mode="extended")


@pytest.fixture
def client(emulator: EmulatorServer, spotify_contract: SpotifyContract) -> EmulatorClient:
    return EmulatorClient(emulator, spotify_contract)


@pytest.fixture
def client_extended(
    emulator_extended: EmulatorServer, spotify_contract: SpotifyContract
) -> EmulatorClient:
    return EmulatorClient(emulator_extended, spotify_contract)
