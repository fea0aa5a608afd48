"""Run the emulator in a background thread: the handle tests and the CLI use.

Why a socket bound up front: binding port 0 ourselves tells us the port before uvicorn starts,
so there is no race for a "free" port and no polling; start-up is a thread start plus uvicorn's
own ``started`` flag (well under a second).
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from .app import EmulatorState, create_app
from .clock import Clock
from .config import EmulatorConfig


class EmulatorServer:
    """A running emulator: ``with EmulatorServer(config) as emu: emu.api_url ...``."""

    def __init__(
        self, config: EmulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or EmulatorConfig()
        self.host = host
        self.requested_port = port
        self.state = EmulatorState(self.config)
        self.app = create_app(state=self.state)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.port: int = port

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 10.0) -> EmulatorServer:
        """Bind, start uvicorn in a daemon thread and wait until it accepts connections."""
        if self._thread is not None:
            raise RuntimeError("emulator already started")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.requested_port))
        sock.listen(128)
        sock.set_inheritable(True)
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="spotify-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive():
                raise RuntimeError("emulator server failed to start")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("emulator server did not start in time")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit, join the thread and close the socket."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = None
        self._thread = None
        self._socket = None

    def serve_forever(self) -> None:
        """Block until interrupted (Ctrl-C), then stop cleanly (used by the CLI)."""
        if self._thread is None:
            self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ URLs
    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def accounts_url(self) -> str:
        """Base of the accounts service: ``{accounts_url}/api/token``, ``/authorize``."""
        return self.base_url

    @property
    def api_url(self) -> str:
        """Base of the Web API, ``.../v1``."""
        return f"{self.base_url}/v1"

    # ------------------------------------------------------------------ admin helpers
    @property
    def clock(self) -> Clock:
        return self.state.clock

    def advance_clock(self, seconds: float) -> None:
        self.state.clock.advance(seconds)

    def revoke_tokens(self, *, refresh_tokens: bool = False) -> int:
        return self.state.accounts.revoke_all(refresh_tokens=refresh_tokens)

    def stats(self) -> dict[str, Any]:
        return self.state.stats.snapshot()

    def request_count(self, endpoint: str) -> int:
        """Requests seen for ``endpoint``, e.g. ``"GET /v1/tracks/{id}"``."""
        return self.state.stats.count(endpoint)

    def reset_stats(self) -> None:
        self.state.stats.reset()

    def reset_rate_limit(self) -> None:
        self.state.limiter.reset()

    def rate_window_peak(self) -> int:
        """The most Web API requests received in any rate window since the last reset."""
        return self.state.limiter.peak_in_window()
