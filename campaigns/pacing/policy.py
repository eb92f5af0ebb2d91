"""Rate policies: how many grants per period, released in packets at equal intervals.

A policy says "at most ``limit`` in any ``period`` seconds". It is enforced as a sliding
window: at most ``size`` grants in any ``window`` seconds, where ``size`` is the packet
(10 by default, as Mobizon paces its own campaigns: packets of 10 messages at equal
intervals) and ``window = period * size / limit``. ``size`` is the largest divisor of
``limit`` not above the packet, so ``period`` is a whole number of windows and no
``period``-long stretch of time, wherever it starts, ever holds more than ``limit``
grants ("never faster"), while idle time is never saved up for a burst.

A task that is told to come back when a slot frees up arrives a little late (the broker's
and the worker's latency). A plain sliding window would let that lateness drift the whole
schedule, and a campaign at 100 a second would run a few percent slow. So a pacing policy
credits a late grant with the moment its slot fell free, for up to one ``window`` of
lateness: in the long run the rate is exact, and any stretch of time holds at most one
packet more than a strict count would. A ``strict`` policy (a provider's own API limit,
where one request too many is refused) credits nothing.

The storage that keeps the grants (memory or Redis) knows nothing of this: it is handed
``window`` and ``size``. The provider limits the project paces are named at the bottom.
"""

from __future__ import annotations

from dataclasses import dataclass

PACKET = 10


def _largest_divisor_at_most(value: int, bound: int) -> int:
    for candidate in range(min(value, bound), 0, -1):
        if value % candidate == 0:
            return candidate
    return 1


@dataclass(frozen=True)
class Policy:
    """At most ``limit`` grants in any ``period`` seconds, in packets of at most ``packet``.

    Raises ValueError for a limit or packet below 1 or a period that is not positive.
    """

    limit: int
    period: float
    packet: int = PACKET
    strict: bool = False

    def __post_init__(self) -> None:
        if int(self.limit) != self.limit or self.limit < 1:
            raise ValueError(f"a rate limit must be a whole number of at least 1, got {self.limit!r}")
        if not self.period > 0:
            raise ValueError(f"a rate period must be a positive number of seconds, got {self.period!r}")
        if int(self.packet) != self.packet or self.packet < 1:
            raise ValueError(f"a packet must hold at least 1 grant, got {self.packet!r}")

    @property
    def size(self) -> int:
        """Grants allowed in one window (the packet actually used)."""
        return _largest_divisor_at_most(int(self.limit), int(self.packet))

    @property
    def window(self) -> float:
        """Seconds over which at most ``size`` grants are allowed."""
        return self.period * self.size / self.limit

    @property
    def slack(self) -> float:
        """Seconds of lateness credited to a grant (0 for a strict policy)."""
        return 0.0 if self.strict else self.window

    @property
    def rate(self) -> float:
        """Grants per second in the long run."""
        return self.limit / self.period

    def describe(self) -> str:
        return f"{self.limit} per {self.period:g}s in packets of {self.size} every {self.window:g}s"


def campaign_policy(rate_limit: int | None, rate_period: int | None, *, default_limit: int, default_period: int) -> Policy:
    """The pace of a campaign sent message by message: its own ``rateLimit``/``ratePeriod``,
    or the account's default when the campaign has none. Raises ValueError when invalid."""
    return Policy(rate_limit or default_limit, rate_period or default_period)


# The providers' own API limits (PROVIDERS.md and the seeds). Keys are per account.
# Mobizon: TaskQueue/GetStatus "at most once a second" (TaskQueue module).
MOBIZON_TASK_STATUS = Policy(1, 1.0, packet=1, strict=True)
# SMSC history (seed 003, get.php?get_messages=1): "no more than three identical requests
# a minute or thirty requests an hour"; both must hold.
SMSC_HISTORY_IDENTICAL = Policy(3, 60.0, packet=3, strict=True)
SMSC_HISTORY_HOURLY = Policy(30, 3600.0, packet=30, strict=True)
# SMSC answers error 9 to "fifteen and more simultaneous requests from different
# connections under one login" (seed 003). We keep well under it, so that a 9 on a send
# can only mean a repeated identical request, i.e. "probably sent".
SMSC_MAX_CONCURRENT = 10
# The cascade gateway refuses an identical request repeated within a minute (seed 001).
CASCADE_IDENTICAL = Policy(1, 60.0, packet=1, strict=True)
