"""A cascade campaign's parameters, checked before its file is read, with messages a person
understands; its default pace; and what is stored on the campaign."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from campaigns.pacing.policy import Policy
from campaigns.providers.cascade.options import CascadeOptions, problems as option_problems

CASCADE_PROVIDERS = frozenset({"cascade"})  # sent message by message at the campaign's pace


def campaign_problems(request: Any) -> list[str]:
    """Every reason the gateway (or our pacing of it) would refuse ``request`` (a
    SubmitRequest); [] when none."""
    found = []
    if not request.text or not request.text.strip():
        found.append("the message text is empty")
    if (request.rate_limit is None) != (request.rate_period is None):
        found.append("give both --rate-limit and --rate-period, or neither (the account's "
                     "CASCADE_RATE_LIMIT/CASCADE_RATE_PERIOD)")
    elif request.rate_limit is not None:
        try:
            Policy(request.rate_limit, request.rate_period)
        except ValueError as exc:
            found.append(str(exc))
    if request.deferred_to:
        try:
            datetime.strptime(request.deferred_to[:16], "%Y-%m-%d %H:%M")
        except ValueError:
            found.append("--deferred-to must be 'YYYY-MM-DD HH:MM[:SS]' (the gateway's time_send)")
    if request.mclass is not None:
        found.append("--mclass is not a cascade option (flash messages are SMS-only at Mobizon)")
    if request.validity is not None:
        found.append("the cascade gateway takes a validity for Viber only: use --viber-validity")
    found += option_problems(request.cascade, text=request.text or "", sender=request.sender)
    return found


def prepared(request: Any, settings) -> Any:
    """``request`` with the account's pace (CASCADE_RATE_LIMIT/PERIOD) when it names none:
    the campaign is then paced the same whichever worker sends it."""
    if request.rate_limit is None and request.rate_period is None:
        request = replace(request, rate_limit=settings.cascade_rate_limit, rate_period=settings.cascade_rate_period)
    return request


def provider_options(request: Any) -> dict | None:
    """What the campaign stores for the adapter: its channel options, checked."""
    return CascadeOptions.from_mapping(request.cascade).as_json()
