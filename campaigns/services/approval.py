"""Approve a scheduled run that waits for a person (``--require-approval``): it moves from
``awaiting_approval`` to ``queued`` and its first step runs. Dropping one is
``cancel_campaign``; a run not approved in time is cancelled by the schedules' job."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from sqlalchemy import select

from campaigns.domain import CampaignState
from campaigns.services.errors import CampaignNotFound
from campaigns.services.moves import campaigns_t, move_campaign, utcnow
from campaigns.services.next import Next
from campaigns.store.uow import UnitOfWork

S = CampaignState


class CannotApprove(RuntimeError):
    """Only a campaign awaiting approval can be approved; the message says why this one cannot."""


def approve_campaign(campaign_id: int, uow_factory: Callable[[], UnitOfWork], *,
                     now: datetime | None = None) -> list[Next]:
    """Start a campaign awaiting approval; returns [Next("create")]. Raises
    CampaignNotFound, or CannotApprove when it is in another state (already approved,
    cancelled — also by its approval timeout —, or not a run waiting for approval)."""
    c = campaigns_t.c
    with uow_factory() as uow:
        state = uow.session.scalar(select(c.state).where(c.id == campaign_id))
        if state is None:
            raise CampaignNotFound(campaign_id)
        if state != S.AWAITING_APPROVAL.value or not move_campaign(
            uow.session, campaign_id, [S.AWAITING_APPROVAL], S.QUEUED, now or utcnow(), error=None
        ):
            error = uow.session.scalar(select(c.error).where(c.id == campaign_id))
            why = f" ({error})" if state == S.CANCELLED.value and error else ""
            raise CannotApprove(f"campaign {campaign_id} is {state}{why}; only a campaign awaiting approval "
                                "can be approved")
        uow.commit()
    return [Next("create", campaign_id)]
