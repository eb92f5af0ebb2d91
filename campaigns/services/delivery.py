"""Follow a campaign sent message by message (SMSC) until every message is final.

Such a provider has no campaign whose status says DONE: each message is asked about
through its status call (SMSC status.php, by request id and phone) until it reaches a
final status, and the campaign is ``done`` when none of its sent messages is left
waiting. Called by ``follow.poll_campaigns`` for every due campaign of such a provider,
once ``next_poll_at`` has been claimed there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from sqlalchemy import bindparam, case, func, insert, select, update

from campaigns.domain import FINAL_MESSAGE_STATUSES, CampaignState
from campaigns.providers.errors import PermanentError, ProviderError, RateLimited
from campaigns.services.moves import campaigns_t, move_campaign, seconds, utcnow
from campaigns.services.channels import channel_counters, has_channels, record_channels
from campaigns.services.next import Next
from campaigns.services.reasons import reason
from campaigns.settings import Settings
from campaigns.store.models import CounterSample, Recipient
from campaigns.store.uow import UnitOfWork

S = CampaignState
PER_POLL = 2000  # messages asked about per poll of one campaign, oldest first
BATCH = 100  # messages per status call (SMSC status.php takes lists of ids and phones)
recipients_t = Recipient.__table__
samples_t = CounterSample.__table__


def follow_messages(
    campaign_id: int,
    uow_factory: Callable[[], UnitOfWork],
    provider,
    settings: Settings,
    *,
    now: datetime | None = None,
) -> list[Next]:
    """Ask ``provider.message_states`` about the campaign's sent messages that are not
    final yet (at most PER_POLL, oldest first), store the final ones, update the counters
    (sent, final, delivered, failed, waiting), and move the campaign to done when none is
    left waiting. A provider failure is shown on the campaign and asked again at the next
    poll. Returns [] (nothing follows a done campaign). Raises only on database errors.
    """
    r = recipients_t.c
    with uow_factory() as uow:
        waiting = uow.session.execute(
            select(r.id, r.message_id)
            .where(r.campaign_id == campaign_id, r.message_id.is_not(None), r.final_status.is_(None))
            .order_by(r.id)
            .limit(PER_POLL)
        ).all()
    error = None
    final = []
    detailed = []  # (recipient id, status) of final messages with channels (the cascade gateway)
    # a batch at a time, keeping what was learnt before a failure
    for start_at in range(0, len(waiting), BATCH):
        batch = waiting[start_at : start_at + BATCH]
        try:
            states = provider.message_states([row.message_id for row in batch])
        except ProviderError as exc:
            if not isinstance(exc, RateLimited):
                error = reason("reading the message statuses", exc)
                if not isinstance(exc, PermanentError):
                    error = "retrying at the next poll: " + error
            break
        final += [
            {"b_id": row.id, "b_status": state.status}
            for row, state in zip(batch, states)
            if state.final and state.status in FINAL_MESSAGE_STATUSES
        ]
        detailed += [
            (row.id, state) for row, state in zip(batch, states)
            if state.final and state.status in FINAL_MESSAGE_STATUSES and (state.detail or state.prices or state.channel)
        ]
    if final:
        with uow_factory() as uow:
            uow.session.execute(
                # a callback may have stored it meanwhile: statuses never move (issue 11)
                update(recipients_t)
                .where(r.id == bindparam("b_id"), r.final_status.is_(None))
                .values(final_status=bindparam("b_status"), final_at=utcnow()),
                final,
            )
            record_channels(uow.session, detailed)
            uow.commit()
    with uow_factory() as uow:
        nexts = _record(uow.session, campaign_id, error, now or utcnow(), settings)
        uow.commit()
    return nexts


def _counters(session, campaign_id: int) -> dict[str, int]:
    r = recipients_t.c
    row = session.execute(
        select(
            func.count().label("sent"),
            func.count(r.final_status).label("final"),
            func.coalesce(func.sum(case((r.final_status == "DELIVRD", 1), else_=0)), 0).label("delivered"),
        ).where(r.campaign_id == campaign_id, r.message_id.is_not(None))
    ).one()
    sent, final, delivered = int(row.sent), int(row.final), int(row.delivered)
    return {"sent": sent, "final": final, "delivered": delivered, "failed": final - delivered, "waiting": sent - final}


def _record(session, campaign_id: int, error: str | None, now: datetime, settings: Settings) -> list[Next]:
    c = campaigns_t.c
    current = session.execute(
        select(c.provider_status, c.counters, c.provider_options).where(c.id == campaign_id)
    ).first()
    if current is None:
        return []
    counters = _counters(session, campaign_id)
    if has_channels(current.provider_options):
        counters.update(channel_counters(session, campaign_id))
    status = "DONE" if counters["waiting"] == 0 else "SENT"
    if status != current.provider_status or counters != (current.counters or {}):
        session.execute(insert(samples_t).values(campaign_id=campaign_id, taken_at=now, status=status, counters=counters))
    if status == "DONE":
        move_campaign(
            session, campaign_id, [S.RUNNING], S.DONE, now, provider_status=status, counters=counters,
            next_poll_at=None, claimed_at=None, retry_at=None, error=None,
        )
        return []
    session.execute(
        update(campaigns_t)
        .where(c.id == campaign_id, c.state == S.RUNNING.value)
        .values(
            provider_status=status, counters=counters, error=error, updated_at=now,
            next_poll_at=now + seconds(settings.poll_seconds),
        )
    )
    return []
