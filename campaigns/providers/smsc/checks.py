"""An SMSC campaign's parameters, checked before its file is read, with messages a person
understands; and the chunk size that makes one chunk one paced packet."""

from __future__ import annotations

from campaigns.pacing.policy import Policy, campaign_policy
from campaigns.providers.smsc.client import MAX_TEXT

PACED_PROVIDERS = frozenset({"smsc"})  # sent message by message at the campaign's pace


def campaign_problems(
    *,
    text: str,
    type: int,
    rate_limit: int | None,
    rate_period: int | None,
    deferred_to: str | None = None,
    mclass: int | None = None,
    validity: int | None = None,
) -> list[str]:
    """Every reason SMSC (or our pacing of it) would refuse the campaign; [] when none."""
    problems = []
    if not text or not text.strip():
        problems.append("the message text is empty")
    elif type != 3 and len(text) > MAX_TEXT:
        problems.append(f"SMSC takes messages of at most {MAX_TEXT} characters; this text has {len(text)}")
    if (rate_limit is None) != (rate_period is None):
        problems.append("give both --rate-limit and --rate-period, or neither (the account's SMSC_RATE_LIMIT/SMSC_RATE_PERIOD)")
    elif rate_limit is not None:
        try:
            Policy(rate_limit, rate_period)
        except ValueError as exc:
            problems.append(str(exc))
    if deferred_to:
        problems.append("SMSC campaigns are sent at their pace from the moment they are submitted; --deferred-to is not supported")
    if mclass == 0:
        problems.append("flash messages (--mclass 0) are not supported for SMSC campaigns")
    if validity is not None and not 1 <= validity <= 24 * 60:
        problems.append("--validity for SMSC is 1 to 1440 minutes")
    return problems


def chunk_size(rate_limit: int | None, rate_period: int | None, settings) -> int:
    """Recipients per chunk of a paced campaign: one packet of its pace (≤ 10), so that a
    chunk is one send.php request taking one packet's slots."""
    policy = campaign_policy(
        rate_limit, rate_period, default_limit=settings.smsc_rate_limit, default_period=settings.smsc_rate_period
    )
    return min(policy.size, settings.chunk_size)
