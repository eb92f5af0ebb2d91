"""Fire times of schedules against truth worked out by hand from the zones' rules:
Europe/Berlin changes at 01:00 UTC on the last Sunday of March and of October; America/
New_York at 02:00 local on the second Sunday of March and the first Sunday of November."""

from datetime import datetime, timedelta, timezone

import pytest

from campaigns.schedules.cron import (
    ScheduleInputError,
    check_cron,
    last_fire_at_or_before,
    parse_moment,
    upcoming,
    zone,
)

UTC = timezone.utc


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def fires(expr: str, tz: str, after: datetime, count: int) -> list[datetime]:
    return upcoming(check_cron(expr), zone(tz), after, count)


def test_spring_forward_in_berlin_fires_once_shifted_by_the_gap():
    # 02:30 does not exist on 2026-03-29 in Berlin: it fires at 03:30 CEST (01:30 UTC)
    assert fires("30 2 * * *", "Europe/Berlin", utc(2026, 3, 28, 12), 3) == [
        utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30), utc(2026, 3, 31, 0, 30)]
    local = [t.astimezone(zone("Europe/Berlin")).isoformat() for t in fires("30 2 * * *", "Europe/Berlin",
                                                                               utc(2026, 3, 28, 12), 1)]
    assert local == ["2026-03-29T03:30:00+02:00"]


def test_fall_back_in_berlin_fires_once_at_the_first_occurrence():
    # 02:30 occurs twice on 2026-10-25 (00:30 and 01:30 UTC): only the first fires
    assert fires("30 2 * * *", "Europe/Berlin", utc(2026, 10, 24, 12), 3) == [
        utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30), utc(2026, 10, 27, 1, 30)]


def test_hourly_across_both_berlin_transitions_never_fires_twice_at_one_instant():
    # spring: 00:00 CET, 01:00 CET, [02:00 missing -> 03:00 CEST], 03:00 CEST (same instant), 04:00 CEST
    assert fires("0 * * * *", "Europe/Berlin", utc(2026, 3, 28, 22, 30), 4) == [
        utc(2026, 3, 28, 23), utc(2026, 3, 29, 0), utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)]
    # fall: 02:00 CEST (00:00 UTC), the repeated 02:00 CET is not a second fire, 03:00 CET (02:00 UTC)
    assert fires("0 * * * *", "Europe/Berlin", utc(2026, 10, 24, 23, 30), 3) == [
        utc(2026, 10, 25, 0), utc(2026, 10, 25, 2), utc(2026, 10, 25, 3)]


def test_new_york_transitions():
    # 2026-03-08: 02:30 does not exist -> 03:30 EDT (07:30 UTC)
    assert fires("30 2 * * *", "America/New_York", utc(2026, 3, 7, 12), 2) == [
        utc(2026, 3, 8, 7, 30), utc(2026, 3, 9, 6, 30)]
    # 2026-11-01: 01:30 occurs at 05:30 UTC (EDT) and 06:30 UTC (EST): the first only
    assert fires("30 1 * * *", "America/New_York", utc(2026, 10, 31, 12), 2) == [
        utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]


def test_month_ends_leap_days_and_weekly_across_a_year_end():
    assert fires("0 9 31 * *", "UTC", utc(2027, 1, 1), 7) == [
        utc(2027, m, 31, 9) for m in (1, 3, 5, 7, 8, 10, 12)]
    assert fires("0 12 29 2 *", "UTC", utc(2026, 1, 1), 2) == [utc(2028, 2, 29, 12), utc(2032, 2, 29, 12)]
    # @weekly is Sunday 00:00; in Almaty (UTC+5) that is Saturday 19:00 UTC
    assert fires("@weekly", "Asia/Almaty", utc(2026, 12, 20), 3) == [
        utc(2026, 12, 26, 19), utc(2027, 1, 2, 19), utc(2027, 1, 9, 19)]
    assert fires("@monthly", "UTC", utc(2026, 12, 15), 2) == [utc(2027, 1, 1), utc(2027, 2, 1)]
    assert fires("@daily", "UTC", utc(2026, 12, 31, 0, 0, 1), 1) == [utc(2027, 1, 1)]


def test_names_of_days_and_months():
    # Monday 10:00 Almaty is 05:00 UTC; 2026-12-07 is a Monday
    assert fires("0 10 * * MON", "Asia/Almaty", utc(2026, 12, 4), 2) == [utc(2026, 12, 7, 5), utc(2026, 12, 14, 5)]
    assert fires("0 8 1 JAN,JUL *", "UTC", utc(2026, 12, 4), 2) == [utc(2027, 1, 1, 8), utc(2027, 7, 1, 8)]


def test_times_are_strictly_after_the_moment_and_the_latest_before_one():
    assert fires("0 10 * * *", "UTC", utc(2026, 12, 4, 10), 1) == [utc(2026, 12, 5, 10)]
    assert fires("0 10 * * *", "UTC", utc(2026, 12, 4, 10) - timedelta(microseconds=1), 1) == [utc(2026, 12, 4, 10)]
    assert last_fire_at_or_before("0 10 * * *", zone("UTC"), utc(2026, 12, 4, 10)) == utc(2026, 12, 4, 10)
    assert last_fire_at_or_before("30 2 * * *", zone("Europe/Berlin"), utc(2026, 3, 29, 5)) == utc(2026, 3, 29, 1, 30)
    assert last_fire_at_or_before("30 2 * * *", zone("Europe/Berlin"), utc(2026, 10, 25, 3)) == utc(2026, 10, 25, 0, 30)


@pytest.mark.parametrize("expr, words", [
    ("* * *", "has 3 fields; expected 5"),
    ("* * * * * *", "has 6 fields"),
    ("61 * * * *", "invalid cron expression '61 * * * *'"),
    ("0 9 * * FOO", "invalid cron expression"),
    ("@sometimes", "unknown cron nickname '@sometimes'"),
    ("", "empty"),
])
def test_bad_cron_expressions_say_what_is_wrong(expr, words):
    with pytest.raises(ScheduleInputError, match="(?s)" + words.replace("*", r"\*").replace("(", r"\(")):
        check_cron(expr)


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "/etc/localtime", "Europe/Berlin "])
def test_unknown_zones_are_refused_by_name(name):
    with pytest.raises(ScheduleInputError, match="unknown time zone"):
        zone(name)


def test_moments_without_an_offset_are_local_to_the_zone():
    assert parse_moment("2027-01-04T10:00", zone("Asia/Almaty"), "--start") == utc(2027, 1, 4, 5)
    assert parse_moment("2027-01-04T10:00+00:00", zone("Asia/Almaty"), "--start") == utc(2027, 1, 4, 10)
    with pytest.raises(ScheduleInputError, match="--start must be an ISO 8601 time"):
        parse_moment("next monday", zone("UTC"), "--start")


def _brute_force(expr: str, tz_name: str, start: datetime, end: datetime) -> list[datetime]:
    """Every fire time in [start, end] found the slow way: each local wall-clock minute of the
    period that matches ``expr`` is placed with fold=0; an instant found twice counts once."""
    from croniter import croniter

    tz = zone(tz_name)
    wall = (start.astimezone(tz) - timedelta(hours=3)).replace(tzinfo=None, second=0, microsecond=0)
    stop = (end.astimezone(tz) + timedelta(hours=3)).replace(tzinfo=None)
    found = set()
    while wall <= stop:
        if croniter.match(expr, wall):
            instant = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
            if start <= instant <= end:
                found.add(instant)
        wall += timedelta(minutes=1)
    return sorted(found)


@pytest.mark.parametrize("tz_name, day", [
    ("Europe/Berlin", utc(2026, 3, 29)), ("Europe/Berlin", utc(2026, 10, 25)),
    ("America/New_York", utc(2026, 3, 8, 5)), ("America/New_York", utc(2026, 11, 1, 4)),
    ("Australia/Lord_Howe", utc(2026, 4, 4, 12)), ("Australia/Lord_Howe", utc(2026, 10, 3, 12)),  # 30-minute shifts
])
@pytest.mark.parametrize("expr", ["30 2 * * *", "0 * * * *", "*/15 1-3 * * *", "45 1 * * SUN", "10,40 0-4 * * *"])
def test_iteration_agrees_with_a_minute_by_minute_search_across_transitions(tz_name, day, expr):
    start, end = day - timedelta(hours=6), day + timedelta(hours=12)
    truth = _brute_force(expr, tz_name, start, end)
    assert truth == sorted(set(truth))
    for minutes in range(0, 18 * 60, 23):  # from many moments across the transition
        moment = start + timedelta(minutes=minutes, seconds=11)
        expected = [t for t in truth if t > moment][:3]
        got = [t for t in upcoming(expr, zone(tz_name), moment, 3) if t <= end]
        assert got == expected, (moment, got, expected)
        before = [t for t in truth if t <= moment]
        if before:
            assert last_fire_at_or_before(expr, zone(tz_name), moment) == before[-1], moment
