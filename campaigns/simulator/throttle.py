"""Code 30: "too frequent calls to the same method". Each method has its own sliding
window of real time (one second, or 1/limit seconds below one call a second); calls
refused with code 30 do not count against it."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from typing import Callable, Mapping


class MethodThrottle:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._calls: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, method: str, limits: Mapping[str, float]) -> bool:
        """True when ``method`` may run now under ``limits`` (calls a second per method,
        "*" for any method); records the call when allowed."""
        limit = limits.get(method, limits.get("*"))
        if limit is None:
            return True
        # below one call a second, one call per 1/limit seconds
        span = max(1.0, 1.0 / limit)
        capacity = max(1, int(limit * span))
        now = self._monotonic()
        with self._lock:
            window = self._calls[method]
            while window and now - window[0] >= span:
                window.popleft()
            if len(window) >= capacity:
                return False
            window.append(now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
