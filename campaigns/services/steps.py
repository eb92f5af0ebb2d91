"""What a campaign step (create, launch) does when the provider call failed.

Rate limited: wait what the provider asked, never counted as a failure (code 30). Other
temporary failures: exponential backoff with jitter, at most ``max_transport_retries`` in
a row, then the campaign fails with the reason. Permanent: the campaign fails at once
with a reason a person understands.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaigns.domain import CampaignState
from campaigns.providers.errors import ProviderError, RateLimited, TemporaryError
from campaigns.services.backoff import backoff_seconds, bounded
from campaigns.services.moves import campaigns_t, move_campaign, seconds
from campaigns.services.next import Next
from campaigns.services.reasons import gave_up, reason
from campaigns.settings import Settings


def record_step_failure(
    session: Session,
    campaign_id: int,
    *,
    state: str,
    token_column: str,
    token,
    action: str,
    doing: str,
    error: ProviderError,
    settings: Settings,
    now: datetime,
) -> list[Next]:
    """Record ``error`` for the step held by claim ``token`` (the value of
    ``token_column`` this caller set) and return the retry, if any. Does nothing when the
    claim was lost meanwhile (the scanner gave the step to another worker)."""
    c = campaigns_t.c
    mine = (c.id == campaign_id, c.state == state, c[token_column] == token)
    row = session.execute(select(c.retries).where(*mine)).first()
    if row is None:
        return []
    if isinstance(error, RateLimited):
        wait = bounded(error.retry_after)
        session.execute(
            update(campaigns_t).where(*mine).values(claimed_at=None, retry_at=now + seconds(wait), updated_at=now)
        )
        return [Next(action, campaign_id, countdown=wait)]
    if isinstance(error, TemporaryError):
        failures = row.retries + 1
        if failures > settings.max_transport_retries:
            move_campaign(
                session, campaign_id, [state], CampaignState.FAILED, now, where=mine[2:],
                claimed_at=None, retry_at=None, retries=failures, error=gave_up(doing, failures, error),
            )
            return []
        wait = backoff_seconds(failures, settings)
        session.execute(
            update(campaigns_t)
            .where(*mine)
            .values(
                claimed_at=None, retry_at=now + seconds(wait), retries=failures, updated_at=now,
                error=f"retrying (attempt {failures + 1}): {reason(doing, error)}",
            )
        )
        return [Next(action, campaign_id, countdown=wait)]
    move_campaign(
        session, campaign_id, [state], CampaignState.FAILED, now, where=mine[2:],
        claimed_at=None, retry_at=None, error=reason(doing, error),
    )
    return []
