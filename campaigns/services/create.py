"""Create the campaign at the provider, once.

A Create whose response was lost may still have made a campaign at the provider, so a
second attempt first asks the provider for it (``find_campaign``) and adopts it: never
two campaigns at the provider for one of ours (PROVIDERS.md, "Behaviour that shapes the
design").
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from sqlalchemy import or_, select, update

from campaigns.domain import CampaignState
from campaigns.providers.errors import ProviderError
from campaigns.providers.port import CampaignSpec, Provider
from campaigns.services.moves import campaigns_t, move_campaign, step_free, utcnow, wait_for_retry
from campaigns.services.next import Next
from campaigns.services.steps import record_step_failure
from campaigns.settings import Settings
from campaigns.store.models import Campaign
from campaigns.store.uow import UnitOfWork

S = CampaignState
PLACEHOLDER_FLAGS = {"keep": 1, "strip": 2, "reject": 3}


def spec_of(campaign: Campaign) -> CampaignSpec:
    """What the provider needs to create ``campaign``."""
    return CampaignSpec(
        local_id=campaign.id,
        name=campaign.name,
        text=campaign.text,
        type=campaign.type,
        sender=campaign.sender,
        rate_limit=campaign.rate_limit,
        rate_period=campaign.rate_period,
        deferred_to=campaign.deferred_to,
        validity=campaign.validity,
        mclass=campaign.mclass,
        placeholders_flag=PLACEHOLDER_FLAGS.get(campaign.placeholders, 1),
        options=getattr(campaign, "provider_options", None),
    )


def create_at_provider(
    campaign_id: int,
    uow_factory: Callable[[], UnitOfWork],
    provider: Provider,
    settings: Settings,
    *,
    now: datetime | None = None,
) -> list[Next]:
    """Claim the campaign (queued, or creating and free) and create it at the provider.

    Returns [Next("add")] once created, [Next("create", countdown)] for a retry, [] when
    the claim failed (someone else holds it) or the campaign failed (the reason is in
    ``campaigns.error``). Raises only on database errors.
    """
    start = now or utcnow()
    c = campaigns_t.c
    with uow_factory() as uow:
        claimed = uow.session.execute(
            update(campaigns_t)
            .where(
                c.id == campaign_id,
                or_(c.state == S.QUEUED.value, c.state == S.CREATING.value),
                step_free(start, settings.stall_seconds),
            )
            .values(
                state=S.CREATING.value, claimed_at=start, retry_at=None, updated_at=start,
                create_attempts=c.create_attempts + 1,
                state_changed_at=start,
            )
            .returning(c.create_attempts, c.provider)
        ).first()
        if claimed is None:
            return wait_for_retry(uow.session, campaign_id, [S.QUEUED, S.CREATING], "create", start)
        token = claimed.create_attempts
        spec = spec_of(uow.session.get(Campaign, campaign_id))
        exclude: list[str] = []
        if token > 1:
            exclude = list(
                uow.session.scalars(
                    select(c.provider_campaign_id).where(
                        c.provider == claimed.provider, c.id != campaign_id, c.provider_campaign_id.is_not(None)
                    )
                )
            )
        uow.commit()

    # The provider is called outside any transaction: no lock is held while we wait.
    try:
        found = provider.find_campaign(spec, exclude=exclude) if token > 1 else None
        provider_id = found or provider.create_campaign(spec)
    except ProviderError as exc:
        with uow_factory() as uow:
            nexts = record_step_failure(
                uow.session, campaign_id, state=S.CREATING, token_column="create_attempts", token=token,
                action="create", doing="creating the campaign", error=exc, settings=settings,
                now=now or utcnow(),
            )
            uow.commit()
        return nexts

    done_at = now or utcnow()
    with uow_factory() as uow:
        moved = move_campaign(
            uow.session, campaign_id, [S.CREATING], S.ADDING, done_at,
            where=[c.create_attempts == token],
            provider_campaign_id=str(provider_id), claimed_at=None, retry_at=None, retries=0, error=None,
        )
        orphan = not moved and _keep_if_cancelled(uow.session, campaign_id, str(provider_id), done_at)
        uow.commit()
    if moved:
        return [Next("add", campaign_id)]
    if orphan:
        _delete_quietly(provider, str(provider_id))
    return []


def _keep_if_cancelled(session, campaign_id: int, provider_id: str, now: datetime) -> bool:
    """The campaign was cancelled while the Create was in flight: note the provider's id
    on it (so the user can see it) and say that it should be deleted there."""
    c = campaigns_t.c
    result = session.execute(
        update(campaigns_t)
        .where(c.id == campaign_id, c.state == S.CANCELLED.value, c.provider_campaign_id.is_(None))
        .values(provider_campaign_id=provider_id, updated_at=now)
    )
    return result.rowcount == 1


def _delete_quietly(provider: Provider, provider_id: str) -> None:
    # Best effort: a campaign never launched costs nothing at the provider.
    try:
        provider.cancel(provider_id)
    except ProviderError:
        pass
