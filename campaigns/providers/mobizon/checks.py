"""Checks of a campaign's parameters before anything reaches Mobizon.

Each rule comes from Campaign/Create (Campaign module) or Message/SendSmsMessage
(Message module); PROVIDERS.md adds the placeholders that collide with the wire
format. Every problem is collected, so the user fixes them all at once.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

MAX_NAME_LENGTH = 255  # "The maximum length of the campaign name is 255 characters."
CAMPAIGN_TYPES = {1: "single message", 2: "mass", 3: "template"}
RATE_PERIODS = {60: "a minute", 3600: "an hour", 86400: "a day"}
MAX_RATE_PER_SECOND = 100  # "no more than 100 messages per second in recalculation for per second sending"
DEFERRED_FORMAT = "%Y-%m-%d %H:%M:%S"
_DEFERRED_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
DEFERRED_MIN_AHEAD = timedelta(hours=1)  # "not earlier than one hour, and not later than 14 days"
DEFERRED_MAX_AHEAD = timedelta(days=14)
VALIDITY_MINUTES = (60, 1440)  # "from 60 (1 hour) to 1440 (24 hours)"
MCLASSES = {0: "flash SMS, not saved", 1: "saved in the inbox"}

# "{name}": Latin letters, digits, "_" and "-" framed in curly braces (Create, data[text]).
_PLACEHOLDER = re.compile(r"\{([^{}\s]+)\}")
_PLACEHOLDER_NAME = re.compile(r"[A-Za-z0-9_-]+")


class InvalidCampaign(ValueError):
    """The campaign's parameters break Mobizon's rules; ``problems`` lists each in words."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("the campaign cannot be created: " + "; ".join(self.problems))


def placeholders(text: str) -> list[str]:
    """The placeholder names in ``text`` (``{name}`` -> ``name``), in order, without repeats."""
    seen: dict[str, None] = {}
    for match in _PLACEHOLDER.finditer(text or ""):
        seen.setdefault(match.group(1), None)
    return list(seen)


def placeholder_problems(text: str, *, template: bool) -> list[str]:
    """Placeholders that cannot travel in AddRecipients' ``recipients[i][name]`` fields.

    ``recipient`` is the key of the phone number itself and ``[``/``]`` would nest one
    more level (PROVIDERS.md, Mobizon, last line). For a template campaign, names must
    also keep to Latin letters, digits, ``_`` and ``-`` or Mobizon will not fill them.
    """
    problems = []
    for name in placeholders(text):
        if name.lower() == "recipient":
            problems.append(
                "placeholder {recipient} cannot be used: Mobizon reserves 'recipient' for the phone number; rename it"
            )
        elif "[" in name or "]" in name:
            problems.append(
                f"placeholder {{{name}}} cannot be used: '[' and ']' collide with Mobizon's request format; rename it"
            )
        elif template and not _PLACEHOLDER_NAME.fullmatch(name):
            problems.append(
                f"placeholder {{{name}}} may use only Latin letters, digits, '_' and '-'; Mobizon would not fill it"
            )
    return problems


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def format_deferred(value: str | datetime, now: datetime | None = None) -> str:
    """``value`` as Mobizon's ``YYYY-MM-DD HH:MM:SS``; an aware datetime is first moved to
    the timezone of an aware ``now`` (the account's wall clock)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None and now is not None and now.tzinfo is not None:
            value = value.astimezone(now.tzinfo)
        return value.strftime(DEFERRED_FORMAT)
    return str(value)


def deferred_problems(value: str | datetime | None, now: datetime | None) -> list[str]:
    """Problems with a deferred start: its format, and its distance from ``now``
    (between one hour and 14 days ahead; Create, data[deferredToTs])."""
    if value is None:
        return []
    now = now or datetime.now()
    text = format_deferred(value, now)
    if not _DEFERRED_SHAPE.fullmatch(text):
        return [f"deferred start {text!r} must be written YYYY-MM-DD HH:MM:SS, e.g. 2025-03-01 09:30:00"]
    try:
        when = datetime.strptime(text, DEFERRED_FORMAT)
    except ValueError:
        return [f"deferred start {text!r} is not a real date and time"]
    wall_now = now.replace(tzinfo=None, microsecond=0)
    if when < wall_now + DEFERRED_MIN_AHEAD:
        return [f"deferred start {text} must be at least one hour ahead (now it is {wall_now:{DEFERRED_FORMAT}})"]
    if when > wall_now + DEFERRED_MAX_AHEAD:
        return [f"deferred start {text} must be at most 14 days ahead (now it is {wall_now:{DEFERRED_FORMAT}})"]
    return []


def validity_problems(validity: Any) -> list[str]:
    if validity is None:
        return []
    low, high = VALIDITY_MINUTES
    if not _is_whole(validity) or not low <= validity <= high:
        return [f"validity must be a whole number of minutes from {low} (1 hour) to {high} (24 hours), "
                f"got {validity!r}"]
    return []


def mclass_problems(mclass: Any) -> list[str]:
    if mclass is None:
        return []
    if not _is_whole(mclass) or mclass not in MCLASSES:
        return [f"message class must be 0 (flash SMS, not saved) or 1 (saved in the inbox), got {mclass!r}"]
    return []


def rate_problems(rate_limit: Any, rate_period: Any) -> list[str]:
    """``rateLimit`` messages per ``ratePeriod`` seconds: both or neither, a period of a
    minute, hour or day, and at most 100 messages a second (Create, data[rateLimit])."""
    if rate_limit is None and rate_period is None:
        return []
    if rate_limit is None or rate_period is None:
        return ["rate limit and rate period go together: give both or neither"]
    problems = []
    if not _is_whole(rate_limit) or rate_limit <= 0:
        problems.append(f"rate limit must be a positive whole number of messages, got {rate_limit!r}")
    if not _is_whole(rate_period) or rate_period not in RATE_PERIODS:
        problems.append(
            f"rate period must be 60 (a minute), 3600 (an hour) or 86400 (a day) seconds, got {rate_period!r}"
        )
    if not problems and rate_limit / rate_period > MAX_RATE_PER_SECOND:
        per_second = rate_limit / rate_period
        problems.append(
            f"rate {rate_limit} per {RATE_PERIODS[rate_period]} is {per_second:g} messages a second; "
            f"Mobizon allows at most {MAX_RATE_PER_SECOND} a second "
            f"(at most {MAX_RATE_PER_SECOND * rate_period} per {RATE_PERIODS[rate_period]})"
        )
    return problems


def campaign_problems(
    *,
    name: str | None,
    text: str | None,
    type: Any = 2,
    rate_limit: Any = None,
    rate_period: Any = None,
    deferred_to: str | datetime | None = None,
    mclass: Any = None,
    validity: Any = None,
    track_short_link_recipients: Any = None,
    now: datetime | None = None,
) -> list[str]:
    """Every problem with Campaign/Create's parameters, in words a person understands."""
    problems: list[str] = []
    if name is not None and len(name) > MAX_NAME_LENGTH:
        problems.append(f"name is {len(name)} characters long; Mobizon allows at most {MAX_NAME_LENGTH}")
    if not text or not str(text).strip():
        problems.append("the message text is empty")
    if not _is_whole(type) or type not in CAMPAIGN_TYPES:
        problems.append(f"type must be 1 (single message), 2 (mass) or 3 (template), got {type!r}")
    template = type == 3
    if text:
        problems.extend(placeholder_problems(text, template=template))
        if template and not placeholders(text):
            problems.append("a template campaign needs at least one placeholder such as {name} in its text")
    problems.extend(rate_problems(rate_limit, rate_period))
    problems.extend(deferred_problems(deferred_to, now))
    problems.extend(validity_problems(validity))
    problems.extend(mclass_problems(mclass))
    if track_short_link_recipients is not None and track_short_link_recipients not in (0, 1):
        problems.append(f"short-link tracking must be 0 (off) or 1 (on), got {track_short_link_recipients!r}")
    return problems


def check_campaign(**params: Any) -> None:
    """Raise InvalidCampaign listing every problem of Create's parameters (see
    ``campaign_problems`` for the keywords); return None when there is none."""
    problems = campaign_problems(**params)
    if problems:
        raise InvalidCampaign(problems)


def check_message(
    *,
    recipient: str,
    text: str,
    name: str | None = None,
    deferred_to: str | datetime | None = None,
    mclass: Any = None,
    validity: Any = None,
    now: datetime | None = None,
) -> None:
    """Raise InvalidCampaign listing every problem of SendSmsMessage's parameters
    (Message module: the same limits on deferredToTs, mclass and validity as Create)."""
    problems: list[str] = []
    if not recipient or not str(recipient).strip():
        problems.append("the recipient's number is empty")
    if not text or not str(text).strip():
        problems.append("the message text is empty")
    if name is not None and len(name) > MAX_NAME_LENGTH:
        problems.append(f"name is {len(name)} characters long; Mobizon allows at most {MAX_NAME_LENGTH}")
    problems.extend(deferred_problems(deferred_to, now))
    problems.extend(validity_problems(validity))
    problems.extend(mclass_problems(mclass))
    if problems:
        raise InvalidCampaign(problems)
