"""Launch a campaign once every chunk is settled, and only once.

Send is not idempotent (PROVIDERS.md: "resending after a lost response can send twice"),
so every attempt after the first reads the campaign's status and sends again only while
the provider still says NEW.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from sqlalchemy import exists, update

from campaigns.domain import PROVIDER_NOT_STARTED, CampaignState, ChunkState
from campaigns.providers.errors import ProviderError, TemporaryError
from campaigns.providers.port import Provider
from campaigns.services.moves import campaigns_t, move_campaign, step_free, utcnow, wait_for_retry
from campaigns.services.next import Next
from campaigns.services.steps import record_step_failure
from campaigns.settings import Settings
from campaigns.store.models import Chunk
from campaigns.store.uow import UnitOfWork

S, C = CampaignState, ChunkState
chunks_t = Chunk.__table__


def launch_campaign(
    campaign_id: int,
    uow_factory: Callable[[], UnitOfWork],
    provider: Provider,
    settings: Settings,
    *,
    now: datetime | None = None,
) -> list[Next]:
    """Claim adding -> launching (every chunk settled, at least one recipient added) or a
    free ``launching`` step, and start the campaign at the provider.

    Success: running with ``next_poll_at`` now (the periodic poll follows it) and [].
    Returns [Next("launch", countdown)] for a retry; [] when the claim failed or the
    campaign failed (reason in ``campaigns.error``). Raises only on database errors.
    """
    start = now or utcnow()
    c, ch = campaigns_t.c, chunks_t.c
    settled = ~exists().where(ch.campaign_id == campaign_id, ch.state.in_([C.PENDING.value, C.ADDING.value]))
    some_added = exists().where(ch.campaign_id == campaign_id, ch.added > 0)
    with uow_factory() as uow:
        claimed = uow.session.execute(
            update(campaigns_t)
            .where(
                c.id == campaign_id,
                ((c.state == S.ADDING.value) & settled & some_added) | (c.state == S.LAUNCHING.value),
                step_free(start, settings.stall_seconds),
            )
            .values(
                state=S.LAUNCHING.value, launch_attempts=c.launch_attempts + 1, claimed_at=start, retry_at=None,
                state_changed_at=start, updated_at=start,
            )
            .returning(c.launch_attempts, c.provider_campaign_id)
        ).first()
        if claimed is None:
            return wait_for_retry(uow.session, campaign_id, [S.LAUNCHING], "launch", start)
        uow.commit()
    token, provider_id = claimed.launch_attempts, str(claimed.provider_campaign_id)

    try:
        status = _send_once(provider, provider_id, first_attempt=token == 1)
    except ProviderError as exc:
        with uow_factory() as uow:
            nexts = record_step_failure(
                uow.session, campaign_id, state=S.LAUNCHING, token_column="launch_attempts", token=token,
                action="launch", doing="launching the campaign", error=exc, settings=settings, now=now or utcnow(),
            )
            uow.commit()
        return nexts

    done_at = now or utcnow()
    with uow_factory() as uow:
        move_campaign(
            uow.session, campaign_id, [S.LAUNCHING], S.RUNNING, done_at, where=[c.launch_attempts == token],
            provider_status=status, next_poll_at=done_at, claimed_at=None, retry_at=None, retries=0, error=None,
        )
        uow.commit()
    return []


def _send_once(provider: Provider, provider_id: str, *, first_attempt: bool) -> str | None:
    """Send the campaign unless an earlier attempt already did; returns the provider status."""
    if not provider.server_side_campaigns:
        # Message-by-message providers sent each chunk as it was added: nothing to start.
        return None
    if not first_attempt:
        # An earlier Send may have reached the provider with its response lost: look first.
        status = provider.campaign_statuses([provider_id]).get(provider_id)
        if status is None:
            raise TemporaryError(f"the provider did not list campaign {provider_id} yet", maybe_done=False)
        if status.status not in PROVIDER_NOT_STARTED:
            return status.status
    return provider.launch(provider_id)
