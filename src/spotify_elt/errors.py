"""Errors a user can cause, and how the CLI shows them.

Anything raised as a :class:`UserError` ends in one clear sentence on stderr and a non-zero exit,
never a traceback (the CLI catches it). Everything else is a bug and fails loudly.

Exit codes: 1 a user error, 2 configuration, 3 vault, 4 database, 5 extraction, 6 history
import, 7 report, 8 transform (dbt), 9 catalog (DataHub), 10 export.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix: bad configuration, wrong key, unreachable database, ...

    The message must be one sentence that says what is wrong and, where possible, how to fix it.
    It must never contain a secret value.
    """

    exit_code = 1


class ConfigError(UserError):
    """The configuration file or an environment variable holds an invalid value."""

    exit_code = 2


class VaultError(UserError):
    """The credential vault cannot be used (missing, wrong key, corrupted, tampered)."""

    exit_code = 3


class DatabaseError(UserError):
    """The database cannot be reached or refused what was asked."""

    exit_code = 4
