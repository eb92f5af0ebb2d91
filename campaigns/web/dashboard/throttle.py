"""Failed sign-ins slowed down: after ``per_name`` failures for one name, or ``per_address``
from one client address, within ``window`` seconds, sign-in is refused (429) until the
oldest of them is ``window`` old, before any password is checked (an argon2 check costs
real CPU). Kept in the process's memory: with ``serve --workers N`` each process counts
its own, so a name gets at most N × ``per_name`` guesses a window.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from typing import Callable


class SignInThrottle:
    def __init__(self, *, per_name: int = 5, per_address: int = 30, window: float = 900.0,
                 clock: Callable[[], float] = time.monotonic):
        self.limits = {"name": per_name, "address": per_address}
        self.window = window
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _keys(self, name: str, address: str | None) -> list[tuple[str, str]]:
        keys = [("name", (name or "").strip().lower())]
        if address:
            keys.append(("address", address))
        return keys

    def wait(self, name: str, address: str | None) -> float:
        """Seconds until ``name`` from ``address`` may try again (0: now)."""
        now = self.clock()
        longest = 0.0
        with self._lock:
            for key in self._keys(name, address):
                times = self._failures.get(key)
                if not times:
                    continue
                while times and now - times[0] >= self.window:
                    times.popleft()
                if len(times) >= self.limits[key[0]]:
                    longest = max(longest, self.window - (now - times[0]))
                if not times:
                    del self._failures[key]
        return longest

    def failed(self, name: str, address: str | None) -> None:
        now = self.clock()
        with self._lock:
            for key in self._keys(name, address):
                self._failures[key].append(now)

    def succeeded(self, name: str) -> None:
        """A right password clears the name's failures (not the address's)."""
        with self._lock:
            self._failures.pop(("name", (name or "").strip().lower()), None)
