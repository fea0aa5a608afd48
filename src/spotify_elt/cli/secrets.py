"""``spotify-elt secrets``: manage the encrypted credential vault.

Secret values never come from the command line (argv ends up in shell history and in ``ps``):
``set`` prompts without echo on a terminal and otherwise reads one line from standard input.
Values are only ever printed by ``get --reveal``, alone on stdout, so that
``$(spotify-elt secrets get NAME --reveal)`` works and nothing else can leak them.
"""

from __future__ import annotations

import sys

import click

from ..config import load_settings
from ..errors import UserError, VaultError
from ..vault import KEY_ENV_VAR, REDACTED, Vault, validate_name


def _vault() -> Vault:
    return Vault.from_settings(load_settings())


def _read_value(name: str) -> str:
    """The new value of ``name``: a hidden, confirmed prompt on a TTY, else one stdin line."""
    stdin = sys.stdin
    if stdin is not None and stdin.isatty():
        value = click.prompt(
            f"Value for {name}", hide_input=True, confirmation_prompt=True, show_default=False
        )
        return str(value)
    if stdin is None:
        raise UserError(
            f"No standard input to read the value from; run `spotify-elt secrets set {name}` in a "
            "terminal, or pipe the value in."
        )
    line = stdin.readline()
    if line.endswith("\n"):
        line = line[:-1]
    if line.endswith("\r"):
        line = line[:-1]
    if not line:
        raise UserError(
            f"No value for {name} on standard input; pipe one line in (e.g. "
            f"`spotify-elt secrets set {name} < file`) or run the command in a terminal."
        )
    return line


@click.group()
def secrets() -> None:
    """Manage the encrypted vault holding the client secret, refresh token and DB passwords.

    The vault file lives in the config directory; its key in a 0600 file in the state directory,
    or in SPOTIFY_ELT_VAULT_KEY (comma-separated keys, first is used to encrypt).
    """


@secrets.command("init")
def init() -> None:
    """Create the vault key and an empty vault if missing (safe to re-run; overwrites nothing)."""
    vault = _vault()
    result = vault.init()
    if result.created_key_file:
        click.echo(f"Created the vault key file {vault.key_file} (mode 0600); back it up safely.")
    if result.created_vault:
        click.echo(f"Created the empty vault {vault.path} (key from {vault.key_source}).")
    if not (result.created_key_file or result.created_vault):
        click.echo(f"The vault {vault.path} already exists and its key opens it; nothing to do.")


@secrets.command("set")
@click.argument("name")
def set_(name: str) -> None:
    """Store a secret: prompted without echo on a terminal, else one line read from stdin.

    The value is never taken from the command line, where shell history and `ps` would see it.
    """
    validate_name(name)
    vault = _vault()
    vault.items_redacted()  # fail on a missing vault or wrong key before asking for the value
    value = _read_value(name)
    replaced = vault.set(name, value)
    click.echo(f"{'Updated' if replaced else 'Stored'} {name} in {vault.path}.")


@secrets.command("list")
def list_() -> None:
    """List the secrets held: name, last update (UTC) and a redacted value."""
    vault = _vault()
    items = vault.items_redacted()
    if not items:
        click.echo(
            f"The vault {vault.path} is empty; add a secret with `spotify-elt secrets set NAME`."
        )
        return
    width = max(len("NAME"), *(len(i.name) for i in items))
    click.echo(f"{'NAME':<{width}}  {'UPDATED':<25}  VALUE")
    for item in items:
        click.echo(f"{item.name:<{width}}  {item.updated_at:<25}  {item.value}")


@secrets.command("get")
@click.argument("name")
@click.option(
    "--reveal", is_flag=True, help="Print the value itself (alone on stdout, for `$(...)`)."
)
def get(name: str, reveal: bool) -> None:
    """Check that a secret is present and decrypts; print it only with --reveal."""
    value = _vault().require(name)
    click.echo(value if reveal else REDACTED)


@secrets.command("delete")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def delete(name: str, yes: bool) -> None:
    """Remove a secret from the vault (asks first unless --yes)."""
    vault = _vault()
    if name not in vault.names():
        raise VaultError(
            f"The secret {name!r} is not in the vault {vault.path}; "
            "`spotify-elt secrets list` shows the names it holds."
        )
    if not yes:
        click.confirm(f"Delete {name} from {vault.path}?", abort=True)
    vault.delete(name)
    click.echo(f"Deleted {name} from {vault.path}.")


@secrets.command("rotate-key")
def rotate_key() -> None:
    """Re-encrypt the vault under a new key; the old key no longer opens it afterwards.

    Crash-safe: the key file always opens the vault on disk, and re-running finishes an
    interrupted rotation. With SPOTIFY_ELT_VAULT_KEY, set it to NEW,OLD first (see the error).
    """
    vault = _vault()
    result = vault.rotate_key()
    what = "Finished an interrupted key rotation" if result.resumed else "Rotated the vault key"
    click.echo(
        f"{what}: {result.entries} secret(s) re-encrypted, key id {result.old_key_id} -> "
        f"{result.new_key_id}."
    )
    if vault.key_source == KEY_ENV_VAR:
        click.echo(f"Now remove the old key(s) from {KEY_ENV_VAR}, keeping only the first.")
    else:
        click.echo(f"Replace any backup of {vault.key_file} with the new key file.")
