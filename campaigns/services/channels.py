"""Per-channel outcomes of campaigns sent through a provider with several channels (the
cascade gateway, issue 15): which channel delivered each message, what each channel
charged, and the campaign's totals per channel for its counters, status and report.

Written only by the provider path (``delivery.follow_messages``), into the recipients'
nullable ``channel``, ``price_*`` and ``channel_states`` columns; ingestion never names them.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.orm import Session

from campaigns.providers.cascade.codes import CHANNELS
from campaigns.store.models import Recipient

recipients_t = Recipient.__table__
PRICE_COLUMNS = {channel: f"price_{channel}" for channel in CHANNELS}
FAILED_STATUSES = {"undelivered": "UNDELIV", "expired": "EXPIRED", "rejected": "REJECTD"}


def has_channels(options: Mapping | None) -> bool:
    """Is a campaign with these provider options sent on several channels?"""
    return bool(options) and "channels" in options


def record_channels(session: Session, rows: Sequence[tuple[int, object]]) -> None:
    """Store each (recipient id, MessageStatus)'s channel, prices and the provider's words."""
    if not rows:
        return
    r = recipients_t.c
    values = {"channel": bindparam("b_channel"), "channel_states": bindparam("b_states")}
    values.update({column: bindparam(f"b_{column}") for column in PRICE_COLUMNS.values()})
    params = []
    for rid, status in rows:
        prices = status.prices or {}
        item = {"b_rid": rid, "b_channel": status.channel, "b_states": (status.detail or None) and status.detail[:120]}
        item.update({f"b_{column}": prices.get(channel) for channel, column in PRICE_COLUMNS.items()})
        params.append(item)
    session.execute(update(recipients_t).where(r.id == bindparam("b_rid")).values(**values), params)


def channel_counters(session: Session, campaign_id: int) -> dict[str, float]:
    """``<channel>_delivered`` and ``<channel>_cost`` for every channel, ``cost`` (the
    campaign's total), and the messages no channel delivered by final status
    (``undelivered``, ``expired``, ``rejected``): what status --json, the status table and
    the report show."""
    r = recipients_t.c
    columns = [
        func.coalesce(func.sum(case((r.final_status == status, 1), else_=0)), 0).label(label)
        for label, status in FAILED_STATUSES.items()
    ]
    for channel, column in PRICE_COLUMNS.items():
        columns.append(func.coalesce(func.sum(case(((r.channel == channel) & (r.final_status == "DELIVRD"), 1),
                                                   else_=0)), 0).label(f"{channel}_delivered"))
        columns.append(func.coalesce(func.sum(r[column]), 0.0).label(f"{channel}_cost"))
    row = session.execute(
        select(*columns).where(r.campaign_id == campaign_id, r.message_id.is_not(None))
    ).one()._asdict()
    out: dict[str, float] = {label: int(row[label]) for label in FAILED_STATUSES}
    total = 0.0
    for channel in CHANNELS:
        out[f"{channel}_delivered"] = int(row[f"{channel}_delivered"])
        cost = round(float(row[f"{channel}_cost"]), 4)
        out[f"{channel}_cost"] = int(cost) if cost.is_integer() else cost
        total += cost
    total = round(total, 4)
    out["cost"] = int(total) if total.is_integer() else total
    return out


def channels_view(counters: Mapping | None) -> dict[str, dict] | None:
    """The status dict's ``channels``: {channel: {"delivered", "cost"}} from the counters,
    None for a campaign without channels."""
    counters = counters or {}
    if not any(f"{channel}_delivered" in counters for channel in CHANNELS):
        return None
    return {
        channel: {"delivered": counters.get(f"{channel}_delivered", 0), "cost": counters.get(f"{channel}_cost", 0)}
        for channel in CHANNELS
    }


def channel_summary(counters: Mapping | None) -> list[tuple]:
    """The report's per-channel lines: a header, one line a channel, the total."""
    view = channels_view(counters)
    if view is None:
        return []
    lines: list[tuple] = [("channel", "delivered", "cost")]
    lines += [(channel, v["delivered"], v["cost"]) for channel, v in view.items()]
    lines.append(("total", sum(v["delivered"] for v in view.values()), (counters or {}).get("cost", 0)))
    return lines
