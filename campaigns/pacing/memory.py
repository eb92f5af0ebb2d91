"""Pacing storage in this process's memory: the embedded default and unit tests.

Implements the same operations as ``redis_backend.RedisBackend`` (the contract test in
tests/test_pacing.py runs both): a log of the last grant times per key, a "blocked until"
time per key, and concurrency holds that expire on their own.
"""

from __future__ import annotations

import threading
import time


class MemoryBackend:
    """Thread-safe; shared by the threads of one process, never across processes."""

    def __init__(self, clock=time.time):
        self._clock = clock
        self._lock = threading.Lock()
        self._logs: dict[str, list[float]] = {}
        self._blocked: dict[str, float] = {}
        self._holds: dict[str, dict[str, float]] = {}

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now

    def take(
        self, key: str, window: float, size: int, n: int, *, slack: float = 0.0, now: float | None = None
    ) -> float:
        """Record ``n`` grants when no ``window``-long stretch would then hold more than
        ``size``, returning 0; otherwise record nothing and return the seconds until they
        would fit (or until the key's block ends).

        The log keeps the last ``size`` grant times, in order. A grant that replaces
        expired ones is recorded at the moment the last of them expired when it comes at
        most ``slack`` seconds after it (so lateness does not drift the schedule), else at
        ``now``; never before the latest recorded grant.
        """
        with self._lock:
            now = self._now(now)
            blocked = self._blocked.get(key, 0.0)
            if blocked > now:
                return blocked - now
            log = self._logs.setdefault(key, [])
            drop = len(log) + n - size
            if drop > 0:
                freed = log[drop - 1] + window
                if freed > now:
                    return freed - now
                at = max(freed, now - slack)
            else:
                at = now
            if log:
                at = max(at, log[-1])
            log.extend([at] * n)
            del log[: max(0, len(log) - size)]
            return 0.0

    def block(self, key: str, seconds: float, *, now: float | None = None) -> float:
        """Refuse every grant of ``key`` for ``seconds`` (never shortening a longer block);
        returns the seconds the key is now blocked for."""
        with self._lock:
            now = self._now(now)
            until = max(self._blocked.get(key, 0.0), now + seconds)
            self._blocked[key] = until
            return until - now

    def blocked(self, key: str, *, now: float | None = None) -> float:
        """Seconds until ``key`` is no longer blocked (0 when it is not)."""
        with self._lock:
            return max(0.0, self._blocked.get(key, 0.0) - self._now(now))

    def hold(self, key: str, token: str, limit: int, ttl: float, *, now: float | None = None) -> float:
        """Take one of ``limit`` concurrent places under ``token`` for at most ``ttl``
        seconds, returning 0; when all are taken return the seconds until one expires."""
        with self._lock:
            now = self._now(now)
            holds = self._holds.setdefault(key, {})
            for other, expires in list(holds.items()):
                if expires <= now:
                    del holds[other]
            if len(holds) < limit:
                holds[token] = now + ttl
                return 0.0
            return min(holds.values()) - now

    def release(self, key: str, token: str) -> None:
        """Give back the place held under ``token`` (nothing when it already expired)."""
        with self._lock:
            self._holds.get(key, {}).pop(token, None)

    def clear(self, prefix: str) -> None:
        """Forget every key starting with ``prefix`` (tests)."""
        with self._lock:
            for table in (self._logs, self._blocked, self._holds):
                for key in [k for k in table if k.startswith(prefix)]:
                    del table[key]

    def close(self) -> None:
        return None
