"""How long to wait before retrying: exponential backoff with full jitter, bounded.

Every countdown the services schedule is at most ``MAX_COUNTDOWN_SECONDS``; the runtime
sets the broker's visibility timeout above it, so a task waiting for its countdown is
never handed to a second worker.
"""

from __future__ import annotations

import random

from campaigns.settings import Settings

MAX_COUNTDOWN_SECONDS = 600.0


def backoff_seconds(failures: int, settings: Settings, *, rng: random.Random | None = None) -> float:
    """Seconds to wait after the ``failures``-th temporary failure in a row (1-based):
    uniform in [0, min(cap, base * 2**(failures-1))] ("full jitter"), never above
    ``MAX_COUNTDOWN_SECONDS``. Jitter spreads the retries of many campaigns that failed
    together (a provider outage) so they do not all come back at once."""
    exponent = max(0, failures - 1)
    ceiling = min(settings.retry_cap_seconds, settings.retry_base_seconds * (2 ** min(exponent, 62)), MAX_COUNTDOWN_SECONDS)
    return (rng or random).uniform(0.0, max(0.0, ceiling))


def bounded(seconds: float) -> float:
    """``seconds`` clipped to [0, MAX_COUNTDOWN_SECONDS] (a provider's retry_after, a poll)."""
    return min(max(0.0, float(seconds)), MAX_COUNTDOWN_SECONDS)
