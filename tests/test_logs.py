"""Logging as users see it: dlt's own logger gets one line per exception and never a secret.

dlt logs a failed load job with ``logger.exception`` through a logger of its own (its handler,
not propagated to the root logger). Seen in the reliability suite: PostgreSQL restarted while a
load job ran put that traceback in front of the user of ``spotify-elt extract``. Each case runs in
a subprocess, as the CLI does, with dlt's logger created by a real pipeline.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SECRET = "hunter2-LOGS-7c1d9e"

SCRIPT = textwrap.dedent(
    """
    import sys
    import dlt
    from dlt.common import logger
    from spotify_elt.logs import configure_logging, register_secret

    configure_logging(sys.argv[1])
    register_secret({secret!r})
    dlt.pipeline(pipeline_name="logs", destination="postgres", pipelines_dir=sys.argv[2])
    assert logger.LOGGER is not None and logger.LOGGER.name == "dlt"
    try:
        raise RuntimeError("server closed the connection unexpectedly {secret}\\nsecond line")
    except RuntimeError:
        logger.exception("Transient exception in job bronze.recently_played")
    # Filters live on dlt's logger, not its handler: a handler of its own keeps them.
    import logging
    for handler in list(logger.LOGGER.handlers):
        logger.LOGGER.removeHandler(handler)
    logger.LOGGER.addHandler(logging.StreamHandler())
    try:
        raise ValueError("again {secret}")
    except ValueError:
        logger.exception("Terminal exception in job bronze.albums")
    # dlt's loader writes a retried job's traceback into the warning's own text.
    import traceback
    try:
        raise OSError("FATAL:  the database system is shutting down {secret}\\n\\n")
    except OSError:
        text = traceback.format_exc()
    logger.warning(f"Job for playlists.csv retried in load 17 with message {{text}}")
    """
).format(secret=SECRET)


def _run(level: str, tmp_path: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, level, str(tmp_path / "pipelines")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


@pytest.mark.parametrize("level", ["WARNING", "INFO"])
def test_a_dlt_exception_is_one_line_without_the_secret(level: str, tmp_path: Path) -> None:
    err = _run(level, tmp_path)
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "exception in job" in line]
    assert len(lines) == 2, err
    assert lines[0].endswith(
        "Transient exception in job bronze.recently_played: RuntimeError: "
        "server closed the connection unexpectedly ********"
    ), lines[0]
    assert lines[1].endswith("Terminal exception in job bronze.albums: ValueError: again ********")
    retried = [line for line in err.splitlines() if "retried in load" in line]
    assert len(retried) == 1, err
    assert retried[0].endswith(
        "Job for playlists.csv retried in load 17 with message "
        "OSError: FATAL:  the database system is shutting down ********"
    ), retried[0]
    assert "second line" not in err
    assert SECRET not in err


def test_debug_keeps_the_traceback_redacted(tmp_path: Path) -> None:
    err = _run("DEBUG", tmp_path)
    for logged in (
        "Transient exception in job bronze.recently_played\nTraceback (most recent call last)",
        "Terminal exception in job bronze.albums\nTraceback (most recent call last)",
        "retried in load 17 with message Traceback (most recent call last)",
    ):
        assert logged in err, err
    assert "second line" in err
    assert SECRET not in err and "********" in err
