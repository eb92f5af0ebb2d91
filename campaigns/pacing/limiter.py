"""The one pacing mechanism, shared by every worker: rate slots, back-offs and
concurrency places, over a storage backend (memory or Redis).

Nothing here ever sleeps. ``acquire`` answers 0 when the slot is taken, or the seconds
until one is free: the caller reschedules its task with that countdown (STYLE.md,
Pacing; Celery's own ``rate_limit`` is per worker process, so four workers would run four
times too fast).

    limiter = make_limiter(settings)
    wait = limiter.acquire(f"smsc:{account}:campaign:{id}", Policy(600, 60), n=10)
    if wait:
        return [Next("add", campaign_id, countdown=wait)]
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Protocol

from campaigns.pacing.policy import Policy

PREFIX = "campaigns:pace:"


class Backend(Protocol):
    def take(
        self, key: str, window: float, size: int, n: int, *, slack: float = 0.0, now: float | None = None
    ) -> float: ...
    def block(self, key: str, seconds: float, *, now: float | None = None) -> float: ...
    def blocked(self, key: str, *, now: float | None = None) -> float: ...
    def hold(self, key: str, token: str, limit: int, ttl: float, *, now: float | None = None) -> float: ...
    def release(self, key: str, token: str) -> None: ...
    def clear(self, prefix: str) -> None: ...
    def close(self) -> None: ...


def account_key(*parts: str | None) -> str:
    """A short, stable name for a provider account that never reveals its secret:
    the first 16 hex digits of the SHA-256 of the parts (login, key, URL)."""
    joined = "\x1f".join(p or "" for p in parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:16]


class Hold:
    """One concurrency place; give it back with ``release()`` or a ``with`` block."""

    def __init__(self, limiter: "Limiter", key: str, token: str):
        self._limiter, self.key, self.token = limiter, key, token
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._limiter._backend.release(self.key, self.token)

    def __enter__(self) -> "Hold":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class Limiter:
    """Rate slots, back-offs and concurrency places under one key prefix."""

    def __init__(self, backend: Backend, *, prefix: str = PREFIX):
        self._backend = backend
        self.prefix = prefix

    def acquire(self, key: str, policy: Policy, n: int = 1, *, now: float | None = None) -> float:
        """Take ``n`` slots of ``key`` under ``policy``: 0.0 when taken, else the seconds
        until they can be (nothing is taken then). A blocked key answers the time left
        on its block. Raises ValueError when ``n`` is not between 1 and the policy's packet."""
        if not 1 <= n <= policy.size:
            raise ValueError(f"cannot take {n} slots at once under {policy.describe()}")
        return self._backend.take(self.prefix + key, policy.window, policy.size, n, slack=policy.slack, now=now)

    def block(self, key: str, seconds: float, *, now: float | None = None) -> float:
        """Back off ``key`` for every worker at once (Mobizon code 30 on a method): every
        ``acquire`` and ``blocked`` of it answers the time left. Returns that time."""
        return self._backend.block(self.prefix + key, max(0.0, float(seconds)), now=now)

    def blocked(self, key: str, *, now: float | None = None) -> float:
        """Seconds left on ``key``'s back-off, 0.0 when it is free."""
        return self._backend.blocked(self.prefix + key, now=now)

    def hold(self, key: str, limit: int, *, ttl: float, now: float | None = None) -> Hold | float:
        """One of ``limit`` concurrent places of ``key``, kept at most ``ttl`` seconds (so a
        killed worker cannot keep it): a ``Hold`` to release, or the seconds until a place
        is expected to free up."""
        token = uuid.uuid4().hex
        wait = self._backend.hold(self.prefix + key, token, limit, ttl, now=now)
        if wait > 0:
            return wait
        return Hold(self, self.prefix + key, token)

    def clear(self) -> None:
        """Forget every key under this limiter's prefix (tests, benchmarks)."""
        self._backend.clear(self.prefix)

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> "Limiter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def make_limiter(settings, *, prefix: str = PREFIX) -> Limiter:
    """The limiter for this process: Redis when ``settings.redis_url`` is set (shared by
    every worker), this process's memory otherwise (the embedded default)."""
    if settings.redis_url:
        from campaigns.pacing.redis_backend import RedisBackend

        return Limiter(RedisBackend.from_url(settings.redis_url), prefix=prefix)
    from campaigns.pacing.memory import MemoryBackend

    return Limiter(MemoryBackend(), prefix=prefix)
