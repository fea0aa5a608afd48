"""``spotify-elt db env``: the shell exports that let plain ``dbt`` and ``psql`` reach a database.

Analytics engineers run ``cd dbt_project && dbt build`` without this program; the shipped
``dbt_project/profiles.yml`` reads its connection from ``SPOTIFY_ELT_DBT_*`` variables, and
``psql`` reads ``PG*`` ones. This module derives both from the configuration, the current target
and the vault.

The password is the one thing that must not land on a screen, a terminal's scroll-back or a
shell history by accident. By default it goes into a libpq password file (``pgpass``, mode 0600,
in the state directory beside the vault key) and the exports name that file (``PGPASSFILE``):
dbt-postgres (psycopg2) and psql both read it through libpq when no password is given. Printing
the password itself takes an explicit ``--show-password``.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from .config import Settings
from .db import READER, TRANSFORMER, DatabaseTarget, database_of, role_name, role_urls
from .dbt_runner import ENV_PREFIX, connection_env, project_dir
from .vault import Vault

PGPASS_FILE = "pgpass"
PASSWORD_VAR = f"{ENV_PREFIX}PASSWORD"


@dataclass(frozen=True)
class ShellEnv:
    """Variables to export (in order), variables to unset, and the password file written."""

    exports: tuple[tuple[str, str], ...]
    unset: tuple[str, ...]
    pgpass: Path | None

    def render(self, header: str = "") -> str:
        """POSIX shell lines (``eval "$(spotify-elt db env)"``); values are shell-quoted."""
        lines = [f"# {line}" for line in header.splitlines()]
        lines += [f"export {name}={shlex.quote(value)}" for name, value in self.exports]
        lines += [f"unset {name}" for name in self.unset]
        return "\n".join(lines) + "\n"


def pgpass_path(settings: Settings) -> Path:
    return Path(settings.state_dir) / PGPASS_FILE


def _pgpass_field(value: str) -> str:
    # libpq's escaping in a password file: backslash and colon.
    return value.replace("\\", "\\\\").replace(":", "\\:")


def write_pgpass(path: Path, host: str, port: str, dbname: str, user: str, password: str) -> None:
    """Add (or replace) the entry for ``host:port:dbname:user``, keeping the file 0600."""
    key = ":".join(_pgpass_field(v) for v in (host, port, dbname, user))
    kept: list[str] = []
    if path.exists():
        kept = [line for line in path.read_text().splitlines() if not line.startswith(key + ":")]
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join([*kept, f"{key}:{_pgpass_field(password)}"]) + "\n")
    os.chmod(tmp, 0o600)  # libpq ignores a password file that others can read
    os.replace(tmp, path)


def shell_env(
    settings: Settings, vault: Vault, *, role: str = TRANSFORMER, show_password: bool = False
) -> ShellEnv:
    """The exports for ``role`` on the database of ``settings`` (start the server first)."""
    admin = DatabaseTarget(settings).admin_url()
    conn = connection_env(role_urls(admin, vault).for_role(role))
    password = conn.pop(PASSWORD_VAR)
    exports = list(conn.items())
    exports += [
        ("PGHOST", conn[f"{ENV_PREFIX}HOST"]),
        ("PGPORT", conn[f"{ENV_PREFIX}PORT"]),
        ("PGUSER", conn[f"{ENV_PREFIX}USER"]),
        ("PGDATABASE", conn[f"{ENV_PREFIX}DBNAME"]),
        ("DBT_PROFILES_DIR", str(project_dir())),
        # Gold's grants name this installation's reader role (dbt_project.yml).
        (f"{ENV_PREFIX}READER_ROLE", role_name(READER, database_of(admin))),
    ]
    if show_password:
        exports += [(PASSWORD_VAR, password), ("PGPASSWORD", password)]
        return ShellEnv(tuple(exports), ("PGPASSFILE",), None)
    path = pgpass_path(settings)
    write_pgpass(
        path,
        conn[f"{ENV_PREFIX}HOST"],
        conn[f"{ENV_PREFIX}PORT"],
        conn[f"{ENV_PREFIX}DBNAME"],
        conn[f"{ENV_PREFIX}USER"],
        password,
    )
    exports.append(("PGPASSFILE", str(path)))
    # A password left in the environment would win over the file.
    return ShellEnv(tuple(exports), (PASSWORD_VAR, "PGPASSWORD"), path)
