"""Cancel a campaign: it always ends here, and is deleted at the provider while the
provider still allows it (Campaign module, Delete: "You can delete the campaign, which has
not yet started, but if the campaign was postponed, there should be not less than 5 minutes
left till start"). What the provider answered is returned and kept in the campaign's error,
so the user learns whether messages may still go out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from sqlalchemy import select

from campaigns.domain import CAMPAIGN_MOVES, TERMINAL, CampaignState
from campaigns.providers.errors import PermanentError, ProviderError
from campaigns.providers.port import Provider
from campaigns.redact import redact
from campaigns.services.errors import CampaignNotFound, CannotCancel
from campaigns.services.moves import as_utc, campaigns_t, move_campaign, utcnow
from campaigns.store.uow import UnitOfWork

S = CampaignState
SENDING = frozenset({"RUNNING", "SENT", "DONE"})  # started at the provider: Delete is refused
CANCELLABLE = [s.value for s, moves in CAMPAIGN_MOVES.items() if S.CANCELLED in moves]
# Local states in which the provider was never asked to send the campaign.
NEVER_LAUNCHED = frozenset({S.QUEUED.value, S.CREATING.value, S.ADDING.value, S.PAUSED.value})


@dataclass(frozen=True)
class Cancelled:
    """The campaign is cancelled here; ``deleted`` says whether the provider deleted it,
    ``note`` what the provider answered (None when it was never asked: nothing was there)."""

    campaign_id: int
    deleted: bool
    note: str | None = None


def cancel_campaign(
    campaign_id: int,
    uow_factory: Callable[[], UnitOfWork],
    provider: Provider | None,
    *,
    now: datetime | None = None,
    unavailable: str = "the provider is not configured here",
    abandoned_after: float | None = None,
) -> Cancelled:
    """Cancel the campaign here, whatever the provider answers, after asking the provider to
    delete it; returns what happened there. ``provider`` None means it cannot be asked from
    here (``unavailable`` says why): the campaign still ends here. Raises CampaignNotFound, or CannotCancel when it
    already ended (done, failed, cancelled) or is still being read from its file (a draft
    younger than ``abandoned_after`` seconds; older, the process reading it stopped, and the
    draft is cancelled: nothing of it ever reached a provider)."""
    c = campaigns_t.c
    now = now or utcnow()
    with uow_factory() as uow:
        row = uow.session.execute(
            select(c.state, c.provider_campaign_id, c.provider_status, c.state_changed_at).where(c.id == campaign_id)
        ).first()
    if row is None:
        raise CampaignNotFound(campaign_id)
    if row.state in {s.value for s in TERMINAL}:
        raise CannotCancel(f"campaign {campaign_id} is already {row.state}; there is nothing to cancel")
    if row.state == S.DRAFT.value and not _abandoned(row.state_changed_at, abandoned_after, now):
        raise CannotCancel(f"campaign {campaign_id} is still being submitted; cancel it once it is queued")
    outcome = Cancelled(campaign_id, deleted=False)
    if row.provider_campaign_id:
        outcome = _delete_at_provider(campaign_id, row, provider, unavailable)

    # The campaign may have moved on meanwhile (a chunk finished, the launch was claimed):
    # cancel from whatever non-final state it is in now.
    error = "cancelled by the user" + (f"; {outcome.note}" if outcome.note else "")
    with uow_factory() as uow:
        moved = move_campaign(
            uow.session, campaign_id, CANCELLABLE, S.CANCELLED, now,
            claimed_at=None, retry_at=None, next_poll_at=None, error=error,
            provider_status=None,  # no longer followed: the last status seen would go stale
        )
        state = uow.session.scalar(select(c.state).where(c.id == campaign_id))
        uow.commit()
    if not moved and state != S.CANCELLED.value:
        raise CannotCancel(f"campaign {campaign_id} reached {state} meanwhile; there is nothing to cancel")
    return outcome


def _delete_at_provider(campaign_id: int, row, provider: Provider | None, unavailable: str) -> Cancelled:
    """Ask the provider to delete the campaign; never raises: the answer becomes the note."""
    pid = row.provider_campaign_id
    unlaunched = row.state in NEVER_LAUNCHED
    after = ("it was never launched, so nothing is sent" if unlaunched
             else "messages the provider has already started sending may still go out")
    if row.provider_status in SENDING:
        return Cancelled(campaign_id, False,
                         f"the provider is already sending campaign {pid} (status {row.provider_status}) and "
                         "cannot delete it: messages it has not sent yet may still go out")
    if provider is None:
        return Cancelled(campaign_id, False, redact(f"{unavailable}, so campaign {pid} was not deleted there; {after}"))
    try:
        provider.cancel(pid)
    except PermanentError as exc:
        if exc.code == 2:  # Mobizon: not found
            return Cancelled(campaign_id, False, f"the provider no longer knows campaign {pid}; nothing more is sent")
        return Cancelled(campaign_id, False, redact(f"the provider refused to delete campaign {pid}: {exc}; {after}"))
    except ProviderError as exc:
        return Cancelled(campaign_id, False,
                         redact(f"the provider could not be reached to delete campaign {pid} ({exc}); {after}"))
    return Cancelled(campaign_id, True, f"campaign {pid} deleted at the provider")


def _abandoned(since: datetime | None, after: float | None, now: datetime) -> bool:
    """True when a draft has not moved for ``after`` seconds (its submitting process stopped:
    reading a file of a million rows takes seconds)."""
    since = as_utc(since)
    return after is not None and since is not None and (now - since).total_seconds() >= after
