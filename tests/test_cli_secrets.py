"""``spotify-elt secrets`` end to end: values in only via stdin/prompt, out only via --reveal."""

from __future__ import annotations

import io
import logging
import os
import stat
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest

import spotify_elt
from spotify_elt.vault import CLIENT_SECRET, KEY_ENV_VAR, REFRESH_TOKEN, generate_key


def _import_main() -> Callable[[list[str] | None], int]:
    """Import the CLI entry point, standing in for sibling command groups not written yet.

    ``spotify_elt.cli`` registers groups that other modules provide; while one of those files
    does not exist yet, an empty placeholder group keeps these tests about ``secrets`` runnable.
    """
    cli_dir = Path(spotify_elt.__file__).parent / "cli"
    for sibling in ("config", "db", "emulator", "run"):
        module = f"spotify_elt.cli.{sibling}"
        if module in sys.modules or (cli_dir / f"{sibling}.py").exists():
            continue
        if (cli_dir / sibling).is_dir():
            continue
        stub = types.ModuleType(module)
        setattr(stub, sibling, click.Group(sibling, help="(not available)"))
        sys.modules[module] = stub
    from spotify_elt.cli import main

    return main


main = _import_main()

VALUE = "cs-9f8e7d6c5b4a3-SECRET"
OTHER = "rt-AQBx_long_refresh_token-77"


@pytest.fixture(autouse=True)
def fresh_log_handler() -> Iterator[None]:
    """Let ``main`` bind its stderr log handler to this test's captured stderr, then remove it."""
    root = logging.getLogger()
    level = root.level
    ours = [h for h in root.handlers if getattr(h, "_spotify_elt", False)]
    for handler in ours:
        root.removeHandler(handler)
    yield
    for handler in [h for h in root.handlers if getattr(h, "_spotify_elt", False)]:
        root.removeHandler(handler)
    for handler in ours:
        root.addHandler(handler)
    root.setLevel(level)


class _Stdin(io.StringIO):
    def __init__(self, text: str, tty: bool = False) -> None:
        super().__init__(text)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """Run ``spotify-elt *args`` in-process with ``stdin``; returns (exit code, stdout, stderr)."""

    def _run(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", _Stdin(stdin))
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def _assert_one_sentence_error(err: str) -> None:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("Error: "), err
    assert lines[0].endswith("."), err


# ---- the happy path -----------------------------------------------------------------------


def test_session(run: Run, home: Path) -> None:
    code, out, _ = run("secrets", "init")
    assert code == 0
    assert "Created the vault key file" in out
    assert "Created the empty vault" in out
    assert stat.S_IMODE((home / "state" / "vault.key").stat().st_mode) == 0o600

    code, out, _ = run("secrets", "init")
    assert code == 0
    assert "nothing to do" in out

    code, out, _ = run("secrets", "set", CLIENT_SECRET, stdin=VALUE + "\n")
    assert code == 0
    assert f"Stored {CLIENT_SECRET}" in out
    assert VALUE not in out
    code, out, _ = run("secrets", "set", REFRESH_TOKEN, stdin=OTHER)  # no trailing newline
    assert code == 0
    code, out, _ = run("secrets", "set", CLIENT_SECRET, stdin=VALUE + "\r\n")
    assert code == 0
    assert f"Updated {CLIENT_SECRET}" in out

    code, out, _ = run("secrets", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "UPDATED", "VALUE"]
    assert [line.split()[0] for line in lines[1:]] == [CLIENT_SECRET, REFRESH_TOKEN]
    assert all(line.split()[-1] == "********" for line in lines[1:])
    assert VALUE not in out
    assert OTHER not in out

    code, out, _ = run("secrets", "get", CLIENT_SECRET)
    assert (code, out) == (0, "********\n")
    code, out, _ = run("secrets", "get", CLIENT_SECRET, "--reveal")
    assert (code, out) == (0, VALUE + "\n")  # only the value: `$(... --reveal)` works

    code, out, _ = run("secrets", "rotate-key")
    assert code == 0
    assert "Rotated the vault key: 2 secret(s)" in out
    code, out, _ = run("secrets", "get", REFRESH_TOKEN, "--reveal")
    assert (code, out) == (0, OTHER + "\n")

    code, out, _ = run("secrets", "delete", REFRESH_TOKEN, "--yes")
    assert code == 0
    assert f"Deleted {REFRESH_TOKEN}" in out
    code, out, err = run("secrets", "get", REFRESH_TOKEN)
    assert code == 3
    _assert_one_sentence_error(err)
    assert f"spotify-elt secrets set {REFRESH_TOKEN}" in err


def test_empty_vault_list(run: Run) -> None:
    run("secrets", "init")
    code, out, _ = run("secrets", "list")
    assert code == 0
    assert "is empty" in out


def test_set_prompts_without_echo_on_a_tty(
    run: Run, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run("secrets", "init")
    seen: dict[str, object] = {}

    def fake_prompt(text: str, **kwargs: object) -> str:
        seen.update(kwargs, text=text)
        return VALUE

    monkeypatch.setattr(click, "prompt", fake_prompt)
    monkeypatch.setattr(sys, "stdin", _Stdin("", tty=True))
    assert main(["secrets", "set", CLIENT_SECRET]) == 0
    assert seen["hide_input"] is True
    assert seen["confirmation_prompt"] is True
    capsys.readouterr()
    assert run("secrets", "get", CLIENT_SECRET, "--reveal")[:2] == (0, VALUE + "\n")


def test_delete_asks_first(run: Run) -> None:
    run("secrets", "init")
    run("secrets", "set", CLIENT_SECRET, stdin=VALUE)
    code, _, err = run("secrets", "delete", CLIENT_SECRET, stdin="n\n")
    assert code == 130
    assert "Aborted" in err
    assert run("secrets", "get", CLIENT_SECRET)[0] == 0
    code, out, _ = run("secrets", "delete", CLIENT_SECRET, stdin="y\n")
    assert code == 0
    assert "Deleted" in out
    assert run("secrets", "get", CLIENT_SECRET)[0] == 3


def test_every_command_has_help(run: Run) -> None:
    code, out, _ = run("secrets", "--help")
    assert code == 0
    for command in ("init", "set", "list", "get", "delete", "rotate-key"):
        assert command in out
        code, text, _ = run("secrets", command, "--help")
        assert code == 0
        assert len(text.split("\n\n")[1].strip()) > 20, command  # the docstring


_STUBBED_ENTRY = """
import sys, types, click
from pathlib import Path
import spotify_elt
cli_dir = Path(spotify_elt.__file__).parent / "cli"
for sibling in ("config", "db", "emulator", "run"):
    if not (cli_dir / f"{sibling}.py").exists() and not (cli_dir / sibling).is_dir():
        stub = types.ModuleType(f"spotify_elt.cli.{sibling}")
        setattr(stub, sibling, click.Group(sibling))
        sys.modules[stub.__name__] = stub
from spotify_elt.cli import entry_point
entry_point()
"""


def test_console_script(home: Path) -> None:
    """A real process with a real pipe on stdin, as a user (or `$(...)`) would run it.

    Uses the installed ``spotify-elt`` script; while a sibling command module is missing, the
    same entry point behind placeholder groups.
    """
    script = Path(sys.executable).parent / "spotify-elt"
    command: list[str] = [str(script)]
    probe = (
        subprocess.run([script, "secrets", "--help"], capture_output=True, text=True)
        if script.exists()
        else None
    )
    if probe is None or probe.returncode != 0:
        command = [sys.executable, "-c", _STUBBED_ENTRY]

    def spotify_elt(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args], input=stdin, env=os.environ.copy(), text=True, capture_output=True
        )

    assert spotify_elt("secrets", "init").returncode == 0
    stored = spotify_elt("secrets", "set", CLIENT_SECRET, stdin=VALUE + "\n")
    assert stored.returncode == 0, stored.stderr
    assert VALUE not in stored.stdout + stored.stderr
    got = spotify_elt("secrets", "get", CLIENT_SECRET, "--reveal")
    assert (got.returncode, got.stdout) == (0, VALUE + "\n")
    missing = spotify_elt("secrets", "get", "nope")
    assert missing.returncode == 3
    _assert_one_sentence_error(missing.stderr)


# ---- errors: one sentence, the right exit code --------------------------------------------


def test_set_refuses_empty_stdin(run: Run) -> None:
    run("secrets", "init")
    for stdin in ("", "\n"):
        code, _, err = run("secrets", "set", CLIENT_SECRET, stdin=stdin)
        assert code == 1
        _assert_one_sentence_error(err)
        assert "No value" in err
    assert (
        run("secrets", "list")[1]
        .strip()
        .endswith("is empty; add a secret with `spotify-elt secrets set NAME`.")
    )


def test_value_is_never_taken_from_argv(run: Run) -> None:
    run("secrets", "init")
    code, _, err = run("secrets", "set", CLIENT_SECRET, VALUE, stdin=OTHER)
    assert code == 2
    assert "unexpected extra argument" in err.lower()
    assert run("secrets", "get", CLIENT_SECRET)[0] == 3  # nothing stored


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (("secrets", "list"), 3, "secrets init"),
        (("secrets", "get", CLIENT_SECRET), 3, "secrets init"),
        (("secrets", "rotate-key"), 3, "secrets init"),
    ],
)
def test_errors_before_init(run: Run, args: tuple[str, ...], code: int, fragment: str) -> None:
    got, _, err = run(*args)
    assert got == code
    _assert_one_sentence_error(err)
    assert fragment in err


def test_error_cases_after_init(run: Run, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run("secrets", "init")
    run("secrets", "set", CLIENT_SECRET, stdin=VALUE)
    key_file = home / "state" / "vault.key"
    vault_file = home / "config" / "vault.json"

    cases: list[tuple[tuple[str, ...], str, int, str]] = [
        (("secrets", "set", "Bad Name"), VALUE, 3, "invalid"),
        (("secrets", "get", "nope"), "", 3, "spotify-elt secrets set nope"),
        (("secrets", "delete", "nope", "--yes"), "", 3, "secrets list"),
    ]
    for args, stdin, code, fragment in cases:
        got, _, err = run(*args, stdin=stdin)
        assert got == code, (args, err)
        _assert_one_sentence_error(err)
        assert fragment in err

    os.chmod(key_file, 0o640)
    got, _, err = run("secrets", "get", CLIENT_SECRET)
    assert got == 3
    _assert_one_sentence_error(err)
    assert f"chmod 600 {key_file}" in err
    os.chmod(key_file, 0o600)

    good_key = key_file.read_text()
    key_file.write_text(generate_key() + "\n")
    got, _, err = run("secrets", "set", REFRESH_TOKEN, stdin=OTHER)
    assert got == 3
    _assert_one_sentence_error(err)
    assert "is not the key of the vault" in err
    key_file.write_text(good_key)

    saved = vault_file.read_bytes()
    vault_file.write_text("{oops")
    got, _, err = run("secrets", "list")
    assert got == 3
    _assert_one_sentence_error(err)
    assert "corrupted" in err
    vault_file.write_bytes(saved)

    monkeypatch.setenv(KEY_ENV_VAR, good_key.strip())
    got, _, err = run("secrets", "rotate-key")
    assert got == 3
    _assert_one_sentence_error(err)
    assert "cannot rewrite your environment" in err

    monkeypatch.setenv(KEY_ENV_VAR, "not-a-key")
    got, _, err = run("secrets", "list")
    assert got == 3
    _assert_one_sentence_error(err)
    assert "malformed" in err


# ---- nothing leaks ------------------------------------------------------------------------


class _RawHandler(logging.Handler):
    """Keeps every record as emitted, refusing the redaction filter, to catch real leaks."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def addFilter(self, filter: object) -> None:
        return None

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(f"{record.msg!s} {record.args!r} {record.getMessage()}")
        if record.exc_info:
            self.texts.append(logging.Formatter().formatException(record.exc_info))


def test_no_secret_appears_anywhere_but_reveal(
    run: Run,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("SPOTIFY_ELT_LOG_LEVEL", "DEBUG")
    caplog.set_level(logging.DEBUG)
    raw = _RawHandler()
    # First in line: the redacting filter on later handlers rewrites the shared record in place.
    logging.getLogger().handlers.insert(0, raw)
    try:
        transcript: list[str] = []
        revealed: list[str] = []

        def step(*args: str, stdin: str = "") -> int:
            code, out, err = run(*args, stdin=stdin)
            if "--reveal" in args:
                revealed.append(out)
            else:
                transcript.append(out)
            transcript.append(err)
            return code

        step("secrets", "init")
        step("secrets", "set", CLIENT_SECRET, stdin=VALUE + "\n")
        step("secrets", "set", REFRESH_TOKEN, stdin=OTHER + "\n")
        step("secrets", "set", "Bad", stdin=VALUE + "\n")
        step("secrets", "list")
        step("secrets", "get", CLIENT_SECRET)
        step("secrets", "get", REFRESH_TOKEN)
        step("secrets", "rotate-key")
        step("secrets", "get", CLIENT_SECRET, "--reveal")
        step("secrets", "delete", REFRESH_TOKEN, "--yes")
        step("secrets", "get", REFRESH_TOKEN)
        step("secrets", "get", "missing")
        step("secrets", "list")
        key = (home / "state" / "vault.key").read_text().strip()
    finally:
        logging.getLogger().removeHandler(raw)

    assert revealed == [VALUE + "\n"]
    assert raw.texts, "the session logged nothing at DEBUG: the capture is not working"
    everything = "\n".join(
        [*transcript, caplog.text, *(r.getMessage() for r in caplog.records), *raw.texts]
    )
    for secret in (VALUE, OTHER, key):
        assert secret not in everything
    vault_text = (home / "config" / "vault.json").read_text()
    assert VALUE not in vault_text
    assert OTHER not in vault_text
