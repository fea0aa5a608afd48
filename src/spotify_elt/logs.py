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


class OneLineExceptions(logging.Filter):
    """A logged exception as one line, its traceback kept for DEBUG.

    dlt logs a failed load job with ``logger.exception`` (a transient database error, say,
    while PostgreSQL restarts), which would put a traceback in front of the user; the job is
    retried or the run fails with one sentence of its own.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and not logging.getLogger().isEnabledFor(logging.DEBUG):
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
    root = logging.getLogger()
    root.setLevel(level.upper())
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
