"""The credential vault: encryption, error naming, permissions, crash safety and key rotation."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

import spotify_elt.vault as vault_mod
from spotify_elt.config import load_settings
from spotify_elt.errors import UserError, VaultError
from spotify_elt.logs import redact
from spotify_elt.vault import (
    CLIENT_SECRET,
    KEY_ENV_VAR,
    REFRESH_TOKEN,
    Vault,
    db_password_name,
    generate_key,
    key_id,
    validate_name,
)

SECRET_A = "client-secret-Zq8wX1yV2u"
SECRET_B = "refresh-token-Pp4Lk9Jh3g-ünïcødé"


def _vault() -> Vault:
    return Vault.from_settings(load_settings())


@pytest.fixture
def vault() -> Vault:
    """An initialised vault holding two secrets."""
    v = _vault()
    v.init()
    v.set(CLIENT_SECRET, SECRET_A)
    v.set(REFRESH_TOKEN, SECRET_B)
    return v


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _temps(directory: Path) -> list[Path]:
    return sorted(directory.glob(".*.tmp"))


def _flip(token: str) -> str:
    """Change one character in the middle of a Fernet token (still valid base64)."""
    i = len(token) // 2
    return token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]


# ---- init and layout ----------------------------------------------------------------------


def test_init_creates_private_key_and_empty_vault(home: Path) -> None:
    v = _vault()
    assert not v.exists()
    result = v.init()
    assert result.created_key_file
    assert result.created_vault
    assert v.exists()
    assert v.path == home / "config" / "vault.json"
    assert v.key_file == home / "state" / "vault.key"
    assert _mode(v.path) == 0o600
    assert _mode(v.key_file) == 0o600
    assert _mode(v.key_file.parent) == 0o700
    assert v.names() == []

    vault_before, key_before = v.path.read_bytes(), v.key_file.read_bytes()
    again = v.init()  # idempotent, overwrites nothing
    assert not again.created_key_file
    assert not again.created_vault
    assert v.path.read_bytes() == vault_before
    assert v.key_file.read_bytes() == key_before


def test_file_format(vault: Vault) -> None:
    doc = json.loads(vault.path.read_text())
    key = vault.key_file.read_text().splitlines()[0]
    assert doc["format"] == "spotify-elt-vault"
    assert doc["version"] == 2
    assert doc["key_id"] == key_id(key)
    assert len(doc["key_id"]) == 16
    assert set(doc["entries"]) == {CLIENT_SECRET, REFRESH_TOKEN}
    for entry in doc["entries"].values():
        assert set(entry) == {"token", "updated_at"}
        assert entry["updated_at"].endswith("+00:00")
    assert SECRET_A not in vault.path.read_text()
    plain = Fernet(key).decrypt(doc["entries"][CLIENT_SECRET]["token"]).decode()
    assert plain == f"spotify-elt-vault/2\x00{CLIENT_SECRET}\x00{SECRET_A}"  # name bound in
    assert vault.key_file.read_text() == key + "\n"  # one key per line


def test_init_refuses_key_beside_vault(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOTIFY_ELT_VAULT_KEY_FILE", str(home / "config" / "vault.key"))
    with pytest.raises(VaultError, match="beside the vault"):
        _vault().init()
    assert not (home / "config" / "vault.key").exists()


def test_init_refuses_new_key_for_existing_vault(vault: Vault) -> None:
    before = vault.path.read_bytes()
    vault.key_file.unlink()
    with pytest.raises(VaultError, match="restore the key file"):
        vault.init()
    assert not vault.key_file.exists()
    assert vault.path.read_bytes() == before


def test_init_with_existing_key_file_creates_vault_with_it(home: Path) -> None:
    key = generate_key()
    state = home / "state"
    state.mkdir(mode=0o700)
    (state / "vault.key").write_text(key + "\n")
    os.chmod(state / "vault.key", 0o600)
    result = _vault().init()
    assert result == vault_mod.InitResult(created_key_file=False, created_vault=True)
    assert json.loads(_vault().path.read_text())["key_id"] == key_id(key)


def test_init_tightens_own_key_directory(home: Path) -> None:
    state = home / "state"
    state.mkdir()
    os.chmod(state, 0o755)  # noqa: S103 - the looser mode under test
    _vault().init()
    assert _mode(state) == 0o700


def test_paths_follow_settings(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOTIFY_ELT_VAULT_PATH", str(home / "elsewhere" / "v.json"))
    monkeypatch.setenv("SPOTIFY_ELT_VAULT_KEY_FILE", str(home / "keys" / "k"))
    v = _vault()
    v.init()
    assert (home / "elsewhere" / "v.json").is_file()
    assert _mode(home / "keys" / "k") == 0o600
    assert _mode(home / "keys") == 0o700


# ---- round trip and names -----------------------------------------------------------------


def test_round_trip(vault: Vault) -> None:
    fresh = _vault()  # another process would see the same
    assert fresh.get(CLIENT_SECRET) == SECRET_A
    assert fresh.require(REFRESH_TOKEN) == SECRET_B
    assert fresh.get("absent") is None
    assert fresh.names() == [CLIENT_SECRET, REFRESH_TOKEN]
    infos = fresh.items_redacted()
    assert [i.name for i in infos] == [CLIENT_SECRET, REFRESH_TOKEN]
    assert all(i.value == "********" for i in infos)

    assert fresh.set(CLIENT_SECRET, "changed-value-123") is True
    assert fresh.get(CLIENT_SECRET) == "changed-value-123"
    assert fresh.delete(CLIENT_SECRET) is True
    assert fresh.delete(CLIENT_SECRET) is False
    assert fresh.get(CLIENT_SECRET) is None
    assert fresh.names() == [REFRESH_TOKEN]
    assert _mode(fresh.path) == 0o600


def test_require_names_secret_and_command(vault: Vault) -> None:
    with pytest.raises(VaultError) as err:
        vault.require("postgres_loader_password")
    assert "'postgres_loader_password'" in str(err.value)
    assert "spotify-elt secrets set postgres_loader_password" in str(err.value)
    assert isinstance(err.value, UserError)
    assert err.value.exit_code == 3


@pytest.mark.parametrize(
    "name", ["", "Upper", "1abc", "_x", "with space", "a" * 65, "x/y", "é", "a;rm"]
)
def test_invalid_names_refused(vault: Vault, name: str) -> None:
    before = vault.path.read_bytes()
    with pytest.raises(VaultError, match="name"):
        vault.set(name, "some-value-123")
    with pytest.raises(VaultError, match="name"):
        vault.get(name)
    assert vault.path.read_bytes() == before


def test_name_helpers() -> None:
    assert CLIENT_SECRET == "spotify_client_secret"
    assert REFRESH_TOKEN == "spotify_refresh_token"
    assert db_password_name("loader") == "postgres_loader_password"
    assert validate_name("a" * 64) == "a" * 64
    assert validate_name("x.y-z_1") == "x.y-z_1"
    with pytest.raises(VaultError):
        db_password_name("Bad Role")


def test_empty_value_refused(vault: Vault) -> None:
    with pytest.raises(VaultError, match="empty"):
        vault.set("x", "")


def test_missing_vault_and_missing_key(home: Path) -> None:
    v = _vault()
    with pytest.raises(VaultError, match="secrets init"):
        v.get(CLIENT_SECRET)
    v.init()
    v.key_file.unlink()
    with pytest.raises(VaultError, match=r"no vault key.*secrets init"):
        v.get(CLIENT_SECRET)
    v.path.unlink()
    with pytest.raises(VaultError, match="There is no vault"):
        Vault(v.path, v.key_file, env_key=generate_key()).set("x", "value-123")


# ---- wrong key, tampering, corruption -----------------------------------------------------


def test_wrong_key_is_named_and_changes_nothing(vault: Vault) -> None:
    before = vault.path.read_bytes()
    vault.key_file.write_text(generate_key() + "\n")
    for call in (
        lambda: vault.get(CLIENT_SECRET),
        lambda: vault.set("other", "value-123456"),
        lambda: vault.delete(CLIENT_SECRET),
        vault.names,
        vault.rotate_key,
        vault.init,
    ):
        with pytest.raises(VaultError, match="is not the key of the vault") as err:
            call()
        assert SECRET_A not in str(err.value)
    assert vault.path.read_bytes() == before


def test_tampered_entry_is_named_and_vault_unchanged(vault: Vault) -> None:
    doc = json.loads(vault.path.read_text())
    doc["entries"][CLIENT_SECRET]["token"] = _flip(doc["entries"][CLIENT_SECRET]["token"])
    vault.path.write_text(json.dumps(doc))
    before = vault.path.read_bytes()
    key_before = vault.key_file.read_bytes()

    with pytest.raises(VaultError, match=r"'spotify_client_secret'.*tampered") as err:
        vault.get(CLIENT_SECRET)
    assert "spotify-elt secrets set spotify_client_secret" in str(err.value)
    assert vault.get(REFRESH_TOKEN) == SECRET_B  # the other entry is fine
    with pytest.raises(VaultError, match="tampered"):
        vault.verify()
    with pytest.raises(VaultError, match="tampered"):
        vault.rotate_key()  # refuses before touching anything
    assert vault.path.read_bytes() == before
    assert vault.key_file.read_bytes() == key_before

    vault.set(CLIENT_SECRET, SECRET_A)  # the named fix works
    assert vault.verify() == 2


def test_token_swapped_in_from_other_key_is_tampering(vault: Vault) -> None:
    doc = json.loads(vault.path.read_text())
    doc["entries"][CLIENT_SECRET]["token"] = Fernet(generate_key()).encrypt(b"evil").decode()
    vault.path.write_text(json.dumps(doc))
    with pytest.raises(VaultError, match="tampered"):
        vault.get(CLIENT_SECRET)


@pytest.mark.parametrize(
    "swap",
    [
        pytest.param(lambda e: (e[REFRESH_TOKEN], e[CLIENT_SECRET]), id="swapped"),
        pytest.param(lambda e: (e[REFRESH_TOKEN], e[REFRESH_TOKEN]), id="copied"),
    ],
)
def test_entries_are_bound_to_their_names(vault: Vault, swap: Any) -> None:
    doc = json.loads(vault.path.read_text())
    entries = doc["entries"]
    entries[CLIENT_SECRET], entries[REFRESH_TOKEN] = swap(dict(entries))
    vault.path.write_text(json.dumps(doc))
    with pytest.raises(VaultError, match=r"'spotify_client_secret'.*tampered"):
        vault.get(CLIENT_SECRET)
    with pytest.raises(VaultError, match="tampered"):
        vault.verify()


def _as_version_1(vault: Vault) -> None:
    """Rewrite ``vault`` as spotify-elt wrote it before names were bound (format version 1)."""
    key = Fernet(vault.key_file.read_text().splitlines()[0])
    doc = json.loads(vault.path.read_text())
    for name, entry in doc["entries"].items():
        value = vault.get(name)
        assert value is not None
        entry["token"] = key.encrypt(value.encode()).decode()
    doc["version"] = 1
    vault.path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda v: v.set("other_secret", "value-5678"), id="set"),
        pytest.param(lambda v: v.delete("other_secret") or True, id="delete"),
        pytest.param(lambda v: v.rotate_key(), id="rotate"),
    ],
)
def test_version_1_vault_is_read_and_migrated_on_write(vault: Vault, write: Any) -> None:
    vault.set("other_secret", "value-1234")
    _as_version_1(vault)
    assert vault.get(CLIENT_SECRET) == SECRET_A
    assert vault.verify() == 3
    assert json.loads(vault.path.read_text())["version"] == 1  # reading changes nothing
    write(vault)
    doc = json.loads(vault.path.read_text())
    assert doc["version"] == 2
    assert vault.get(CLIENT_SECRET) == SECRET_A and vault.get(REFRESH_TOKEN) == SECRET_B
    entries = doc["entries"]
    entries[CLIENT_SECRET], entries[REFRESH_TOKEN] = entries[REFRESH_TOKEN], entries[CLIENT_SECRET]
    vault.path.write_text(json.dumps(doc))
    with pytest.raises(VaultError, match="tampered"):
        vault.get(CLIENT_SECRET)


def test_version_2_tokens_in_a_file_claiming_version_1_still_bind(vault: Vault) -> None:
    doc = json.loads(vault.path.read_text())
    entries = doc["entries"]
    entries[CLIENT_SECRET], entries[REFRESH_TOKEN] = entries[REFRESH_TOKEN], entries[CLIENT_SECRET]
    doc["version"] = 1
    vault.path.write_text(json.dumps(doc))
    with pytest.raises(VaultError, match="tampered"):
        vault.get(CLIENT_SECRET)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "empty"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[]", "not a spotify-elt-vault file"),
        (b'{"format": "other"}', "not a spotify-elt-vault file"),
        (b'{"format": "spotify-elt-vault", "version": "1"}', "version"),
        (b'{"format": "spotify-elt-vault", "version": 1, "key_id": "zz"}', "key_id"),
        (
            b'{"format": "spotify-elt-vault", "version": 1, "key_id": "0123456789abcdef",'
            b' "entries": []}',
            "entries",
        ),
        (
            b'{"format": "spotify-elt-vault", "version": 1, "key_id": "0123456789abcdef",'
            b' "entries": {"x": {"token": 1}}}',
            "'x' is malformed",
        ),
    ],
)
def test_corrupted_file_is_named_and_left_alone(vault: Vault, content: bytes, why: str) -> None:
    vault.path.write_bytes(content)
    for call in (lambda: vault.get(CLIENT_SECRET), lambda: vault.set("x", "value-1234")):
        with pytest.raises(VaultError, match="corrupted") as err:
            call()
        assert why in str(err.value)
        assert "restore it from a backup" in str(err.value)
    assert vault.path.read_bytes() == content


def test_newer_format_version_says_upgrade(vault: Vault) -> None:
    doc = json.loads(vault.path.read_text())
    doc["version"] = 3
    vault.path.write_text(json.dumps(doc))
    with pytest.raises(VaultError, match="upgrade spotify-elt"):
        vault.names()


# ---- key file permissions and format ------------------------------------------------------


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_key_file_open_to_others_is_refused(vault: Vault, mode: int) -> None:
    os.chmod(vault.key_file, mode)
    with pytest.raises(VaultError) as err:
        vault.get(CLIENT_SECRET)
    assert f"chmod 600 {vault.key_file}" in str(err.value)
    os.chmod(vault.key_file, 0o600)
    assert vault.get(CLIENT_SECRET) == SECRET_A


def test_malformed_key_file(vault: Vault) -> None:
    vault.key_file.write_text("# comment\n\nnot-a-fernet-key\n")
    with pytest.raises(VaultError, match="Line 3 of the vault key file") as err:
        vault.get(CLIENT_SECRET)
    assert "not-a-fernet-key" not in str(err.value)
    vault.key_file.write_text("\n# only a comment\n")
    with pytest.raises(VaultError, match="holds no key"):
        vault.get(CLIENT_SECRET)


def test_key_file_symlink_refused(vault: Vault, home: Path) -> None:
    real = home / "state" / "real.key"
    os.replace(vault.key_file, real)
    vault.key_file.symlink_to(real)
    with pytest.raises(VaultError, match="symbolic link"):
        vault.get(CLIENT_SECRET)


# ---- key from the environment -------------------------------------------------------------


def test_env_key(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = generate_key()
    monkeypatch.setenv(KEY_ENV_VAR, key)
    v = _vault()
    assert v.init().created_key_file is False
    assert not v.key_file.exists()  # no key file when the key comes from the environment
    v.set(CLIENT_SECRET, SECRET_A)
    assert _vault().get(CLIENT_SECRET) == SECRET_A
    assert json.loads(v.path.read_text())["key_id"] == key_id(key)
    assert key not in repr(v)
    assert v.key_source == KEY_ENV_VAR

    # a secondary key may be listed after the primary
    monkeypatch.setenv(KEY_ENV_VAR, f" {generate_key()} , {key} ")
    assert _vault().get(CLIENT_SECRET) == SECRET_A

    monkeypatch.setenv(KEY_ENV_VAR, generate_key())
    with pytest.raises(VaultError, match=f"key from {KEY_ENV_VAR}.*is not the key"):
        _vault().get(CLIENT_SECRET)

    monkeypatch.setenv(KEY_ENV_VAR, f"{key},garbage")
    with pytest.raises(VaultError, match="item 2 of 2") as err:
        _vault().get(CLIENT_SECRET)
    assert key not in str(err.value)
    assert "garbage" not in str(err.value)


# ---- crash safety -------------------------------------------------------------------------


@pytest.mark.parametrize("failing", ["replace", "fsync", "fchmod", "interrupt"])
def test_failed_write_leaves_old_vault(
    vault: Vault, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    before = vault.path.read_bytes()

    def boom(*args: object, **kwargs: object) -> None:
        if failing == "interrupt":
            raise KeyboardInterrupt
        raise OSError(28, "No space left on device")

    target = "replace" if failing == "interrupt" else failing
    with monkeypatch.context() as patch:
        patch.setattr(vault_mod.os, target, boom)
        with pytest.raises((OSError, KeyboardInterrupt)):
            vault.set(CLIENT_SECRET, "new-value-that-is-lost")
    assert vault.path.read_bytes() == before
    assert _temps(vault.path.parent) == []
    assert _vault().get(CLIENT_SECRET) == SECRET_A


def test_sigkill_mid_write_leaves_old_vault(vault: Vault, home: Path) -> None:
    ready = home / "ready"
    script = textwrap.dedent(
        f"""
        import os, time
        import spotify_elt.vault as vm
        from spotify_elt.config import load_settings

        def slow_fsync(fd):
            open({str(ready)!r}, "w").close()
            time.sleep(60)

        vm.os.fsync = slow_fsync
        vm.Vault.from_settings(load_settings()).set("spotify_client_secret", "never-written-1")
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy())
    try:
        deadline = time.monotonic() + 15
        while not ready.exists():
            assert proc.poll() is None, "the writer exited early"
            assert time.monotonic() < deadline, "the writer never reached fsync"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # The killed writer left its temporary file, but the vault itself is the old one.
    assert len(_temps(vault.path.parent)) == 1
    assert _vault().get(CLIENT_SECRET) == SECRET_A
    assert _vault().get(REFRESH_TOKEN) == SECRET_B
    # The next write removes the leftover (and is not blocked: the kernel released the lock).
    _vault().set("other", "value-123456")
    assert _temps(vault.path.parent) == []
    assert _vault().names() == sorted([CLIENT_SECRET, "other", REFRESH_TOKEN])


def test_leftover_temp_files_are_ignored(vault: Vault) -> None:
    (vault.path.parent / ".vault.json.abc123.tmp").write_text("{half")
    assert vault.get(CLIENT_SECRET) == SECRET_A
    vault.delete(REFRESH_TOKEN)
    assert _temps(vault.path.parent) == []


def test_concurrent_writers_lose_nothing(vault: Vault) -> None:
    errors: list[BaseException] = []

    def writer(prefix: str) -> None:
        try:
            for i in range(8):
                _vault().set(f"{prefix}{i}", f"value-{prefix}-{i}-xyz")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in ("a", "b", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(vault.names()) == 2 + 3 * 8
    assert vault.verify() == 26


# ---- key rotation -------------------------------------------------------------------------


def _key_lines(v: Vault) -> list[str]:
    return [line for line in v.key_file.read_text().splitlines() if line]


def _opens(path: Path, key: str) -> bool:
    try:
        Vault(path, Path("/nonexistent"), env_key=key).verify()
    except VaultError:
        return False
    return True


def test_rotation(vault: Vault) -> None:
    old = _key_lines(vault)[0]
    result = vault.rotate_key()
    new = _key_lines(vault)
    assert len(new) == 1
    assert new[0] != old
    assert result.old_key_id == key_id(old)
    assert result.new_key_id == key_id(new[0])
    assert result.entries == 2
    assert not result.resumed
    assert json.loads(vault.path.read_text())["key_id"] == key_id(new[0])
    assert _vault().get(CLIENT_SECRET) == SECRET_A
    assert _vault().get(REFRESH_TOKEN) == SECRET_B
    assert not _opens(vault.path, old)
    assert _opens(vault.path, new[0])
    assert _mode(vault.key_file) == 0o600
    assert _mode(vault.path) == 0o600
    assert _temps(vault.path.parent) == []
    assert _temps(vault.key_file.parent) == []


def test_rotation_key_file_opens_vault_after_every_write(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = vault_mod._atomic_write
    written: list[str] = []

    def checked(path: Path, data: bytes) -> None:
        real(path, data)
        written.append(path.name)
        fresh = _vault()
        assert fresh.verify() == 2
        assert fresh.get(CLIENT_SECRET) == SECRET_A

    monkeypatch.setattr(vault_mod, "_atomic_write", checked)
    vault.rotate_key()
    assert written == ["vault.key", "vault.json", "vault.key"]


@pytest.mark.parametrize("fail_at", ["step1", "step2", "step3"])
def test_interrupted_rotation_is_recoverable(
    vault: Vault, monkeypatch: pytest.MonkeyPatch, fail_at: str
) -> None:
    old = _key_lines(vault)[0]
    real_key_write = Vault._write_key_file
    real_vault_write = Vault._write_vault
    key_writes = 0

    def key_write(self: Vault, keys: list[object]) -> None:
        nonlocal key_writes
        key_writes += 1
        if (fail_at == "step1" and key_writes == 1) or (fail_at == "step3" and key_writes == 2):
            raise OSError(5, "Input/output error")
        real_key_write(self, keys)  # type: ignore[arg-type]

    def vault_write(self: Vault, doc: object) -> None:
        if fail_at == "step2":
            raise OSError(5, "Input/output error")
        real_vault_write(self, doc)  # type: ignore[arg-type]

    with monkeypatch.context() as patch:
        patch.setattr(Vault, "_write_key_file", key_write)
        patch.setattr(Vault, "_write_vault", vault_write)
        with pytest.raises(OSError, match="Input/output"):
            vault.rotate_key()

    # Whatever step failed, the key file on disk still opens the vault on disk.
    assert _vault().verify() == 2
    assert _vault().get(CLIENT_SECRET) == SECRET_A
    assert len(_key_lines(vault)) == (1 if fail_at == "step1" else 2)

    result = _vault().rotate_key()  # a re-run completes (or, after step 1 failed, starts afresh)
    assert result.resumed == (fail_at != "step1")
    keys = _key_lines(vault)
    assert len(keys) == 1
    assert keys[0] != old
    assert not _opens(vault.path, old)
    assert _vault().get(CLIENT_SECRET) == SECRET_A
    assert _vault().get(REFRESH_TOKEN) == SECRET_B


def test_rotation_with_env_key(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    old = _key_lines(vault)[0]
    monkeypatch.setenv(KEY_ENV_VAR, old)
    before = vault.path.read_bytes()
    with pytest.raises(VaultError, match=f"{KEY_ENV_VAR}=<new key>,<old key>") as err:
        _vault().rotate_key()
    assert old not in str(err.value)
    assert vault.path.read_bytes() == before

    new = generate_key()
    monkeypatch.setenv(KEY_ENV_VAR, f"{new},{old}")
    result = _vault().rotate_key()
    assert (result.old_key_id, result.new_key_id) == (key_id(old), key_id(new))
    assert _opens(vault.path, new)
    assert not _opens(vault.path, old)
    monkeypatch.setenv(KEY_ENV_VAR, new)
    assert _vault().get(REFRESH_TOKEN) == SECRET_B


# ---- secrets stay secret ------------------------------------------------------------------


def test_repr_and_errors_hold_no_secrets(vault: Vault) -> None:
    key = _key_lines(vault)[0]
    v = Vault(vault.path, vault.key_file, env_key=key)
    for text in (repr(v), repr(vault), str(vars(vault_mod.SecretInfo("x", "t")))):
        assert key not in text
        assert SECRET_A not in text
    assert str(vault.path) in repr(vault)
    assert key not in repr(vault_mod._Key(key))

    messages: list[str] = []
    calls: list[Callable[[], object]] = [
        lambda: vault.require("missing_one"),
        lambda: vault.set("Bad", SECRET_A),
        lambda: Vault(vault.path, vault.key_file, env_key=generate_key()).get(CLIENT_SECRET),
        lambda: Vault(vault.path, vault.key_file, env_key=SECRET_A).get(CLIENT_SECRET),
    ]
    for call in calls:
        with pytest.raises(VaultError) as err:
            call()
        messages.append(str(err.value))
        assert err.value.__cause__ is None
    for message in messages:
        assert SECRET_A not in message
        assert SECRET_B not in message
        assert key not in message


def test_values_handed_out_are_registered_for_redaction(vault: Vault) -> None:
    fresh_value = "freshly-stored-value-" + generate_key()[:10]
    vault.set("fresh", fresh_value)
    assert redact(f"token={fresh_value}") == "token=********"
    assert _vault().get(REFRESH_TOKEN) == SECRET_B
    assert redact(SECRET_B) == "********"
    assert redact(_key_lines(vault)[0]) == "********"  # the key itself, too
