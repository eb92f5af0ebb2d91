"""``create_app`` served by uvicorn in a thread of the test process, on a free port: the
callback receivers over real HTTP without a subprocess (issue 11 tests)."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from campaigns.settings import Settings


class AppServer:
    def __init__(self, settings: Settings):
        from campaigns.web.app import create_app

        self.app = create_app(settings, run_embedded=False)
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    def __enter__(self) -> "AppServer":
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the app did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._socket.close()

    @property
    def runtime(self):
        return self.app.state.runtime
