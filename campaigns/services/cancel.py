"""Cancel a campaign: delete it at the provider while the provider still allows it
(Campaign module, Delete: "You can delete the campaign, which has not yet started, but if
the campaign was postponed, there should be not less than 5 minutes left till start"),
then stop the pipeline's work on it."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from sqlalchemy import select

from campaigns.domain import CAMPAIGN_MOVES, TERMINAL, CampaignState
from campaigns.providers.errors import PermanentError, ProviderError
from campaigns.providers.port import Provider
from campaigns.redact import redact
from campaigns.services.errors import CampaignNotFound, CannotCancel
from campaigns.services.moves import campaigns_t, move_campaign, utcnow
from campaigns.store.uow import UnitOfWork

S = CampaignState
SENDING = frozenset({"RUNNING", "SENT", "DONE"})  # started at the provider: Delete is refused
CANCELLABLE = [s.value for s, moves in CAMPAIGN_MOVES.items() if S.CANCELLED in moves]


def cancel_campaign(
    campaign_id: int,
    uow_factory: Callable[[], UnitOfWork],
    provider: Provider,
    *,
    now: datetime | None = None,
) -> None:
    """Cancel the campaign. Raises CampaignNotFound, or CannotCancel with the reason (it
    already ended, it is still being submitted, the provider has started sending it or
    refused the Delete, or could not be reached)."""
    c = campaigns_t.c
    with uow_factory() as uow:
        row = uow.session.execute(
            select(c.state, c.provider_campaign_id, c.provider_status).where(c.id == campaign_id)
        ).first()
    if row is None:
        raise CampaignNotFound(campaign_id)
    if row.state in {s.value for s in TERMINAL}:
        raise CannotCancel(f"campaign {campaign_id} is already {row.state}; there is nothing to cancel")
    if row.state == S.DRAFT.value:
        raise CannotCancel(f"campaign {campaign_id} is still being submitted; cancel it once it is queued")
    if row.provider_campaign_id:
        if row.provider_status in SENDING:
            raise CannotCancel(
                f"campaign {campaign_id} is already being sent by the provider (status {row.provider_status}); "
                "a campaign can be deleted only before it starts"
            )
        try:
            provider.cancel(row.provider_campaign_id)
        except PermanentError as exc:
            raise CannotCancel(
                redact(f"the provider refused to delete campaign {row.provider_campaign_id}: {exc}")
            ) from None
        except ProviderError as exc:
            raise CannotCancel(
                redact(f"the provider could not be reached to delete campaign {row.provider_campaign_id} ({exc}); "
                       "try again")
            ) from None

    # The campaign may have moved on meanwhile (a chunk finished, the launch was claimed):
    # cancel from whatever non-final state it is in now.
    with uow_factory() as uow:
        moved = move_campaign(
            uow.session, campaign_id, CANCELLABLE, S.CANCELLED, now or utcnow(),
            claimed_at=None, retry_at=None, next_poll_at=None, error="cancelled by the user",
        )
        state = uow.session.scalar(select(c.state).where(c.id == campaign_id))
        uow.commit()
    if not moved and state != S.CANCELLED.value:
        raise CannotCancel(f"campaign {campaign_id} reached {state} meanwhile; there is nothing to cancel")
