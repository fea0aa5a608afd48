"""The encrypted credential vault: the only place that reads key files or decrypts secrets.

Why a vault: the Spotify client secret, the OAuth refresh token and the database role passwords
must survive restarts, but must never sit in plain text in the config file, in the environment of
every process, or in logs. They live encrypted in one JSON file (by default
``<config_dir>/vault.json``), and the key that opens it lives elsewhere (by default
``<state_dir>/vault.key``, mode 0600, in a directory of mode 0700) or in the environment variable
``SPOTIFY_ELT_VAULT_KEY``, so a copy of the config directory alone reveals nothing.

Vault file (JSON, mode 0600)::

    {"format": "spotify-elt-vault", "version": 2, "key_id": "<16 hex>",
     "entries": {"<name>": {"token": "<Fernet token>", "updated_at": "<ISO 8601 UTC>"}}}

Each token encrypts ``spotify-elt-vault/2 NUL <name> NUL <value>``: the entry's name is inside
what Fernet authenticates, so a token copied or swapped under another name does not verify.
Version 1 tokens encrypted the bare value; a version 1 vault is still read, and its first write
(``set``, ``delete``, ``rotate-key``) rewrites every entry bound to its name as version 2.

``key_id`` is a fingerprint of the key that encrypted every entry (the first 16 hex digits of
HMAC-SHA256(key, b"spotify-elt vault key id")); it reveals nothing about the key, yet tells three
failures apart that would otherwise all look like "cannot decrypt":

* a *wrong key* (the fingerprint matches none of the keys held),
* a *tampered or corrupted entry* (the fingerprint matches, but the token does not verify),
* a *corrupted file* (not JSON, or not this format).

Key file: one Fernet key per line, the first is the primary (used to encrypt); blank lines and
lines starting with ``#`` are ignored. ``SPOTIFY_ELT_VAULT_KEY`` holds the same keys separated by
commas and, when set, takes precedence over the key file.

Durability: every write goes to a temporary file in the same directory (mode 0600 before a single
byte is written), is flushed and fsynced, then atomically renamed over the old file, and the
directory is fsynced. A crash at any moment leaves either the old or the new file, never a half
written one; temporary files left behind by a killed process are removed by the next write.
Writers serialise on an advisory lock (``.vault.json.lock`` beside the vault) so that concurrent
``set`` calls do not lose each other's updates. A failed operation never changes the vault file.

Secret values never appear in exception messages, reprs or logs; every value handed out is also
registered with :func:`spotify_elt.logs.register_secret`, so that a mistake elsewhere is redacted.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from .errors import VaultError
from .logs import register_secret

if TYPE_CHECKING:
    from .config import Settings

log = logging.getLogger(__name__)

FORMAT = "spotify-elt-vault"
VERSION = 2
#: Versions this module reads (older ones are migrated on the next write).
_READABLE_VERSIONS = (1, 2)
_BOUND = b"spotify-elt-vault/2\x00"
KEY_ENV_VAR = "SPOTIFY_ELT_VAULT_KEY"
REDACTED = "********"

#: Well-known secret names (names, not values).
CLIENT_SECRET = "spotify_client_secret"  # noqa: S105
REFRESH_TOKEN = "spotify_refresh_token"  # noqa: S105

_NAME_RE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_KEY_ID_MESSAGE = b"spotify-elt vault key id"
_LOCK_TIMEOUT_S = 10.0
_SET_HINT = "spotify-elt secrets set"
_INIT_HINT = "spotify-elt secrets init"


# --------------------------------------------------------------------------------------------
# Names and keys


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid secret name, else raise :class:`VaultError`.

    Names are restricted (lower-case, digits, ``_.-``, at most 64 characters) so that they are
    safe in shell commands, file listings and log lines, and never mistaken for a value.
    """
    if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None:
        shown = repr(name) if isinstance(name, str) and len(name) <= 80 else "given"
        raise VaultError(
            f"The secret name {shown} is invalid; a name starts with a lower-case letter and holds "
            "at most 64 lower-case letters, digits, '_', '.' or '-'."
        )
    return name


def db_password_name(role: str) -> str:
    """The vault name of the password of database role ``role``: ``postgres_<role>_password``."""
    return validate_name(f"postgres_{role}_password")


def generate_key() -> str:
    """A fresh random Fernet key (44 url-safe base64 characters)."""
    return Fernet.generate_key().decode("ascii")


def key_id(key: str) -> str:
    """The public fingerprint of a Fernet key: first 16 hex of HMAC-SHA256(key, constant).

    Keyed by the raw 32 key bytes, so the fingerprint identifies the key without revealing it.
    """
    raw = _decode_key(key)
    return hmac.new(raw, _KEY_ID_MESSAGE, hashlib.sha256).hexdigest()[:16]


def _decode_key(key: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(key.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ValueError("not url-safe base64") from None
    if len(raw) != 32:
        raise ValueError("not 32 bytes")
    return raw


class _Key:
    """One Fernet key with its fingerprint; the repr never shows the key."""

    __slots__ = ("fernet", "id", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.id = key_id(text)  # raises ValueError on a malformed key
        self.fernet = Fernet(text)

    def __repr__(self) -> str:
        return f"<vault key {self.id}>"


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class SecretInfo:
    """What may be shown about a secret: its name and last update, never its value."""

    name: str
    updated_at: str
    value: str = REDACTED


@dataclass(frozen=True)
class InitResult:
    """What :meth:`Vault.init` created (both false: everything already existed)."""

    created_key_file: bool
    created_vault: bool


@dataclass(frozen=True)
class RotationResult:
    """Outcome of :meth:`Vault.rotate_key`; ``resumed``: an interrupted rotation was finished."""

    old_key_id: str
    new_key_id: str
    entries: int
    resumed: bool


@dataclass
class _Document:
    key_id: str
    entries: dict[str, dict[str, str]]
    version: int = VERSION

    def to_bytes(self) -> bytes:
        body = {
            "format": FORMAT,
            "version": VERSION,
            "key_id": self.key_id,
            "entries": {name: self.entries[name] for name in sorted(self.entries)},
        }
        return (json.dumps(body, indent=2) + "\n").encode("utf-8")


# --------------------------------------------------------------------------------------------
# File helpers


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` atomically and durably, with mode 0600.

    The temporary file is private before anything is written to it, so a secret never exists
    on disk with looser permissions, even for a moment; on any failure it is removed and the old
    file is left untouched.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _remove_stale_temps(path: Path) -> None:
    """Delete temporary files a killed writer of ``path`` left behind (call under the lock)."""
    if not path.parent.is_dir():
        return
    for stale in path.parent.glob(f".{_glob_escape(path.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()
            log.debug("removed a temporary file left by an interrupted write: %s", stale)


def _glob_escape(text: str) -> str:
    """Escape glob metacharacters in a file name."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def _ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` with mode 0700, or tighten it to 0700 if it is ours and looser.

    The key file is 0600 anyway; a private directory also stops other users from replacing or
    listing it. The home directory is never chmod-ed: there we refuse and say what to do.
    """
    if not directory.exists():
        directory.mkdir(parents=True, mode=0o700)
        os.chmod(directory, 0o700)  # mkdir honours the umask; be explicit
        return
    st = directory.stat()
    if not stat.S_ISDIR(st.st_mode):
        raise VaultError(
            f"{directory} is not a directory; point SPOTIFY_ELT_VAULT_KEY_FILE elsewhere."
        )
    if st.st_mode & 0o077 == 0:
        return
    if st.st_uid != os.getuid() or directory.resolve() == Path.home().resolve():
        raise VaultError(
            f"The directory {directory} that would hold the vault key is open to other users; "
            f"run `chmod 700 {directory}` or set SPOTIFY_ELT_VAULT_KEY_FILE to a file in a "
            "private directory."
        )
    os.chmod(directory, 0o700)
    log.warning("tightened the permissions of %s to 0700 (it holds the vault key)", directory)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --------------------------------------------------------------------------------------------
# The vault


class Vault:
    """The encrypted vault at ``path``, opened by the key(s) in ``env_key`` or ``key_file``.

    ``env_key`` (normally ``SPOTIFY_ELT_VAULT_KEY``), when given, takes precedence over the key
    file: containers and CI can inject the key without a file. The object holds no secret values;
    each call reads the files afresh, so several processes (CLI, extractor, Airflow tasks) can
    share one vault.
    """

    def __init__(self, path: Path, key_file: Path, *, env_key: str | None = None) -> None:
        self.path = Path(path)
        self.key_file = Path(key_file)
        self._env_key = env_key if env_key and env_key.strip() else None
        if self._env_key:
            for text in self._env_key.split(","):
                register_secret(text.strip())

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> Vault:
        """The vault the configuration points at, keyed by ``SPOTIFY_ELT_VAULT_KEY`` if set."""
        env = os.environ if environ is None else environ
        return cls(
            settings.effective_vault_path,
            settings.effective_vault_key_file,
            env_key=env.get(KEY_ENV_VAR),
        )

    def __repr__(self) -> str:
        return (
            f"Vault(path={str(self.path)!r}, key_file={str(self.key_file)!r}, "
            f"key_source={self.key_source!r})"
        )

    @property
    def key_source(self) -> str:
        """Where the key comes from, for messages: the variable name or the key file path."""
        return KEY_ENV_VAR if self._env_key else str(self.key_file)

    @property
    def _lock_path(self) -> Path:
        return self.path.parent / f".{self.path.name}.lock"

    # ---- public API ------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether the vault file exists (says nothing about whether the key opens it)."""
        return self.path.is_file()

    def init(self) -> InitResult:
        """Create what is missing: the key file (unless a key is in the environment) and an empty
        vault. Idempotent; never overwrites an existing key or vault, and refuses to make a key for
        an existing vault whose key is lost (it could not open it anyway).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._locked():
            _remove_stale_temps(self.path)
            _remove_stale_temps(self.key_file)
            vault_exists = self.path.exists()
            created_key = False
            if self._env_key or os.path.lexists(self.key_file):
                keys = self._load_keys()
            elif vault_exists:
                raise VaultError(
                    f"The vault {self.path} exists but its key file {self.key_file} does not; "
                    f"restore the key file from your backup or set {KEY_ENV_VAR} (a new key "
                    "cannot open the existing vault)."
                )
            else:
                self._check_key_file_location()
                _ensure_private_dir(self.key_file.parent)
                keys = [_Key(generate_key())]
                _atomic_write(self.key_file, self._key_file_bytes(keys))
                _fsync_dir(self.key_file.parent.parent)
                created_key = True
                log.debug("created the vault key file %s (key id %s)", self.key_file, keys[0].id)
            if vault_exists:
                self._select_key(self._read(), keys)  # proves the key opens it
                return InitResult(created_key_file=created_key, created_vault=False)
            _atomic_write(self.path, _Document(keys[0].id, {}).to_bytes())
            log.debug("created the empty vault %s (key id %s)", self.path, keys[0].id)
            return InitResult(created_key_file=created_key, created_vault=True)

    def get(self, name: str) -> str | None:
        """The value of secret ``name``, or ``None`` if the vault does not hold it."""
        validate_name(name)
        keys = self._load_keys()
        doc = self._read()
        self._select_key(doc, keys)
        if name not in doc.entries:
            return None
        value = self._decrypt(doc, name, keys)
        register_secret(value)
        return value

    def require(self, name: str) -> str:
        """The value of secret ``name``; a :class:`VaultError` saying how to set it if absent."""
        value = self.get(name)
        if value is None:
            raise VaultError(
                f"The secret {name!r} is not in the vault {self.path}; "
                f"set it with `{_SET_HINT} {name}`."
            )
        return value

    def set(self, name: str, value: str) -> bool:
        """Store ``value`` under ``name``; returns ``True`` if it replaced an existing value."""
        validate_name(name)
        if not isinstance(value, str):
            raise TypeError("a secret value must be a str")
        if value.strip() == "":
            raise VaultError(
                f"Refusing to store an empty or whitespace-only value for {name!r}; give a value."
            )
        register_secret(value)
        keys = self._load_keys()
        with self._locked():
            _remove_stale_temps(self.path)
            doc = self._upgraded(self._read(), keys)
            key = self._select_key(doc, keys)
            replaced = name in doc.entries
            doc.entries[name] = {"token": self._seal(key, name, value), "updated_at": _now()}
            _atomic_write(self.path, doc.to_bytes())
        log.debug("%s secret %s in %s", "updated" if replaced else "stored", name, self.path)
        return replaced

    def delete(self, name: str) -> bool:
        """Remove secret ``name``; ``False`` (and no write) if it was not there."""
        validate_name(name)
        keys = self._load_keys()
        with self._locked():
            _remove_stale_temps(self.path)
            doc = self._read()
            self._select_key(doc, keys)
            if name not in doc.entries:
                return False
            doc = self._upgraded(doc, keys)
            del doc.entries[name]
            _atomic_write(self.path, doc.to_bytes())
        log.debug("deleted secret %s from %s", name, self.path)
        return True

    def names(self) -> list[str]:
        """The names of the secrets held, sorted (checks that the key matches the vault)."""
        return [info.name for info in self.items_redacted()]

    def items_redacted(self) -> list[SecretInfo]:
        """Name and last update of every secret, values redacted, sorted by name.

        Checks the key fingerprint (so a wrong key is reported here too) but decrypts nothing.
        """
        keys = self._load_keys()
        doc = self._read()
        self._select_key(doc, keys)
        return [SecretInfo(n, doc.entries[n]["updated_at"]) for n in sorted(doc.entries)]

    def verify(self) -> int:
        """Decrypt every entry (discarding the values); returns how many there are.

        Raises the same named errors as :meth:`get` for the first entry that does not verify.
        """
        keys = self._load_keys()
        doc = self._read()
        self._select_key(doc, keys)
        for name in doc.entries:
            register_secret(self._decrypt(doc, name, keys))
        return len(doc.entries)

    def rotate_key(self) -> RotationResult:
        """Re-encrypt every entry under a new key, in steps that never strand the vault.

        With a key file: (1) the key file becomes ``[new, old]`` (either opens the vault), (2) the
        vault is re-encrypted with the new key and records its fingerprint, (3) the key file
        becomes ``[new]``. Each step is one atomic write, so at every moment the key file on disk
        opens the vault on disk. If a previous rotation was interrupted (the key file still holds
        several keys), this finishes it with the first key instead of adding yet another.

        With ``SPOTIFY_ELT_VAULT_KEY``, the environment cannot be rewritten from here: a single
        key is refused with the manual procedure; several keys (``new,old``) re-encrypt the vault
        with the first, after which the user drops the others from the variable.
        """
        if self._env_key:
            return self._rotate_env()
        with self._locked():
            _remove_stale_temps(self.path)
            _remove_stale_temps(self.key_file)
            keys = self._load_keys()
            doc = self._read()
            old = self._select_key(doc, keys)
            doc = self._upgraded(doc, keys)
            plaintexts = {name: self._decrypt(doc, name, keys) for name in doc.entries}
            for value in plaintexts.values():
                register_secret(value)
            resumed = len(keys) > 1
            if not resumed:
                keys = [_Key(generate_key()), *keys]
                self._write_key_file(keys)  # step 1: both keys usable
            new = keys[0]
            if doc.key_id != new.id or doc.version != VERSION:
                self._write_vault(self._reencrypted(doc, keys))  # step 2
            self._write_key_file([new])  # step 3: only the new key
        log.debug(
            "rotated the vault key of %s: %d entries now under key %s (was %s)",
            self.path,
            len(doc.entries),
            new.id,
            old.id,
        )
        return RotationResult(old.id, new.id, len(doc.entries), resumed)

    # ---- internals -------------------------------------------------------------------------

    def _rotate_env(self) -> RotationResult:
        keys = self._load_keys()
        if len(keys) == 1:
            raise VaultError(
                f"Cannot rotate a key given in {KEY_ENV_VAR}, since spotify-elt cannot rewrite "
                'your environment; generate a key with `python -c "from cryptography.fernet '
                'import Fernet; print(Fernet.generate_key().decode())"`, set '
                f"{KEY_ENV_VAR}=<new key>,<old key>, run `spotify-elt secrets rotate-key` again to "
                "re-encrypt the vault, then remove the old key from the variable."
            )
        with self._locked():
            _remove_stale_temps(self.path)
            doc = self._read()
            old = self._select_key(doc, keys)
            for name in doc.entries:
                register_secret(self._decrypt(doc, name, keys))
            upgrade = doc.version != VERSION
            doc = self._upgraded(doc, keys)
            if upgrade or doc.key_id != keys[0].id:
                self._write_vault(self._reencrypted(doc, keys))
        return RotationResult(old.id, keys[0].id, len(doc.entries), resumed=False)

    def _reencrypted(self, doc: _Document, keys: list[_Key]) -> _Document:
        multi = MultiFernet([k.fernet for k in keys])
        entries: dict[str, dict[str, str]] = {}
        for name, entry in doc.entries.items():
            try:
                token = multi.rotate(entry["token"].encode("ascii")).decode("ascii")
            except InvalidToken:
                raise self._tampered(name) from None
            entries[name] = {"token": token, "updated_at": entry["updated_at"]}
        return _Document(keys[0].id, entries)

    # Separate methods so that tests can inject failures between the steps of a rotation.
    def _write_key_file(self, keys: list[_Key]) -> None:
        _ensure_private_dir(self.key_file.parent)
        _atomic_write(self.key_file, self._key_file_bytes(keys))

    def _write_vault(self, doc: _Document) -> None:
        _atomic_write(self.path, doc.to_bytes())

    @staticmethod
    def _key_file_bytes(keys: list[_Key]) -> bytes:
        return "".join(f"{k.text}\n" for k in keys).encode("ascii")

    def _check_key_file_location(self) -> None:
        if self.key_file.parent.resolve() == self.path.parent.resolve():
            raise VaultError(
                f"The vault key file {self.key_file} would sit beside the vault {self.path}, so "
                "one copy of that directory would hold both; set SPOTIFY_ELT_VAULT_KEY_FILE "
                "(or SPOTIFY_ELT_STATE_DIR) to another directory."
            )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the vault's advisory write lock (released by the kernel if the process dies)."""
        try:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:
            raise self._missing() from None
        except OSError as exc:
            raise VaultError(
                f"The vault lock {self._lock_path} cannot be opened ({exc.strerror}); check the "
                f"permissions of {self.path.parent}."
            ) from None
        try:
            deadline = time.monotonic() + _LOCK_TIMEOUT_S
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise VaultError(
                            f"Another process has been writing the vault {self.path} for "
                            f"{_LOCK_TIMEOUT_S:.0f} s; wait for it to finish and try again."
                        ) from None
                    time.sleep(0.02)
            yield
        finally:
            os.close(fd)

    def _load_keys(self) -> list[_Key]:
        """The keys held, primary first, from the environment or the key file."""
        if self._env_key:
            texts = [t.strip() for t in self._env_key.split(",") if t.strip()]
            keys = []
            for i, text in enumerate(texts, 1):
                try:
                    keys.append(_Key(text))
                except ValueError:
                    raise VaultError(
                        f"{KEY_ENV_VAR} holds a malformed key (item {i} of {len(texts)} is not a "
                        "Fernet key of 44 url-safe base64 characters); set it to the key(s) the "
                        "vault was created with, separated by commas."
                    ) from None
            return keys
        return self._read_key_file()

    def _read_key_file(self) -> list[_Key]:
        path = self.key_file
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            raise VaultError(
                f"There is no vault key: {path} does not exist and {KEY_ENV_VAR} is not set; run "
                f"`{_INIT_HINT}` to create one, or restore the key file from your backup."
            ) from None
        except OSError as exc:
            raise VaultError(
                f"The vault key file {path} cannot be opened ({exc.strerror}); it must be a "
                "regular file (not a symbolic link) that you can read."
            ) from None
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise VaultError(f"The vault key file {path} is not a regular file; restore it.")
            if st.st_mode & 0o077:
                raise VaultError(
                    f"The vault key file {path} is accessible to other users (mode "
                    f"{stat.S_IMODE(st.st_mode):04o}); run `chmod 600 {path}` and try again."
                )
            raw = fh.read(64 * 1024)
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            text = None
        keys: list[_Key] = []
        lines = [] if text is None else text.splitlines()
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            register_secret(line)
            try:
                keys.append(_Key(line))
            except ValueError:
                raise VaultError(
                    f"Line {number} of the vault key file {path} is not a Fernet key (44 url-safe "
                    "base64 characters); restore the key file from your backup."
                ) from None
        if text is None or not keys:
            raise VaultError(
                f"The vault key file {path} holds no key; restore it from your backup, or delete "
                f"it and the vault and run `{_INIT_HINT}` to start afresh."
            )
        return keys

    def _missing(self) -> VaultError:
        return VaultError(f"There is no vault at {self.path}; run `{_INIT_HINT}` to create it.")

    def _corrupted(self, why: str) -> VaultError:
        return VaultError(
            f"The vault file {self.path} is corrupted ({why}); restore it from a backup, or move "
            f"it away, run `{_INIT_HINT}` and set the secrets again."
        )

    def _tampered(self, name: str) -> VaultError:
        return VaultError(
            f"The vault entry {name!r} in {self.path} is corrupted or was tampered with (it does "
            f"not verify under the right key); set it again with `{_SET_HINT} {name}` or restore "
            "the vault from a backup."
        )

    def _read(self) -> _Document:
        """Parse the vault file strictly; any deviation is a named :class:`VaultError`."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raise self._missing() from None
        except IsADirectoryError:
            raise self._corrupted("it is a directory") from None
        except OSError as exc:
            raise VaultError(
                f"The vault file {self.path} cannot be read ({exc.strerror}); check its "
                "permissions."
            ) from None
        if not raw.strip():
            raise self._corrupted("it is empty")
        try:
            data: Any = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise self._corrupted("it is not valid JSON") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise self._corrupted(f"it is not a {FORMAT} file")
        version = data.get("version")
        if version not in _READABLE_VERSIONS or isinstance(version, bool):
            if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
                raise VaultError(
                    f"The vault file {self.path} has format version {version}, newer than this "
                    f"spotify-elt understands ({VERSION}); upgrade spotify-elt."
                )
            raise self._corrupted("its version field is invalid")
        key_fp = data.get("key_id")
        if not isinstance(key_fp, str) or re.fullmatch(r"[0-9a-f]{16}", key_fp) is None:
            raise self._corrupted("its key_id field is invalid")
        entries = data.get("entries")
        if not isinstance(entries, dict):
            raise self._corrupted("its entries field is not an object")
        clean: dict[str, dict[str, str]] = {}
        for name, entry in entries.items():
            if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None:
                raise self._corrupted("an entry has an invalid name")
            if (
                not isinstance(entry, dict)
                or not isinstance(entry.get("token"), str)
                or not isinstance(entry.get("updated_at"), str)
            ):
                raise self._corrupted(f"the entry {name!r} is malformed")
            clean[name] = {"token": entry["token"], "updated_at": entry["updated_at"]}
        return _Document(key_fp, clean, version)

    def _select_key(self, doc: _Document, keys: list[_Key]) -> _Key:
        """The held key whose fingerprint the vault records, or a 'wrong key' error."""
        for key in keys:
            if hmac.compare_digest(key.id, doc.key_id):
                return key
        held = ", ".join(k.id for k in keys)
        raise VaultError(
            f"The vault key from {self.key_source} (key id {held}) is not the key of the vault "
            f"{self.path} (key id {doc.key_id}); use the key the vault was written with, e.g. "
            "restore the key file from your backup or fix the variable."
        )

    def _decrypt(self, doc: _Document, name: str, keys: list[_Key]) -> str:
        primary = self._select_key(doc, keys)
        multi = MultiFernet([primary.fernet, *(k.fernet for k in keys if k is not primary)])
        try:
            plain = multi.decrypt(doc.entries[name]["token"].encode("ascii"))
        except InvalidToken:
            raise self._tampered(name) from None
        if plain.startswith(_BOUND):
            bound, sep, value = plain[len(_BOUND) :].partition(b"\x00")
            if not sep or not hmac.compare_digest(bound, name.encode("utf-8")):
                raise self._tampered(name)  # another entry's token, moved here
            plain = value
        elif doc.version >= 2:
            raise self._tampered(name)
        try:
            return plain.decode("utf-8")
        except UnicodeError:
            raise self._tampered(name) from None

    @staticmethod
    def _seal(key: _Key, name: str, value: str) -> str:
        """The token of ``value`` stored as ``name``: the name is authenticated with it."""
        plain = _BOUND + name.encode("utf-8") + b"\x00" + value.encode("utf-8")
        return key.fernet.encrypt(plain).decode("ascii")

    def _upgraded(self, doc: _Document, keys: list[_Key]) -> _Document:
        """``doc`` in the current format: version 1 entries re-encrypted bound to their names."""
        if doc.version == VERSION:
            return doc
        key = self._select_key(doc, keys)
        entries = {
            name: {"token": self._seal(key, name, value), "updated_at": entry["updated_at"]}
            for name, entry in doc.entries.items()
            for value in (self._decrypt(doc, name, keys),)
        }
        for entry_name in entries:
            log.debug("vault entry %s bound to its name (format version %d)", entry_name, VERSION)
        return _Document(doc.key_id, entries, VERSION)
