"""Campaign/List and Message/List: criteria, pagination and sorting as the documents say.

Campaign/List searches only the first 10 ``criteria[ids]``; without ids or dates it sees
the campaigns created since 00:00:00 of the day 24 hours ago; a date window is at most 90
days. Message/List takes pages of 25, 50 or 100 counted from 0 and uses the first 100
``criteria[campaignIds]``.
"""

from __future__ import annotations

import heapq
from datetime import datetime, timedelta
from typing import Any, Iterable, Iterator

from campaigns.simulator.campaign import NOT_YET_SENT, SimCampaign, SimMessage
from campaigns.simulator.forms import as_int, as_list

MAX_CAMPAIGN_IDS = 10
MAX_MESSAGE_CAMPAIGN_IDS = 100
MESSAGE_PAGE_SIZES = (25, 50, 100)
WINDOW = timedelta(days=90)


class ListError(ValueError):
    """A criterion cannot be used; ``code`` is the envelope code, ``field`` the parameter."""

    def __init__(self, code: int, field: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


def _ids(value: Any, limit: int, field: str) -> list[int]:
    out = []
    for raw in as_list(value)[:limit]:
        try:
            number = as_int(raw)
        except ValueError:
            raise ListError(1, field, f"{field} must hold campaign ids") from None
        if number is not None:
            out.append(number)
    return out


def _day(crit: dict, date_key: str, time_key: str, *, end: bool) -> datetime | None:
    raw = crit.get(date_key)
    if raw in (None, ""):
        return None
    try:
        day = datetime.strptime(str(raw).strip(), "%Y-%m-%d")
    except ValueError:
        raise ListError(1, f"criteria[{date_key}]", "the date must be YYYY-MM-DD") from None
    clock = crit.get(time_key)
    if clock not in (None, ""):
        try:
            t = datetime.strptime(str(clock).strip(), "%H:%M:%S")
        except ValueError:
            raise ListError(1, f"criteria[{time_key}]", "the time must be HH:MM:SS") from None
        return day.replace(hour=t.hour, minute=t.minute, second=t.second)
    return day.replace(hour=23, minute=59, second=59) if end else day


def _window(start: datetime | None, stop: datetime | None) -> tuple[float, float] | None:
    """The [from, to] window: one given end puts the other 90 days away; a longer window
    keeps its last 90 days (Campaign module, List)."""
    if start is None and stop is None:
        return None
    if start is None:
        start = stop - WINDOW
    if stop is None:
        stop = start + WINDOW
    if stop - start > WINDOW:
        start = stop - WINDOW
    return start.timestamp(), stop.timestamp()


def _page(params: dict, *, sizes: tuple[int, ...] | None, default_size: int) -> tuple[int, int]:
    pagination = params.get("pagination") or {}
    if not isinstance(pagination, dict):
        pagination = {}
    try:
        size = as_int(pagination.get("pageSize"), default_size)
        page = as_int(pagination.get("currentPage"), 0)
    except ValueError as exc:
        raise ListError(1, "pagination", str(exc)) from None
    if sizes is not None and size not in sizes:
        raise ListError(12, "pagination[pageSize]", f"pageSize must be one of {', '.join(map(str, sizes))}")
    if size < 1:
        raise ListError(1, "pagination[pageSize]", "pageSize must be positive")
    if page < 0:
        raise ListError(1, "pagination[currentPage]", "pages are counted from 0")
    return size, page


def _sort(params: dict, allowed: dict[str, Any], default: tuple[str, bool]) -> tuple[str, bool]:
    sort = params.get("sort") or {}
    if not isinstance(sort, dict) or not sort:
        return default
    for key, direction in sort.items():
        if key not in allowed:
            raise ListError(1, f"sort[{key}]", f"cannot sort by {key}")
        direction = str(direction).strip().upper()
        if direction not in ("ASC", "DESC"):
            raise ListError(1, f"sort[{key}]", "the direction must be ASC or DESC")
        return key, direction == "DESC"
    return default


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float)):
        return (1, value)
    return (2, str(value))


def select_campaigns(campaigns: Iterable[SimCampaign], params: dict, now: float) -> tuple[list[SimCampaign], int]:
    """The page of campaigns Campaign/List answers with, and how many matched in all."""
    crit = params.get("criteria") or {}
    if not isinstance(crit, dict):
        crit = {}
    ids = _ids(crit.get("ids"), MAX_CAMPAIGN_IDS, "criteria[ids]")
    try:
        one = as_int(crit.get("id"))
        wanted_type = as_int(crit.get("type"))
    except ValueError as exc:
        raise ListError(1, "criteria", str(exc)) from None
    created = _window(_day(crit, "createDateFrom", "createTimeFrom", end=False),
                      _day(crit, "createDateTo", "createTimeTo", end=True))
    sent = _window(_day(crit, "sentDateFrom", "sendTimeFrom", end=False),
                   _day(crit, "sentDateTo", "sentTimeTo", end=True))
    if not ids and one is None and created is None and sent is None:
        # the default filter: "from 00:00:00 of the last 24 hours to the current moment"
        since = datetime.fromtimestamp(now - 86400).replace(hour=0, minute=0, second=0, microsecond=0)
        created = (since.timestamp(), now)
    status = str(crit.get("status") or "").strip().upper()
    sender = crit.get("from")
    text = crit.get("text")
    recipient = "".join(ch for ch in str(crit.get("recipient") or "") if ch.isdigit())

    def matches(c: SimCampaign) -> bool:
        if ids and c.id not in ids:
            return False
        if one is not None and c.id != one:
            return False
        if created and not created[0] <= c.create_ts <= created[1]:
            return False
        if sent:
            t = c.timeline
            if t is None or t.declined or now < t.start_ts or not sent[0] <= t.start_ts <= sent[1]:
                return False
        current = c.status(now)
        if status and not (current == status or (status == "NOT_YET_SENT" and current in NOT_YET_SENT)):
            return False
        if wanted_type is not None and c.type != wanted_type:
            return False
        if sender not in (None, "") and (c.sender or "").lower() != str(sender).lower():
            return False
        if text not in (None, "") and str(text).lower() not in c.text.lower():
            return False
        if recipient and not any(recipient in phone for phone in c.by_phone):
            return False
        return True

    found = [c for c in campaigns if not c.deleted and matches(c)]
    keys = {
        "id": lambda c: c.id,
        "recipient": lambda c: min(c.by_phone, default=None),
        "from": lambda c: c.sender,
        "text": lambda c: c.text,
        "status": lambda c: c.status(now),
        "type": lambda c: c.type,
    }
    key, descending = _sort(params, keys, ("id", True))
    found.sort(key=lambda c: _sort_key(keys[key](c)), reverse=descending)
    size, page = _page(params, sizes=None, default_size=25)
    return found[page * size:(page + 1) * size], len(found)


def _ts_criterion(crit: dict, key: str) -> float | None:
    raw = crit.get(key)
    if raw in (None, ""):
        return None
    try:
        return datetime.strptime(str(raw).strip(), "%Y-%m-%d %H:%M:%S").timestamp()
    except ValueError:
        raise ListError(1, f"criteria[{key}]", "the date must be YYYY-MM-DD HH:MM:SS") from None


def select_messages(
    campaigns: dict[int, SimCampaign], messages: dict[int, SimMessage], params: dict, now: float
) -> tuple[list[tuple[SimCampaign, SimMessage]], int]:
    """The page of messages Message/List answers with, and how many matched in all."""
    crit = params.get("criteria") or {}
    if not isinstance(crit, dict):
        crit = {}
    size, page = _page(params, sizes=MESSAGE_PAGE_SIZES, default_size=25)
    campaign_ids = _ids(crit.get("campaignIds"), MAX_MESSAGE_CAMPAIGN_IDS, "criteria[campaignIds]")
    bounds = {key: _ts_criterion(crit, key) for key in (
        "campaignCreateTsFrom", "campaignCreateTsTo", "campaignSentTsFrom", "campaignSentTsTo",
        "startSendTsFrom", "startSendTsTo", "statusUpdateTsFrom", "statusUpdateTsTo")}
    sender, to, text = crit.get("from"), crit.get("to"), crit.get("text")
    status = str(crit.get("status") or "").strip().upper()
    campaign_status = str(crit.get("campaignStatus") or "").strip().upper()
    to_digits = "".join(ch for ch in str(to or "") if ch.isdigit())

    def in_range(value: float | None, low: float | None, high: float | None) -> bool:
        if low is None and high is None:
            return True
        if value is None:
            return False
        return (low is None or value >= low) and (high is None or value <= high)

    def campaign_ok(c: SimCampaign) -> bool:
        if c.deleted:
            return False
        if sender not in (None, "") and (c.sender or "").lower() != str(sender).lower():
            return False
        if text not in (None, "") and c.text != str(text):
            return False
        if campaign_status and c.status(now) != campaign_status:
            return False
        if not in_range(c.create_ts, bounds["campaignCreateTsFrom"], bounds["campaignCreateTsTo"]):
            return False
        t = c.timeline
        started = t.start_ts if t and not t.declined and now >= t.start_ts else None
        return in_range(started, bounds["campaignSentTsFrom"], bounds["campaignSentTsTo"])

    message_filters = to_digits or status or any(
        bounds[k] is not None for k in ("startSendTsFrom", "startSendTsTo", "statusUpdateTsFrom", "statusUpdateTsTo"))

    def message_ok(c: SimCampaign, m: SimMessage) -> bool:
        if to_digits and to_digits not in m.phone:
            return False
        if status or bounds["startSendTsFrom"] or bounds["startSendTsTo"] or bounds["statusUpdateTsFrom"] \
                or bounds["statusUpdateTsTo"]:
            current, sent, updated = c.message_state(m, now)
            if status and current != status:
                return False
            if not in_range(sent, bounds["startSendTsFrom"], bounds["startSendTsTo"]):
                return False
            if not in_range(updated, bounds["statusUpdateTsFrom"], bounds["statusUpdateTsTo"]):
                return False
        return True

    if campaign_ids:
        chosen = [campaigns[i] for i in dict.fromkeys(campaign_ids) if i in campaigns and campaign_ok(campaigns[i])]
        streams = [c.messages for c in chosen]
        ordered: Iterator[SimMessage] | list[SimMessage] = (
            streams[0] if len(streams) == 1 else heapq.merge(*streams, key=lambda m: m.id))
    else:
        ordered = (m for m in messages.values() if campaign_ok(campaigns[m.campaign_id]))
    keys = {
        "campaignId": lambda c, m: c.id, "from": lambda c, m: c.sender, "to": lambda c, m: m.phone,
        "text": lambda c, m: m.text, "status": lambda c, m: c.message_state(m, now)[0],
        "startSendTs": lambda c, m: c.message_state(m, now)[1],
        "statusUpdateTs": lambda c, m: c.message_state(m, now)[2], "segNum": lambda c, m: m.seg_num,
    }
    key, descending = _sort(params, keys, ("", False))
    if not key and not message_filters and isinstance(ordered, list):
        # the common case, one campaign in id order: slice without touching the rest
        total = len(ordered)
        page_items = ordered[page * size:(page + 1) * size]
        return [(campaigns[m.campaign_id], m) for m in page_items], total
    found = [(campaigns[m.campaign_id], m) for m in ordered]
    if message_filters:
        found = [(c, m) for c, m in found if message_ok(c, m)]
    if key:
        found.sort(key=lambda cm: (_sort_key(keys[key](*cm)), cm[1].id), reverse=descending)
    return found[page * size:(page + 1) * size], len(found)
