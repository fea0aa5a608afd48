"""PostgreSQL restarted under a running extraction: it completes, or fails with one sentence and
the next run converges on bronze as a clean run leaves it.

Two servers: the project's own embedded one (the default of ``spotify-elt``: no DSN, data in the
data directory), stopped (``pg_ctl stop -m fast``, which ends every session as a server restart
does) and started again while ``spotify-elt extract`` runs in a subprocess; and the machine's
server (``SPOTIFY_ELT_TEST_DATABASE_URL``, the external DSN of the suite), restarted with Debian's
``pg_ctlcluster <version> <cluster> restart -m fast`` while the extractor loads into a database of
its own there. The machine's server is restarted only when ``SPOTIFY_ELT_TEST_RESTART_SERVER=1``
says this machine allows it (``.ci/run`` sets it when it runs as root beside a Debian cluster):
other work may use that server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import psycopg
import pytest
from reliability_support import CaseLog, Fingerprint, bronze_fingerprint
from stack_support import SMALL_LIBRARY, PgServer, make_stack, outside_pytest_tmp
from suite_support import error_lines

from extract.emulator import EmulatorConfig, EmulatorServer
from spotify_elt.db import EmbeddedPostgres

pytestmark = [pytest.mark.reliability("PostgreSQL restart"), pytest.mark.slow]

# Read at import, before the suite's fixtures clear every SPOTIFY_ELT_* variable.
EXTERNAL_URL = os.environ.get("SPOTIFY_ELT_TEST_DATABASE_URL")
RESTART_ALLOWED = os.environ.get("SPOTIFY_ELT_TEST_RESTART_SERVER") == "1"


def _loader_writing(watch: psycopg.Connection, emulator: EmulatorServer) -> bool:
    """The extractor's user data is fetched and the loader role is writing it."""
    if emulator.request_count("GET /v1/me/playlists") == 0:
        return False
    row = watch.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE usename LIKE 'spotify\\_loader\\_%' "
        "AND state = 'active' AND query ~* '^\\s*(copy|insert|create|alter|delete|update)'"
    ).fetchone()
    return bool(row and row[0])


TRIGGERS: dict[str, Callable[[psycopg.Connection, EmulatorServer], bool]] = {
    "while the catalog is fetched": lambda watch, emu: (
        emu.request_count("GET /v1/albums/{id}") >= 15
    ),
    "while bronze is loaded": _loader_writing,
}


@dataclass
class Restartable:
    """A PostgreSQL server the test may restart, and the admin URL of the test's database."""

    admin_url: str
    restart: Callable[[], None]


def _debian_cluster(url: str) -> tuple[str, str] | None:
    """The (version, cluster) of the Debian cluster serving ``url``'s port, if it is local."""
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1") or not shutil.which("pg_lsclusters"):
        return None
    listed = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=False
    )
    for line in listed.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == str(parts.port or 5432) and fields[3] == "online":
            return fields[0], fields[1]
    return None


def _machine_server() -> Restartable:
    if not EXTERNAL_URL:
        pytest.skip("no machine server: SPOTIFY_ELT_TEST_DATABASE_URL is not set")
    if not RESTART_ALLOWED:
        pytest.skip("SPOTIFY_ELT_TEST_RESTART_SERVER=1 is not set: the machine's server stays up")
    cluster = _debian_cluster(EXTERNAL_URL)
    if cluster is None:
        pytest.skip(f"no local Debian cluster (pg_lsclusters) serves {urlsplit(EXTERNAL_URL).port}")

    def restart() -> None:
        subprocess.run(
            ["pg_ctlcluster", *cluster, "restart", "-m", "fast"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    return Restartable(PgServer("external", EXTERNAL_URL).fresh_database(), restart)


def _restart_embedded(server: EmbeddedPostgres) -> Callable[[], None]:
    def restart() -> None:
        server.down()
        server.up()

    return restart


@pytest.fixture(params=["embedded", "machine"])
def project(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[Restartable, EmulatorServer, dict[str, str]]]:
    root = outside_pytest_tmp("spotify-elt-reliability-restart-")
    embedded: EmbeddedPostgres | None = None
    if request.param == "embedded":
        embedded = EmbeddedPostgres(root / "data" / "pgdata", "spotify_elt")
        embedded.up()
        server = Restartable(embedded.admin_url(), _restart_embedded(embedded))
    else:
        server = _machine_server()
    config = EmulatorConfig(**SMALL_LIBRARY, latency_ms=5)  # type: ignore[arg-type]
    try:
        with EmulatorServer(config) as emulator:
            if embedded is not None:
                stack = make_stack(root, server.admin_url, emulator, database_url=None)
                env = stack.env()
                del env["SPOTIFY_ELT_DATABASE_URL"]  # the embedded default
            else:
                env = make_stack(root, server.admin_url, emulator).env()
            yield server, emulator, env
    finally:
        if embedded is not None:
            embedded.down()
        shutil.rmtree(root, ignore_errors=True)


def _extract(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "spotify_elt", "extract", "--quiet"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("trigger", TRIGGERS.values(), ids=TRIGGERS.keys())
def test_restart_mid_run_completes_or_fails_cleanly_and_converges(
    trigger: Callable[[psycopg.Connection, EmulatorServer], bool],
    project: tuple[Restartable, EmulatorServer, dict[str, str]],
    reference: Fingerprint,
    reliability: CaseLog,
) -> None:
    server, emulator, env = project
    proc = _extract(env)
    deadline = time.monotonic() + 180
    with psycopg.connect(server.admin_url, autocommit=True) as watch:
        while not trigger(watch, emulator):
            assert proc.poll() is None, f"the run ended before the restart: {proc.communicate()[1]}"
            assert time.monotonic() < deadline, "the restart point never came"
            time.sleep(0.005)
    server.restart()
    out, err = proc.communicate(timeout=300)
    reliability.output(out, err)
    assert "Traceback" not in err, err[-3000:]
    if proc.returncode != 0:
        # One clear failure; then a plain re-run converges.
        assert len(error_lines(err)) == 1, err[-3000:]
        again = subprocess.run(
            [sys.executable, "-m", "spotify_elt", "extract", "--quiet"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        reliability.output(again.stdout, again.stderr)
        assert again.returncode == 0, again.stderr[-3000:]
    got = bronze_fingerprint(server.admin_url, base_url=emulator.base_url)
    lost, duplicated = reliability.compare(got, reference)
    assert (lost, duplicated) == (0, 0)
