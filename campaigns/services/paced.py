"""The pacing gate in front of ``chunks.add_next_chunk`` for campaigns sent message by
message (SMSC): before a chunk (one packet) is claimed, its slots are taken from the
campaign's pace, shared by every worker. No free slot: the task comes back after the
countdown (STYLE.md, Pacing: it never sleeps holding a worker).

A paced campaign runs in ``lanes``: up to that many of its chunks under way at once, each
lane one chain of add tasks. The lanes are opened once (``pacer.first``, shared by every
worker) by the first add after the campaign (re)enters ``adding``; a lane ends when it
finds nothing left to claim or its campaign's lanes are all busy.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from campaigns.domain import CampaignState, ChunkState
from campaigns.services.moves import as_utc, campaigns_t, seconds
from campaigns.store.models import Chunk

S, C = CampaignState, ChunkState
chunks_t = Chunk.__table__


def pace_gate(session: Session, campaign_id: int, pacer, now: datetime, stall_seconds: float) -> tuple[float, int]:
    """(countdown, extra lanes to open). The countdown is 0 when this task may claim a
    chunk now (its packet's slots are taken) or when there is nothing to claim (the
    caller finds out why); else the seconds until the campaign's next free slot."""
    c, ch = campaigns_t.c, chunks_t.c
    campaign = session.execute(
        select(c.state, c.rate_limit, c.rate_period, c.provider_campaign_id, c.state_changed_at).where(c.id == campaign_id)
    ).first()
    if campaign is None or campaign.state != S.ADDING.value:
        return 0.0, 0
    due = or_(ch.retry_at.is_(None), ch.retry_at <= now)
    claimable = session.scalar(
        select(
            exists().where(
                ch.campaign_id == campaign_id,
                or_(
                    (ch.state == C.PENDING.value) & due,
                    (ch.state == C.ADDING.value) & (ch.state_changed_at <= now - seconds(stall_seconds)),
                ),
            )
        )
    )
    if not claimable:
        return 0.0, 0
    # Nothing has moved since the campaign entered `adding` (first start, or a resume):
    # this task opens the other lanes.
    moved = session.scalar(
        select(
            exists().where(
                ch.campaign_id == campaign_id,
                ch.state_changed_at >= campaign.state_changed_at,
            )
        )
    )
    key = str(campaign.provider_campaign_id or campaign_id)
    wait = pacer.acquire(key, campaign.rate_limit, campaign.rate_period)
    opens = not moved and pacer.first(f"{key}:{as_utc(campaign.state_changed_at).timestamp()}")
    return wait, (max(0, pacer.lanes - 1) if opens else 0)
