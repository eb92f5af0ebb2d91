"""Fire times of a cron expression in an IANA time zone.

croniter parses the expression and steps through local wall-clock times (naive
datetimes); each is placed in the zone by zoneinfo with ``fold=0``, which gives the rules
of issue 13: a local time that does not exist (a spring-forward gap) fires once, shifted
forward by the gap (02:30 in Europe/Berlin on 2026-03-29 is 03:30 CEST), and a local time
that occurs twice (fall back) fires once, at its first occurrence. Wall-clock times that
land on an instant already given (several inside one gap) are given once.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from croniter.croniter import CroniterError

UTC = timezone.utc
NICKNAMES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
# A clock change (DST, a zone's new offset) is looked for this far before a moment: wider
# than any such change, so the walk through wall-clock times can start just early (after a
# spring-forward) or late (after a fall-back) enough, and only then.
_WINDOW = timedelta(hours=3)


def _offset_change(tz: ZoneInfo, at: datetime) -> timedelta:
    """How much the zone's UTC offset grew in the _WINDOW before ``at`` (negative: it shrank)."""
    return at.astimezone(tz).utcoffset() - (at - _WINDOW).astimezone(tz).utcoffset()


class ScheduleInputError(ValueError):
    """A cron expression, zone or time that cannot be used; the message names what is wrong."""


def check_cron(expr: str) -> str:
    """``expr`` tidied (spaces collapsed); raises ScheduleInputError unless it is a
    standard 5-field expression or one of @yearly, @monthly, @weekly, @daily, @hourly."""
    tidy = " ".join((expr or "").split())
    if not tidy:
        raise ScheduleInputError("the cron expression is empty")
    if tidy.startswith("@"):
        if tidy.lower() not in NICKNAMES:
            raise ScheduleInputError(f"unknown cron nickname {tidy!r}; use one of {', '.join(NICKNAMES)}")
        return tidy.lower()
    fields = tidy.split(" ")
    if len(fields) != 5:
        raise ScheduleInputError(
            f"cron expression {tidy!r} has {len(fields)} fields; expected 5 (minute hour day-of-month month day-of-week)"
        )
    try:
        croniter(tidy, datetime(2000, 1, 1))
    except (CroniterError, ValueError, KeyError) as exc:
        raise ScheduleInputError(f"invalid cron expression {tidy!r}: {exc}") from None
    return tidy


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; raises ScheduleInputError for an unknown one."""
    if not name or name.strip() != name or name.startswith("/") or ".." in name:
        raise ScheduleInputError(f"unknown time zone {name!r}; use an IANA name such as Asia/Almaty or UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleInputError(f"unknown time zone {name!r}; use an IANA name such as Asia/Almaty or UTC") from None


def fire_times(expr: str, tz: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """The fire times strictly after the aware moment ``after``, in order, as aware UTC
    datetimes, without end. ``expr`` must have passed ``check_cron``."""
    after = after.astimezone(UTC)
    wall = after.astimezone(tz).replace(tzinfo=None)
    # just after a spring-forward, wall times inside the gap (before ``after``'s own wall
    # time) are placed after ``after``: start the walk before the gap
    wall -= max(_offset_change(tz, after), timedelta(0))
    walk = croniter(expr, wall)
    last = after
    while True:
        local = walk.get_next(datetime).replace(tzinfo=tz, fold=0)
        instant = local.astimezone(UTC)
        if instant > last:
            last = instant
            yield instant


def next_fire(expr: str, tz: ZoneInfo, after: datetime, *, end: datetime | None = None) -> datetime | None:
    """The first fire time after ``after`` (None when it would be later than ``end``)."""
    instant = next(fire_times(expr, tz, after))
    return None if end is not None and instant > end else instant


def upcoming(expr: str, tz: ZoneInfo, after: datetime, count: int, *, end: datetime | None = None) -> list[datetime]:
    """Up to ``count`` fire times after ``after`` (none later than ``end``)."""
    out: list[datetime] = []
    for instant in fire_times(expr, tz, after):
        if len(out) >= count or (end is not None and instant > end):
            break
        out.append(instant)
    return out


def parse_moment(text: str, tz: ZoneInfo, what: str) -> datetime:
    """An ISO 8601 moment; one without an offset is a local time in ``tz`` (fold=0).
    Raises ScheduleInputError naming ``what``."""
    try:
        value = datetime.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise ScheduleInputError(f"{what} must be an ISO 8601 time such as 2027-01-31T10:00 or "
                                 f"2027-01-31T10:00+05:00, got {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz, fold=0)
    return value.astimezone(UTC)


def local_iso(instant: datetime, tz: ZoneInfo) -> str:
    """``instant`` in ``tz`` as ISO 8601 with its UTC offset."""
    return instant.astimezone(tz).isoformat()


def last_fire_at_or_before(expr: str, tz: ZoneInfo, at: datetime) -> datetime:
    """The latest fire time not later than the aware moment ``at`` (UTC)."""
    at = at.astimezone(UTC)
    wall = at.astimezone(tz).replace(tzinfo=None)
    # just after a fall-back, wall times after ``at``'s own (their first occurrence) are
    # placed before ``at``: start the walk after the repeated hour
    wall += max(-_offset_change(tz, at), timedelta(0)) + timedelta(microseconds=1)
    walk = croniter(expr, wall)
    while True:
        instant = walk.get_prev(datetime).replace(tzinfo=tz, fold=0).astimezone(UTC)
        if instant <= at:
            return instant
