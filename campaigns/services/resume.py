"""Resume a paused campaign: its remaining chunks are added again from where they stopped."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from sqlalchemy import select, update

from campaigns.domain import CampaignState, ChunkState
from campaigns.services.errors import CampaignNotFound, CannotResume
from campaigns.services.moves import campaigns_t, move_campaign, utcnow
from campaigns.services.next import Next
from campaigns.store.models import Chunk
from campaigns.store.uow import UnitOfWork

S = CampaignState
chunks_t = Chunk.__table__


def resume_campaign(
    campaign_id: int, uow_factory: Callable[[], UnitOfWork], *, now: datetime | None = None
) -> list[Next]:
    """paused -> adding, with the retry counts of its pending chunks reset; returns
    [Next("add")]. The pause threshold then judges only the chunks added after the resume.
    Raises CampaignNotFound, or CannotResume when the campaign is not paused."""
    now = now or utcnow()
    with uow_factory() as uow:
        state = uow.session.scalar(select(campaigns_t.c.state).where(campaigns_t.c.id == campaign_id))
        if state is None:
            raise CampaignNotFound(campaign_id)
        if not move_campaign(uow.session, campaign_id, [S.PAUSED], S.ADDING, now, error=None, claimed_at=None):
            raise CannotResume(f"campaign {campaign_id} is {state}; only a paused campaign can be resumed")
        uow.session.execute(
            update(chunks_t)
            .where(chunks_t.c.campaign_id == campaign_id, chunks_t.c.state == ChunkState.PENDING.value)
            .values(retries=0, retry_at=None)
        )
        uow.commit()
    return [Next("add", campaign_id)]
