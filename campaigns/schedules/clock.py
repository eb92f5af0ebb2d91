"""The schedules' clock: the real one, or (a test aid, CAMPAIGNS_SCHEDULE_CLOCK_SPEED) one
running N times faster from a shared epoch, so real beat processes can fire a
``* * * * *`` schedule many times in a few seconds. Every process given the same two
settings reads the same schedule time (within its own clock's drift times N)."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable

Clock = Callable[[], datetime]


def real_clock() -> datetime:
    return datetime.now(timezone.utc)


def schedule_clock(settings) -> Clock:
    """The clock schedules fire by under ``settings``."""
    speed, epoch = settings.schedule_clock_speed, settings.schedule_clock_epoch
    if speed <= 0:
        return real_clock

    def fast() -> datetime:
        now = time.time()
        return datetime.fromtimestamp(epoch + (now - epoch) * speed, timezone.utc)

    return fast
