"""Campaign/Create's ``data[...]`` (and SendSmsMessage's ``params[...]``) checked as the
Campaign module documents them; every invalid field is named at once (code 1)."""

from __future__ import annotations

from typing import Any

from campaigns.simulator.campaign import parse_ts
from campaigns.simulator.config import SimConfig
from campaigns.simulator.forms import as_int, as_text
from campaigns.simulator.phones import placeholders


class InvalidFields(ValueError):
    """Code 1: ``fields`` maps each invalid parameter to the reason."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(", ".join(fields))
        self.fields = fields


def campaign_fields(data: dict, now: float, config: SimConfig, *, within: str = "") -> dict[str, Any]:
    """The campaign's fields from Create's ``data[...]`` (or SendSmsMessage's ``params[...]``,
    ``within="params"``). Raises InvalidFields naming every invalid one."""
    errors: dict[str, str] = {}

    def label(key: str) -> str:
        return f"{within}[{key}]" if within else key

    def number(key: str, default: int | None = None) -> int | None:
        try:
            return as_int(data.get(key), default)
        except ValueError:
            errors[label(key)] = "must be a whole number"
            return default

    text = as_text(data.get("text"), "") or ""
    name = as_text(data.get("name"))
    ctype = number("type", 2)
    rate_limit = number("rateLimit")
    rate_period = number("ratePeriod")
    mclass = number("mclass", 1)
    validity = number("validity")
    track = number("trackShortLinkRecipients", 0)
    if not text.strip():
        errors["text"] = "The message text must not be empty"
    if name is not None and len(name) > 255:
        errors[label("name")] = "The campaign name is longer than 255 characters"
    if ctype not in (1, 2, 3):
        errors[label("type")] = "The campaign type must be 1, 2 or 3"
    elif ctype == 3 and text.strip() and not placeholders(text):
        errors["text"] = "A template campaign's text must contain {placeholders}"
    if rate_period is not None and rate_period not in (60, 3600, 86400):
        errors[label("ratePeriod")] = "ratePeriod must be 60, 3600 or 86400"
    if rate_limit is not None:
        if rate_limit < 0:
            errors[label("rateLimit")] = "rateLimit must not be negative"
        elif rate_limit > 0 and rate_period is None:
            errors[label("ratePeriod")] = "ratePeriod is required with rateLimit"
        elif rate_limit > 0 and rate_period and rate_limit / rate_period > 100:
            errors[label("rateLimit")] = "no more than 100 messages a second"
    if mclass not in (0, 1):
        errors[label("mclass")] = "mclass must be 0 or 1"
    if validity is not None and not 60 <= validity <= 1440:
        errors[label("validity")] = "validity must be between 60 and 1440 minutes"
    if track not in (0, 1):
        errors[label("trackShortLinkRecipients")] = "must be 0 or 1"
    deferred_text = as_text(data.get("deferredToTs"))
    deferred_ts = None
    if deferred_text:
        try:
            deferred_ts = parse_ts(deferred_text)
        except ValueError:
            errors[label("deferredToTs")] = "Use the format YYYY-MM-DD HH:MM:SS"
        else:
            # "not earlier than one hour, and not later than 14 days"
            if config.check_deferred_window and not now + 3600 <= deferred_ts <= now + 14 * 86400:
                errors[label("deferredToTs")] = "The start must be between one hour and 14 days from now"
    if errors:
        raise InvalidFields(errors)
    return {
        "type": ctype, "name": name, "text": text,
        "rate_limit": rate_limit if rate_limit else None,
        "rate_period": rate_period if rate_limit else None,
        "deferred_ts": deferred_ts, "deferred_text": deferred_text.strip() if deferred_text else None,
        "mclass": mclass, "validity": validity, "track_links": track,
    }
