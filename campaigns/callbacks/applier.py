"""The applier of stored events inside the HTTP service: a thread woken by each stored
event, applying what waits a batch at a time (campaigns.services.callbacks.apply_pending).

It only shortens the wait: an event it did not get to (the process stopped) is applied by
the periodic job (workers.periodic, "callbacks") or by the next process's applier.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from campaigns.settings import Settings
from campaigns.store.uow import UnitOfWork

log = logging.getLogger(__name__)
IDLE_SECONDS = 5.0  # looks for waiting events this often even when nothing wakes it
GATHER_SECONDS = 0.05  # lets events gather after a wake-up: one batch of many, not many of one


class Applier:
    """``notify()`` after storing an event; ``close()`` stops the thread."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork], settings: Settings):
        self._uow_factory = uow_factory
        self._settings = settings
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="campaigns-callbacks", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        from campaigns.services.callbacks import BATCH, apply_pending

        while not self._stop.is_set():
            if self._wake.wait(IDLE_SECONDS):
                self._stop.wait(GATHER_SECONDS)
            self._wake.clear()
            try:
                while not self._stop.is_set() and apply_pending(self._uow_factory, self._settings) >= BATCH:
                    pass
            except Exception:  # noqa: BLE001 - the periodic job applies what is left
                log.exception("applying callback events failed; retrying later")
                self._stop.wait(1.0)
