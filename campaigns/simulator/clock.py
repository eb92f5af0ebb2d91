"""The simulator's clock: simulated time runs ``speed`` times faster than real time and
can be pushed forward by hand, so a campaign that takes hours at Mobizon takes seconds in
a test. Nothing ticks in the background: the state machine asks ``now()`` on each request
and works out where every campaign has got to.
"""

from __future__ import annotations

import threading
import time
from typing import Callable


class SimClock:
    """Simulated epoch seconds: ``start + (monotonic elapsed) × speed + advanced``."""

    def __init__(
        self,
        speed: float = 60.0,
        *,
        start: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed < 0:
            raise ValueError("the clock's speed cannot be negative")
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._speed = float(speed)
        self._base_sim = time.time() if start is None else float(start)
        self._base_real = monotonic()

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> float:
        """The simulated time, in epoch seconds."""
        with self._lock:
            return self._now_locked()

    def _now_locked(self) -> float:
        return self._base_sim + (self._monotonic() - self._base_real) * self._speed

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on; time already passed is kept."""
        if speed < 0:
            raise ValueError("the clock's speed cannot be negative")
        with self._lock:
            self._base_sim = self._now_locked()
            self._base_real = self._monotonic()
            self._speed = float(speed)

    def advance(self, seconds: float) -> float:
        """Jump ``seconds`` of simulated time forward; returns the new time."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._base_sim += seconds
            return self._now_locked()
