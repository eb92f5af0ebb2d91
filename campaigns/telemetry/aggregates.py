"""States and counts read from the database at scrape time: a prometheus_client collector.

Also what the other features store (callback events, watched-bucket drops, schedule
fires): counted from their tables, so they are right whichever process received or did
them, and exposed as counters (they only grow).

Every figure is an aggregate the pipeline already stores (campaign rows and their
counters, chunk rows): nothing scans recipients, so a scrape costs the same with a
million recipients as with ten. The recipients' outcomes are the sums over every
campaign of what ``campaigns status --json`` shows for each.
"""

from __future__ import annotations

from typing import Callable, Iterator

from sqlalchemy import func, select

from campaigns.domain import CampaignState, ChunkState
from campaigns.services.moves import as_utc, utcnow
from campaigns.store.models import Campaign, Chunk
from campaigns.store.uow import UnitOfWork

# status --json's recipients.* keys, and the provider counters (Campaign counters, seed 002)
RECIPIENT_COLUMNS = ("rows", "valid", "invalid", "duplicates")
COUNTER_OUTCOMES = {
    "messages": "totalMsgNum",
    "delivered": "totalDelivrdMsgNum",
    "undelivered": "totalUndelivMsgNum",
    "expired": "totalExpiredMsgNum",
    "rejected_by_operator": "totalRejectdMsgNum",
}
WAITING_STATES = (CampaignState.QUEUED.value, CampaignState.CREATING.value, CampaignState.ADDING.value)


def _number(value) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def read_aggregates(uow_factory: Callable[[], UnitOfWork]) -> dict:
    """``{"campaigns": {state: n}, "chunks": {state: n}, "recipients": {outcome: n},
    "oldest_waiting_chunk_seconds": s}`` from stored aggregates."""
    c, ch = Campaign.__table__.c, Chunk.__table__.c
    with uow_factory() as uow:
        s = uow.session
        by_state = dict(s.execute(select(c.state, func.count()).group_by(c.state)).all())
        sums = s.execute(select(*(func.coalesce(func.sum(getattr(c, col)), 0) for col in RECIPIENT_COLUMNS))).one()
        chunk_rows = s.execute(
            select(ch.state, func.count(), func.coalesce(func.sum(ch.added), 0), func.coalesce(func.sum(ch.rejected), 0))
            .group_by(ch.state)
        ).all()
        counters = s.execute(select(c.counters).where(c.counters.is_not(None))).scalars().all()
        oldest = s.scalar(
            select(func.min(ch.state_changed_at))
            .select_from(Chunk.__table__.join(Campaign.__table__, c.id == ch.campaign_id))
            .where(ch.state == ChunkState.PENDING.value, c.state.in_(WAITING_STATES))
        )
        features = _feature_figures(s)
    recipients = {col: int(v) for col, v in zip(RECIPIENT_COLUMNS, sums)}
    recipients["added"] = int(sum(row[2] for row in chunk_rows))
    recipients["rejected_by_provider"] = int(sum(row[3] for row in chunk_rows))
    for outcome, key in COUNTER_OUTCOMES.items():
        recipients[outcome] = int(sum(_number((cs or {}).get(key)) for cs in counters))
    oldest_at = as_utc(oldest)
    return {
        **features,
        "campaigns": {state.value: int(by_state.get(state.value, 0)) for state in CampaignState},
        "chunks": {state.value: int(next((row[1] for row in chunk_rows if row[0] == state.value), 0))
                   for state in ChunkState},
        "recipients": recipients,
        "oldest_waiting_chunk_seconds": max((utcnow() - oldest_at).total_seconds(), 0.0) if oldest_at else 0.0,
    }


def _feature_figures(session) -> dict:
    """What the other features store, counted: callback events by kind and result (the
    applier's outcome, ``pending`` before it), watched-bucket drops by state, schedule
    fires by outcome (a misfire row counts the fire times it stands for)."""
    from campaigns.store.callbacks import CallbackEvent
    from campaigns.store.drops import Drop
    from campaigns.store.schedules import ScheduleFire

    e, d, f = CallbackEvent.__table__.c, Drop.__table__.c, ScheduleFire.__table__.c
    result = func.coalesce(e.outcome, "pending")
    events = session.execute(select(e.kind, result, func.count()).group_by(e.kind, result)).all()
    drops = session.execute(select(d.state, func.count()).group_by(d.state)).all()
    fires = session.execute(select(f.outcome, func.coalesce(func.sum(f.covers), 0)).group_by(f.outcome)).all()
    from campaigns.store.drops import STATES as DROP_STATES

    return {
        "callback_events": {(kind, outcome): int(n) for kind, outcome, n in events},
        "bucket_drops": {**{state: 0 for state in DROP_STATES}, **{state: int(n) for state, n in drops}},
        "schedule_fires": {"fired": 0, "skipped": 0, **{outcome: int(n) for outcome, n in fires}},
    }


class AggregatesCollector:
    """A prometheus_client collector of ``read_aggregates`` (one short read a scrape)."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork]):
        self.uow_factory = uow_factory

    def describe(self) -> list:
        return []  # collected at scrape time only: registering must not read the database

    def collect(self) -> Iterator:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        figures = read_aggregates(self.uow_factory)
        campaigns = GaugeMetricFamily("campaigns_campaigns", "Campaigns by state", labels=["state"])
        for state, n in figures["campaigns"].items():
            campaigns.add_metric([state], n)
        yield campaigns
        chunks = GaugeMetricFamily("campaigns_chunks", "Chunks by state (added: uploaded to the provider)",
                                   labels=["state"])
        for state, n in figures["chunks"].items():
            chunks.add_metric([state], n)
        yield chunks
        recipients = GaugeMetricFamily(
            "campaigns_recipients",
            "Recipients over every campaign by outcome: rows, valid, invalid, duplicates, added and "
            "rejected_by_provider (ours), messages, delivered, undelivered, expired, rejected_by_operator "
            "(the provider's counters)", labels=["outcome"])
        for outcome, n in figures["recipients"].items():
            recipients.add_metric([outcome], n)
        yield recipients
        events = CounterMetricFamily("campaigns_callback_events", "Provider callback events stored, by kind "
                                     "(status, inbound, call) and result (applied, unmatched, not final, ignored, "
                                     "pending)", labels=["kind", "result"])
        for (kind, result), n in sorted(figures["callback_events"].items()):
            events.add_metric([kind, result], n)
        yield events
        drops = CounterMetricFamily("campaigns_bucket_drops", "Files dropped in the watched bucket, by result "
                                    "(their state: claimed, created, processed, done, refused, rejected, gone)",
                                    labels=["result"])
        for state, n in sorted(figures["bucket_drops"].items()):
            drops.add_metric([state], n)
        yield drops
        fires = CounterMetricFamily("campaigns_schedule_fires", "Schedule fire times, by result (fired, skipped)",
                                    labels=["result"])
        for outcome, n in sorted(figures["schedule_fires"].items()):
            fires.add_metric([outcome], n)
        yield fires
        yield GaugeMetricFamily("campaigns_oldest_waiting_chunk_age_seconds",
                                "Age of the oldest chunk waiting to be added (0: none waits)",
                                value=figures["oldest_waiting_chunk_seconds"])
