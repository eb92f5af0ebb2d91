"""Pacing of campaigns sent message by message (SMSC): each campaign at its own
``rateLimit``/``ratePeriod`` (the account's SMSC_RATE_LIMIT/SMSC_RATE_PERIOD when it has
none), shared by every worker through the limiter, never faster.

Such a campaign's chunks hold one packet each (``chunk_size``), so one chunk is one
send.php request and takes ``packet`` slots. ``lanes`` chunks of one campaign may be
under way at once, so a slow answer from the provider does not hold up the next packet.
"""

from __future__ import annotations

from campaigns.pacing.limiter import Limiter, make_limiter
from campaigns.pacing.policy import Policy, campaign_policy

PACED_LANES = 4  # chunks of one paced campaign under way at once (well under SMSC's 15)
_ONCE = Policy(1, 86400.0, packet=1, strict=True)


class CampaignPacer:
    """Slots for campaigns; ``close()`` closes the limiter when this pacer made it."""

    def __init__(self, limiter: Limiter, *, default_limit: int, default_period: int, lanes: int = PACED_LANES,
                 owns_limiter: bool = False):
        self.limiter = limiter
        self.default_limit = default_limit
        self.default_period = default_period
        self.lanes = lanes
        self._owns = owns_limiter

    @classmethod
    def from_settings(cls, settings) -> "CampaignPacer":
        """A pacer over ``make_limiter(settings)`` (Redis when CAMPAIGNS_REDIS_URL is set)."""
        return cls(
            make_limiter(settings),
            default_limit=settings.smsc_rate_limit,
            default_period=settings.smsc_rate_period,
            owns_limiter=True,
        )

    def policy(self, rate_limit: int | None, rate_period: int | None) -> Policy:
        """The campaign's pace; ValueError when its rate cannot be used."""
        return campaign_policy(
            rate_limit, rate_period, default_limit=self.default_limit, default_period=self.default_period
        )

    def chunk_size(self, rate_limit: int | None, rate_period: int | None) -> int:
        """Recipients per chunk of a paced campaign: one packet."""
        return self.policy(rate_limit, rate_period).size

    def acquire(self, campaign_key: str, rate_limit: int | None, rate_period: int | None, *, now: float | None = None) -> float:
        """Take the slots of one packet of the campaign: 0.0 when taken, else the seconds
        until they are free (reschedule the task with that countdown; never sleep).

        ``campaign_key`` names the campaign for every worker: its provider campaign id,
        which is unique even across databases sharing one Redis."""
        policy = self.policy(rate_limit, rate_period)
        return self.limiter.acquire(f"campaign:{campaign_key}", policy, policy.size, now=now)

    def first(self, key: str) -> bool:
        """True for the first caller naming ``key`` in a day, across every worker: who
        opens a campaign's lanes."""
        return self.limiter.acquire(f"once:{key}", _ONCE) == 0.0

    def close(self) -> None:
        if self._owns:
            self.limiter.close()
