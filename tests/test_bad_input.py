# ruff: noqa: E501  (the table of cases reads best one case per line)
"""Bad input from a user: one sentence on stderr, a non-zero exit, no traceback, nothing written.

One row per case: the command line, the environment (and config file) it runs with, the exit
code and a fragment of the sentence. Every case runs the real CLI entry point in-process.

Pseudo-variables of a case's environment: ``@stdin`` is what the user types; ``@prep`` names a
step of :data:`PREPS` that prepares the case (a vault in some state, a file to import);
``@db`` runs the case on :func:`installed`, an initialised database whose bronze holds a
history import (its bronze and files must be unchanged after the case). ``{dir}`` in the
command line or a value is a folder of the case's own; ``{embedded}`` is the embedded server's
Unix socket folder and ``{free_port}`` a port nothing listens on.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from reliability_support import CaseLog, Fingerprint, bronze_fingerprint
from stack_support import SMALL_LIBRARY, PgServer, free_port, make_home, outside_pytest_tmp

from extract.emulator import EmulatorConfig, EmulatorState
from extract.emulator.privacy_export import emulator_plays
from extract.history.synthetic import write_export
from spotify_elt.cli import main
from spotify_elt.config import load_settings
from spotify_elt.db import EmbeddedPostgres
from spotify_elt.vault import Vault

pytestmark = pytest.mark.reliability("Bad input")

SOCKET_DB = "postgresql://postgres:pw@127.0.0.1:5432/spotify_elt"
NOT_UTF8 = b'client_id = "caf\xe9"\n'
EMBEDDED = "host={embedded}"
HISTORY = "Streaming_History_Audio_2026.json"
PLAY = {
    "ts": "2026-11-01T10:00:00Z",
    "ms_played": 1000,
    "spotify_track_uri": "spotify:track:4iV5W9uYEdYUVa79Axb7Rh",
}
LOGIN = {"CLIENT_ID": "bad-input-client", "@stdin": "{redirect}\n"}
STATE_OK = "http://127.0.0.1:8888/callback?code=abc&state={state}"

CASES = [
    # id, argv, environment, config file, exit code, fragment of the message
    # configuration: the file and environment values
    ("config-not-utf8", ["config", "show"], {}, NOT_UTF8, 2, "is not UTF-8 text"),
    ("config-bad-toml", ["config", "show"], {}, b'client_id = "unterminated\n', 2, "is not valid TOML"),
    ("config-wrong-type", ["config", "show"], {}, b'rate_budget = "many"\n', 2, "rate_budget"),
    ("config-float-for-int", ["config", "show"], {}, b"search_pages = 2.5\n", 2, "search_pages"),
    ("config-bad-time-range", ["extract"], {}, b'time_ranges = ["short_term", "all_time"]\n', 2, "'all_time'"),
    ("config-unknown-key", ["config", "show"], {}, b'clientid = "abc"\n', 2, "clientid"),
    ("config-negative-budget", ["extract"], {}, b"rate_budget = -5\n", 2, "rate_budget must not be negative"),
    ("config-negative-refresh", ["extract"], {}, b"catalog_refresh_days = -1\n", 2, "catalog_refresh_days must not be negative"),
    ("config-negative-retries", ["extract"], {}, b"max_retries = -3\n", 2, "max_retries"),
    ("config-table", ["config", "show"], {}, b"[client_id]\nx = 1\n", 2, "client_id"),
    ("config-table-for-list", ["config", "show"], {}, b"search_queries = { rock = 1 }\n", 2, "search_queries must be a list"),
    ("log-level", ["config", "show"], {"LOG_LEVEL": "bogus"}, None, 2, "log_level must be one of"),
    ("env-budget-word", ["extract"], {"RATE_BUDGET": "abc"}, None, 2, "rate_budget"),
    ("env-history-pii", ["config", "show"], {"HISTORY_PII": "keep"}, None, 2, "history_pii"),
    ("env-api-mode", ["config", "show"], {"API_MODE": "turbo"}, None, 2, "api_mode"),
    ("env-time-range", ["config", "show"], {"TIME_RANGES": "forever"}, None, 2, "time_ranges"),
    ("rate-budget-0", ["extract"], {"RATE_BUDGET": "0"}, None, 2, "rate_budget must be a number from 1"),
    ("rate-window-nan", ["extract"], {"RATE_WINDOW_SECONDS": "nan"}, None, 2, "rate_window_seconds must be"),
    ("refresh-days-inf", ["extract"], {"CATALOG_REFRESH_DAYS": "inf"}, None, 2, "catalog_refresh_days must be"),
    ("refresh-days-1e9", ["extract"], {"CATALOG_REFRESH_DAYS": "1e9"}, None, 2, "catalog_refresh_days must be"),
    # database URLs and names
    ("dsn-port", ["db", "status"], {"DATABASE_URL": "postgresql://u:pw@127.0.0.1:99999/db"}, None, 2, "invalid port"),
    ("dsn-connect-timeout", ["db", "status"], {"DATABASE_URL": f"{SOCKET_DB}?connect_timeout=abc"}, None, 2, "connect_timeout='abc'"),
    ("dsn-scheme", ["db", "status"], {"DATABASE_URL": "mysql://u:pw@127.0.0.1/db"}, None, 2, "mysql"),
    ("dsn-unreachable", ["db", "init"], {"DATABASE_URL": "postgresql://postgres:pw@127.0.0.1:{free_port}/db"}, None, 4, "{free_port}"),
    ("dsn-wrong-password", ["db", "init"], {"DATABASE_URL": "postgresql://nobody:pw@/spotify_elt?" + EMBEDDED}, None, 4, "refused the credentials of user 'nobody'"),
    ("dsn-missing-database", ["db", "init"], {"DATABASE_URL": "postgresql://postgres@/no_such_database?" + EMBEDDED}, None, 4, "no_such_database"),
    ("database-name-quote", ["db", "init"], {"DATABASE_NAME": "my'db"}, None, 2, "holds a quote"),
    ("database-name-long", ["db", "init"], {"DATABASE_NAME": "d" * 64}, None, 2, "at most 63 bytes"),
    # the vault
    ("vault-missing", ["secrets", "get", "spotify_client_secret"], {}, None, 3, "There is no vault key"),
    ("vault-key-missing", ["secrets", "list"], {"@prep": "key-deleted"}, None, 3, "There is no vault key"),
    ("vault-wrong-key", ["secrets", "get", "spotify_client_secret"], {"@prep": "key-replaced"}, None, 3, "is not the key of the vault"),
    ("vault-truncated", ["secrets", "list"], {"@prep": "vault-truncated"}, None, 3, "is corrupted (it is not valid JSON)"),
    ("vault-tampered", ["secrets", "get", "spotify_client_secret"], {"@prep": "vault-tampered"}, None, 3, "tampered with"),
    ("vault-key-group-readable", ["secrets", "list"], {"@prep": "key-group-readable"}, None, 3, "0640"),
    ("vault-not-json", ["secrets", "list"], {"@prep": "vault-garbage"}, None, 3, "is corrupted (it is not valid JSON)"),
    # secrets
    ("secret-blank", ["secrets", "set", "spotify_client_secret"], {"@stdin": "   \n"}, None, 3, "whitespace-only value"),
    ("secret-empty", ["secrets", "set", "spotify_client_secret"], {"@stdin": "\n"}, None, 1, "No value for spotify_client_secret"),
    ("secret-bad-name", ["secrets", "set", "no such/name"], {"@stdin": "x\n"}, None, 3, "name"),
    ("secret-unknown", ["secrets", "get", "never_set"], {"@prep": "vault"}, None, 3, "never_set"),
    # history exports
    ("history-missing-path", ["import-history", "{dir}/nowhere.zip"], {"@db": "installed"}, None, 6, "does not exist"),
    ("history-not-a-zip", ["import-history", "{dir}/export.zip"], {"@db": "installed", "@prep": "not-a-zip"}, None, 6, "is not a readable zip archive"),
    ("history-empty-zip", ["import-history", "{dir}/export.zip"], {"@db": "installed", "@prep": "empty-zip"}, None, 6, "no Spotify streaming history"),
    ("history-empty-folder", ["import-history", "{dir}"], {"@db": "installed"}, None, 6, "no Spotify streaming history"),
    ("history-malformed-json", ["import-history", "{dir}/export.zip"], {"@db": "installed", "@prep": "malformed-json"}, None, 6, "is truncated or not valid JSON"),
    ("history-wrong-shape", ["import-history", "{dir}/export.zip"], {"@db": "installed", "@prep": "wrong-shape"}, None, 6, "(it holds a JSON object)"),
    ("history-record-shape", ["import-history", "{dir}/export.zip"], {"@db": "installed", "@prep": "record-not-object"}, None, 6, "item 2 is not an object"),
    ("history-huge-field", ["import-history", "{dir}/export.zip"], {"@db": "installed", "@prep": "huge-field"}, None, 6, "oversized record 1"),
    ("history-zip-slip", ["import-history", "{dir}/export.zip"], {"@db": "installed", "@prep": "zip-slip"}, None, 6, "a path outside the archive"),
    ("history-absolute-entry", ["import-history", "{dir}/export.zip"], {"@db": "installed", "@prep": "zip-absolute"}, None, 6, "a path outside the archive"),
    ("history-bad-pii", ["import-history", "{dir}", "--pii", "keep"], {}, None, 2, "--pii"),
    # Spotify ids
    ("seed-id-path", ["extract"], {"SEED_ARTIST_IDS": "../me"}, None, 2, "'../me', which is not a Spotify id"),
    ("seed-id-in-file", ["extract"], {}, b'seed_artist_ids = ["4Z8W4fKeB5YxbusRsdQVPb", "x/y"]\n', 2, "'x/y'"),
    ("seed-id-query", ["extract"], {"SEED_ARTIST_IDS": "4Z8W4fKeB5YxbusRsdQVPb?x=1"}, None, 2, "not a Spotify id"),
    # emulator options
    ("emulator-port-neg", ["emulator", "serve", "--port", "-1"], {}, None, 2, "--port"),
    ("emulator-port-big", ["emulator", "serve", "--port", "70000"], {}, None, 2, "--port"),
    ("emulator-redirect", ["emulator", "serve", "--redirect-uri", "not a uri"], {}, None, 2, "'not a uri' is not an http(s) URI"),
    ("emulator-scale-0", ["emulator", "serve", "--scale", "0"], {}, None, 2, "--scale"),
    ("emulator-fault-rate", ["emulator", "serve", "--fault-rate", "1.5"], {}, None, 2, "--fault-rate"),
    ("emulator-mode", ["emulator", "serve", "--mode", "fast"], {}, None, 2, "--mode"),
    ("emulator-export-days", ["emulator", "export-history", "--out", "{dir}/x.zip", "--days", "-1"], {}, None, 2, "--days"),
    ("emulator-export-end", ["emulator", "export-history", "--out", "{dir}/x.zip", "--end", "yesterday"], {}, None, 2, "--end"),
    # the pasted login redirect
    ("login-no-client-id", ["auth", "login", "--no-browser"], {}, None, 1, "No Spotify client id"),
    ("login-garbage", ["auth", "login", "--no-browser"], {**LOGIN, "@stdin": "garbage\n"}, None, 1, "not a redirect to http://127.0.0.1:8888/callback"),
    ("login-wrong-state", ["auth", "login", "--no-browser"], {**LOGIN, "@stdin": "http://127.0.0.1:8888/callback?code=abc&state=forged\n"}, None, 1, "state does not match"),
    ("login-no-code", ["auth", "login", "--no-browser"], {**LOGIN, "@stdin": STATE_OK.replace("code=abc&", "") + "\n"}, None, 1, "no authorization code"),
    ("login-denied", ["auth", "login", "--no-browser"], {**LOGIN, "@stdin": "http://127.0.0.1:8888/callback?error=access_denied&state={state}\n"}, None, 1, "did not grant access: access_denied"),
    ("login-no-state", ["auth", "login", "--no-browser"], {**LOGIN, "@stdin": "http://127.0.0.1:8888/callback\n"}, None, 1, "state does not match"),
    ("login-other-site", ["auth", "login", "--no-browser"], {**LOGIN, "@stdin": "https://evil.example/callback?code=abc&state={state}\n"}, None, 1, "not a redirect to"),
]  # fmt: skip


def _tree(*roots: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for root in roots:
        for path in sorted(root.rglob("*")) if root.exists() else []:
            files[str(path)] = path.read_bytes() if path.is_file() else b"<dir>"
    return files


# --------------------------------------------------------------------------- preparing a case


def _vault(home: Path, case_dir: Path) -> None:
    assert main(["secrets", "init"]) == 0
    settings = load_settings()
    Vault.from_settings(settings).set("spotify_client_secret", "s3cret-value")


def _key_file() -> Path:
    return load_settings().effective_vault_key_file


def _vault_file() -> Path:
    return load_settings().effective_vault_path


def _then(step: Callable[[], None]) -> Callable[[Path, Path], None]:
    def prep(home: Path, case_dir: Path) -> None:
        _vault(home, case_dir)
        step()

    return prep


def _replace_key() -> None:
    from cryptography.fernet import Fernet

    key = _key_file()
    mode = key.stat().st_mode & 0o777
    key.chmod(0o600)
    key.write_bytes(Fernet.generate_key())
    key.chmod(mode)


def _tamper() -> None:
    """One character of the stored secret's ciphertext changed: still base64, not authentic."""
    vault = _vault_file()
    data = json.loads(vault.read_text())
    entry = data["entries"]["spotify_client_secret"]
    token = entry["token"]
    entry["token"] = token[:40] + ("B" if token[40] != "B" else "C") + token[41:]
    vault.write_text(json.dumps(data))


def _zip(case_dir: Path, entries: dict[str, bytes]) -> None:
    with zipfile.ZipFile(case_dir / "export.zip", "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def _history(records: object) -> bytes:
    return json.dumps(records).encode()


PREPS: dict[str, Callable[[Path, Path], None]] = {
    "vault": _vault,
    "key-deleted": _then(lambda: _key_file().unlink()),
    "key-replaced": _then(_replace_key),
    "key-group-readable": _then(lambda: _key_file().chmod(0o640)),
    "vault-truncated": _then(lambda: _vault_file().write_bytes(_vault_file().read_bytes()[:40])),
    "vault-tampered": _then(_tamper),
    "vault-garbage": _then(lambda: _vault_file().write_bytes(b"\x00\x01 not a vault")),
    "not-a-zip": lambda home, d: (d / "export.zip").write_text("this is a text file\n"),
    "empty-zip": lambda home, d: _zip(d, {}),
    "malformed-json": lambda home, d: _zip(d, {HISTORY: b'[{"ts": "2026-11-01T10:00:00Z",'}),
    "wrong-shape": lambda home, d: _zip(d, {HISTORY: _history({"plays": [PLAY]})}),
    "record-not-object": lambda home, d: _zip(d, {HISTORY: _history([PLAY, 42])}),
    "huge-field": lambda home, d: _zip(
        d, {HISTORY: _history([{**PLAY, "master_metadata_track_name": "x" * 1_000_000}])}
    ),
    "zip-slip": lambda home, d: _zip(d, {f"../../{HISTORY}": _history([PLAY])}),
    "zip-absolute": lambda home, d: _zip(d, {f"/tmp/{HISTORY}": _history([PLAY])}),
}


class PastedRedirect(io.StringIO):
    """What a user pastes at the login prompt; ``{state}`` is the state of the URL shown."""

    def __init__(self, template: str) -> None:
        super().__init__()
        self.template = template

    def readline(self, size: int | None = -1) -> str:
        import sys

        shown = sys.stdout.getvalue() if hasattr(sys.stdout, "getvalue") else ""
        urls = [w for w in shown.split() if w.startswith("http") and "state=" in w]
        state = parse_qs(urlsplit(urls[-1]).query)["state"][0] if urls else "none-shown"
        return self.template.replace("{state}", state)


# --------------------------------------------------------------------------- an installation


@dataclass
class Installed:
    """An initialised database whose bronze holds one history import, and its directories."""

    env: dict[str, str]
    admin_url: str
    dirs: list[Path]

    def bronze(self) -> Fingerprint:
        return bronze_fingerprint(self.admin_url)


@pytest.fixture(scope="module")
def installed(embedded_server: EmbeddedPostgres) -> Iterator[Installed]:
    root = outside_pytest_tmp("spotify-elt-bad-input-")
    admin = PgServer("embedded", embedded_server.admin_url()).fresh_database()
    settings, vault = make_home(root, admin)
    from datetime import UTC, datetime, timedelta

    end = datetime(2026, 11, 20, 12, tzinfo=UTC)
    state = EmulatorState(EmulatorConfig(**SMALL_LIBRARY))  # type: ignore[arg-type]
    export = write_export(
        list(emulator_plays(state, end - timedelta(days=1), end)), root / "good", seed=7
    )
    from spotify_elt.history import import_history

    assert import_history(settings, vault, export).plays_added > 0
    env = {
        "SPOTIFY_ELT_CONFIG_DIR": str(root / "config"),
        "SPOTIFY_ELT_DATA_DIR": str(root / "data"),
        "SPOTIFY_ELT_STATE_DIR": str(root / "state"),
        "SPOTIFY_ELT_DATABASE_URL": admin,
    }
    yield Installed(env, admin, [root / "config", root / "state"])
    shutil.rmtree(root, ignore_errors=True)


def _digest(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


# --------------------------------------------------------------------------- the test


@pytest.mark.parametrize(
    ("argv", "env", "config", "code", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_bad_input_is_one_sentence_and_changes_nothing(
    isolated_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    reliability: CaseLog,
    argv: list[str],
    env: dict[str, str],
    config: bytes | None,
    code: int,
    fragment: str,
) -> None:
    home = isolated_env
    case_dir = home / "case"
    case_dir.mkdir(parents=True)
    values = {"{dir}": str(case_dir), "{free_port}": str(free_port())}
    if "{embedded}" in str(env):
        server: EmbeddedPostgres = request.getfixturevalue("embedded_server")
        host = parse_qs(urlsplit(server.admin_url()).query).get("host", [""])[0]
        values["{embedded}"] = host

    def fill(text: str) -> str:
        for name, value in values.items():
            text = text.replace(name, value)
        return text

    argv = [fill(a) for a in argv]
    fragment = fill(fragment)
    if argv[:2] == ["secrets", "set"]:
        assert main(["secrets", "init"]) == 0
    if config is not None:
        (home / "config").mkdir(parents=True, exist_ok=True)
        (home / "config" / "config.toml").write_bytes(config)
    dirs = [home, Path(os.environ["SPOTIFY_ELT_DATA_DIR"])]
    site: Installed | None = None
    if env.get("@db"):
        site = request.getfixturevalue(env["@db"])
        for name, value in site.env.items():
            monkeypatch.setenv(name, value)
        dirs = [home, *site.dirs]
    if env.get("@prep"):
        PREPS[env["@prep"]](home, case_dir)
    for name, value in env.items():
        if name == "@stdin":
            stdin = PastedRedirect(value) if "{state}" in value else io.StringIO(value)
            monkeypatch.setattr("sys.stdin", stdin)
        elif not name.startswith("@"):
            monkeypatch.setenv(f"SPOTIFY_ELT_{name}", fill(value))
    # The CLI's log handler writes to this test's stderr.
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_spotify_elt", False)]:
        root.removeHandler(handler)
    before = _digest(_tree(*dirs))
    bronze = site.bronze() if site else None
    capsys.readouterr()

    got = main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert reliability.output(out, err) == 0
    assert (got, len(lines)) == (code, 1), f"exit {got}: {err}"
    assert lines[0].startswith("Error: ") and fragment in lines[0], lines[0]
    assert lines[0].rstrip().endswith((".", ")", "`", "?")), lines[0]
    assert "pw@" not in err  # a DSN's password is never shown
    assert _digest(_tree(*dirs)) == before
    if site is not None:
        assert reliability.compare(site.bronze(), bronze) == (0, 0)
