"""Serving a simulator over real HTTP from a background thread (tests, the embedded
runner's sandbox) or in the foreground (``campaigns simulate``).

    with SimulatorServer(SimConfig(api_key="k" * 40)) as server:
        base_url = server.base_url          # e.g. http://127.0.0.1:54321 — MOBIZON_API_URL
        server.simulator.clock.advance(600)
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Iterable

import uvicorn
from starlette.applications import Starlette

from campaigns.simulator.app import Simulator, create_app
from campaigns.simulator.config import SimConfig
from campaigns.simulator.faults import FaultRule

_START_TIMEOUT = 10.0


class SimulatorServer:
    """A uvicorn server for one simulator on ``host``:``port`` (0 picks a free port)."""

    def __init__(
        self,
        app_or_config: Starlette | Simulator | SimConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        faults: Iterable[FaultRule] = (),
    ) -> None:
        if isinstance(app_or_config, Starlette):
            self.app = app_or_config
        else:
            sim = app_or_config if isinstance(app_or_config, Simulator) else Simulator(app_or_config, faults=faults)
            self.app = create_app(sim)
        if faults and isinstance(app_or_config, (Starlette, Simulator)):
            self.simulator.faults.add(*faults)
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._error: BaseException | None = None

    @property
    def simulator(self) -> Simulator:
        return self.app.state.simulator

    @property
    def base_url(self) -> str:
        """Scheme, host and port: what MOBIZON_API_URL and CAMPAIGNS_SANDBOX_URL expect."""
        if self._socket is None:
            raise RuntimeError("the simulator is not running")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # TCP_NODELAY on every accepted connection (asyncio sets it only when proto is
        # IPPROTO_TCP, and Linux lets accepted sockets inherit it): without it Nagle's
        # algorithm and the client's delayed ACK add ~40 ms to every keep-alive answer
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((self.host, self.port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    def start(self) -> str:
        """Start serving in a background thread; returns ``base_url``. Raises OSError when
        the address cannot be bound, RuntimeError when the server does not come up."""
        if self._thread is not None:
            return self.base_url
        self._socket = self._bind()
        self.port = self._socket.getsockname()[1]
        self.simulator.releasing.clear()
        config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="h11",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"mobizon-simulator:{self.port}", daemon=True)
        self._thread.start()
        waited = threading.Event()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the simulator did not start: {self._error!r}")
            waited.wait(0.01)
        return self.base_url

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as exc:  # reported by start(); a thread cannot raise to its starter
            self._error = exc

    def stop(self) -> None:
        """Stop serving: hanging calls answer at once, open connections close, the thread ends."""
        if self._thread is None:
            return
        self.simulator.releasing.set()
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self._socket = None
        self._thread = None
        self._server = None

    def serve_forever(self) -> None:
        """Block until interrupted (Ctrl-C), then stop."""
        stopped = threading.Event()
        try:
            while not stopped.wait(0.5):
                if self._thread is None or not self._thread.is_alive():
                    break
        finally:
            self.stop()

    def __enter__(self) -> "SimulatorServer":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
