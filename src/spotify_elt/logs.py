"""Logging set-up with a last line of defence against leaked secrets.

Every secret value the vault hands out is registered here; the filter installed on the root
logger's handlers replaces any registered value found in a log record by ``********``. Code must
still never log secrets; this catches the mistake instead of shipping it.
"""

from __future__ import annotations

import logging
import threading

_REDACTED = "********"
_lock = threading.Lock()
_secrets: set[str] = set()
# The level configure_logging() was given: Airflow, imported by dlt when it is installed, may
# reset the root logger's level, so the filters do not ask the root logger.
_keep_tracebacks = False


def register_secret(value: str | None) -> None:
    """Remember a secret value so that it is redacted from every log record from now on."""
    # Very short values would redact ordinary words; real secrets are long.
    if value and len(value) >= 6:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """Replace every registered secret in ``text``."""
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, _REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Rewrite a record's message (after %-formatting) with registered secrets redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


_TRACEBACK = "Traceback (most recent call last):"


def one_line_traceback(message: str) -> str:
    """``message`` with a traceback written into it cut to the exception's first line.

    dlt writes a retried load job's traceback into the text of a warning (``Job for ... retried
    in load ... with message Traceback ...``); what the user needs is the exception it ends with.
    """
    head, found, rest = message.partition(_TRACEBACK)
    if not found:
        return message
    # The exception line is the first line after the frames that is not indented.
    exception = next(
        (line for line in rest.splitlines()[1:] if line.strip() and not line[0].isspace()), ""
    )
    return f"{head}{exception.strip()}".rstrip()


class OneLineExceptions(logging.Filter):
    """A logged exception as one line, its traceback kept for DEBUG.

    dlt logs a failed load job with ``logger.exception`` (a transient database error, say,
    while PostgreSQL restarts), and a retried one with the traceback in the warning's text,
    which would put a traceback in front of the user; the job is retried or the run fails with
    one sentence of its own.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if _keep_tracebacks:
            return True
        message = record.getMessage()
        if _TRACEBACK in message:
            record.msg = one_line_traceback(message)
            record.args = None
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            lines = str(exc).strip().splitlines()
            first = lines[0].strip() if lines else ""
            record.msg = f"{record.getMessage()}: {type(exc).__name__}" + (
                f": {first}" if first else ""
            )
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def _filter_dlt_logger() -> None:
    """dlt logs through a logger of its own (its own handler, not propagated): filter it too.

    The filters sit on the logger, not its handler, so they survive dlt re-creating its handler.
    """
    dlt_logger = logging.getLogger("dlt")
    for kind in (OneLineExceptions, RedactingFilter):  # in this order: redact the one line
        if not any(isinstance(f, kind) for f in dlt_logger.filters):
            dlt_logger.addFilter(kind())


def configure_logging(level: str = "INFO") -> None:
    """Log to stderr at ``level``; idempotent. dlt's own logger is filtered the same way."""
    global _keep_tracebacks
    root = logging.getLogger()
    root.setLevel(level.upper())
    _keep_tracebacks = root.isEnabledFor(logging.DEBUG)
    handler = next((h for h in root.handlers if getattr(h, "_spotify_elt", False)), None)
    if handler is None:
        handler = logging.StreamHandler()
        handler._spotify_elt = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    for other in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in other.filters):
            other.addFilter(RedactingFilter())
    _filter_dlt_logger()
