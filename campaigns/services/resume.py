"""Resume a campaign that has not finished: a paused one from the chunk where it stopped,
an interrupted one (its process ended: Ctrl-C, a crash) from the step it was at."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from sqlalchemy import select, update

from campaigns.domain import TERMINAL, CampaignState, ChunkState
from campaigns.services.errors import CampaignNotFound, CannotResume
from campaigns.services.moves import campaigns_t, move_campaign, utcnow
from campaigns.services.next import Next
from campaigns.store.models import Chunk
from campaigns.store.uow import UnitOfWork

S = CampaignState
chunks_t = Chunk.__table__
# The step that moves a campaign on from each state it can be interrupted in.
STEPS = {
    S.QUEUED.value: "create",
    S.CREATING.value: "create",
    S.ADDING.value: "add",
    S.LAUNCHING.value: "launch",
}


def resume_campaign(
    campaign_id: int, uow_factory: Callable[[], UnitOfWork], *, now: datetime | None = None
) -> list[Next]:
    """Continue a campaign that is not finished; returns the steps to run now.

    - paused -> adding, with the retry counts of its pending chunks reset: [Next("add")].
      The pause threshold then judges only the chunks added after the resume.
    - queued, creating, adding, launching (interrupted): its waiting retries are due now
      and its step is returned. A step another process holds is left to it (it is taken
      over once that claim is ``stall_seconds`` old, as the scanner does).
    - running: followed at once ([Next("final_statuses")] when the provider already
      said DONE, else its next poll is due now and the periodic tick polls it: []).

    Raises CampaignNotFound, or CannotResume when it ended (done, failed, cancelled), is
    still being read from its file (draft) or awaits approval (a scheduled run)."""
    now = now or utcnow()
    c = campaigns_t.c
    with uow_factory() as uow:
        row = uow.session.execute(select(c.state, c.provider_status).where(c.id == campaign_id)).first()
        if row is None:
            raise CampaignNotFound(campaign_id)
        state = row.state
        if state in {s.value for s in TERMINAL}:
            raise CannotResume(f"campaign {campaign_id} is {state}; only a campaign that has not finished can be resumed")
        if state == S.AWAITING_APPROVAL.value:
            raise CannotResume(f"campaign {campaign_id} is awaiting approval: start it with `campaigns approve "
                               f"{campaign_id}` or drop it with `campaigns cancel {campaign_id}`")
        if state == S.DRAFT.value:
            raise CannotResume(f"campaign {campaign_id} is still being read from its file; if that was "
                               f"interrupted, `campaigns cancel {campaign_id}` drops it (once CAMPAIGNS_STALL_SECONDS "
                               "have passed) and the file can be submitted again")
        pending = (chunks_t.c.campaign_id == campaign_id, chunks_t.c.state == ChunkState.PENDING.value)
        if state == S.PAUSED.value:
            if not move_campaign(uow.session, campaign_id, [S.PAUSED], S.ADDING, now, error=None, claimed_at=None):
                raise CannotResume(f"campaign {campaign_id} moved on meanwhile; try again")
            uow.session.execute(update(chunks_t).where(*pending).values(retries=0, retry_at=None))
            uow.commit()
            return [Next("add", campaign_id)]
        # Interrupted: whatever waited for a retry (or for the scanner) is due now.
        uow.session.execute(update(campaigns_t).where(c.id == campaign_id, c.state == state)
                            .values(retry_at=None, updated_at=now))
        if state == S.ADDING.value:
            uow.session.execute(update(chunks_t).where(*pending).values(retry_at=None))
        if state == S.RUNNING.value:
            uow.session.execute(update(campaigns_t).where(c.id == campaign_id, c.state == state)
                                .values(next_poll_at=now))
        uow.commit()
    if state == S.RUNNING.value:
        return [Next("final_statuses", campaign_id)] if row.provider_status == "DONE" else []
    return [Next(STEPS[state], campaign_id)]


def unfinished_campaigns(uow_factory: Callable[[], UnitOfWork]) -> list[int]:
    """The ids of the campaigns on their way (queued to running: neither finished, paused
    nor still being read from their file), oldest first."""
    c = campaigns_t.c
    with uow_factory() as uow:
        return list(uow.session.scalars(
            select(c.id).where(c.state.in_([*STEPS, S.RUNNING.value])).order_by(c.id)
        ))
