"""``spotify-elt docs serve``: the dbt docs site over HTTP, on this machine only.

The site (``index.html`` of ``dbt docs generate``) loads ``manifest.json`` and ``catalog.json``
with ``fetch``, which browsers refuse for ``file://`` pages: it needs a web server. This one
serves those three files of a dbt target folder and nothing else (the folder also holds
compiled SQL, run results and logs), on the loopback interface by default.
"""

from __future__ import annotations

import logging
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import UserError

log = logging.getLogger(__name__)

SITE_FILES = ("index.html", "manifest.json", "catalog.json")


class _SiteHandler(SimpleHTTPRequestHandler):
    def send_head(self) -> Any:
        path = urlsplit(self.path).path
        name = "index.html" if path in ("", "/") else path.lstrip("/")
        if name not in SITE_FILES:
            self.send_error(404, "Not part of the dbt docs site")
            return None
        self.path = "/" + name
        return super().send_head()

    def end_headers(self) -> None:
        # The artifacts change with every `docs generate`: never serve a stale copy.
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("docs site: " + format, *args)


def make_server(target: Path, host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    """A server (not yet serving) for the docs site in ``target``; port 0 picks a free one."""
    missing = [name for name in SITE_FILES if not (target / name).is_file()]
    if missing:
        raise UserError(
            f"The dbt docs in {target} are incomplete (no {', '.join(missing)}); run "
            "`spotify-elt docs generate` first, or leave out --no-generate."
        )
    handler = partial(_SiteHandler, directory=str(target))
    try:
        return ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise UserError(
            f"Cannot serve the docs on {host}:{port} ({exc.strerror}); choose another --port."
        ) from None
