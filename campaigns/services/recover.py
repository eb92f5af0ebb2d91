"""The scanner: the database is the source of truth, so work that stopped moving (a worker
killed mid-chunk, a lost task, a broker restarted empty) is found there and issued again.
Duplicates are harmless: every service claims its work with a compare-and-set UPDATE.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from sqlalchemy import and_, func, or_, select

from campaigns.domain import CampaignState, ChunkState
from campaigns.services.moves import as_utc, campaigns_t, seconds, utcnow
from campaigns.services.next import Next
from campaigns.settings import Settings
from campaigns.store.models import Chunk
from campaigns.store.uow import UnitOfWork

S, C = CampaignState, ChunkState
chunks_t = Chunk.__table__


def scan_stalled(
    uow_factory: Callable[[], UnitOfWork], settings: Settings, *, now: datetime | None = None
) -> list[Next]:
    """The Next of every campaign whose work is stuck longer than ``stall_seconds``:

    - queued (not picked up within one poll interval, so freshly queued campaigns whose
      first task never ran start too) and creating -> create;
    - adding with a chunk in flight too long (it is reclaimed and resent), or with no chunk
      in flight and nothing moved for ``stall_seconds`` -> add (launch when every chunk is
      settled and some recipient was added);
    - launching -> launch;
    - running that the provider reported DONE without the final statuses read -> final_statuses.

    A step is stuck when its holder claimed it more than ``stall_seconds`` ago, or when
    nobody holds it and its retry (or hand-off) time is that far past. Reads only.
    """
    now = now or utcnow()
    stall = now - seconds(settings.stall_seconds)
    c = campaigns_t.c
    nobody_since = func.coalesce(c.retry_at, c.state_changed_at)
    lost = or_(and_(c.claimed_at.is_not(None), c.claimed_at <= stall), and_(c.claimed_at.is_(None), nobody_since <= stall))
    queued = and_(
        c.state == S.QUEUED.value, c.claimed_at.is_(None), nobody_since <= now - seconds(settings.poll_seconds)
    )
    with uow_factory() as uow:
        session = uow.session
        rows = session.execute(
            select(c.id, c.state)
            .where(
                or_(
                    queued,
                    and_(c.state.in_([S.CREATING.value, S.LAUNCHING.value]), lost),
                    and_(c.state == S.RUNNING.value, c.provider_status == "DONE", lost),
                )
            )
            .order_by(c.id)
        ).all()
        nexts = [Next(_ACTIONS[row.state], row.id) for row in rows]
        nexts += _stalled_adding(session, now, stall)
    return nexts


_ACTIONS = {
    S.QUEUED.value: "create",
    S.CREATING.value: "create",
    S.LAUNCHING.value: "launch",
    S.RUNNING.value: "final_statuses",
}


def _stalled_adding(session, now: datetime, stall: datetime) -> list[Next]:
    c, ch = campaigns_t.c, chunks_t.c
    adding = session.execute(select(c.id, c.state_changed_at).where(c.state == S.ADDING.value)).all()
    if not adding:
        return []
    groups = session.execute(
        select(
            ch.campaign_id,
            ch.state,
            func.min(ch.state_changed_at).label("oldest"),
            func.max(ch.state_changed_at).label("latest"),
            func.max(ch.retry_at).label("retry_at"),
            func.sum(ch.added).label("added"),
        )
        .join(campaigns_t, campaigns_t.c.id == ch.campaign_id)
        .where(c.state == S.ADDING.value)
        .group_by(ch.campaign_id, ch.state)
    ).all()
    by_campaign: dict[int, list] = {}
    for g in groups:
        by_campaign.setdefault(g.campaign_id, []).append(g)
    nexts = []
    for campaign_id, entered in adding:
        mine = by_campaign.get(campaign_id, [])
        in_flight = [g for g in mine if g.state == C.ADDING.value]
        if in_flight:
            # a chunk stuck in `adding`: its worker died; add_next_chunk reclaims and resends it
            if as_utc(in_flight[0].oldest) <= stall:
                nexts.append(Next("add", campaign_id))
            continue
        moments = [as_utc(entered)] + [as_utc(t) for g in mine for t in (g.latest, g.retry_at) if t is not None]
        if max(moments) <= stall:
            # Every chunk settled and some recipient added: the launch itself was lost.
            settled = not any(g.state == C.PENDING.value for g in mine)
            some_added = any(g.state == C.ADDED.value and g.added for g in mine)
            nexts.append(Next("launch" if settled and some_added else "add", campaign_id))
    return nexts
