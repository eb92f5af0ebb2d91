"""Follow running campaigns until the provider reports DONE, then read who got what.

Campaign/List searches only the first 10 ``criteria[ids]`` (Campaign module, List), so
campaigns are polled in batches of at most 10 per provider. Counters arrive with a delay
and stop changing at DONE (Campaign module, statuses); each change is kept as a
``CounterSample`` so the campaign's progress can be drawn over time.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Callable, Iterable, Sequence

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from campaigns.domain import CampaignState, poll_interval
from campaigns.providers.errors import PermanentError, ProviderError, RateLimited, TemporaryError
from campaigns.providers.port import CampaignStatus, MessageStatus, Provider
from campaigns.services.backoff import backoff_seconds, bounded
from campaigns.services.delivery import follow_messages
from campaigns.services.moves import campaigns_t, move_campaign, seconds, step_free, utcnow, wait_for_retry
from campaigns.services.next import Next
from campaigns.services.outcomes import record_final_statuses
from campaigns.redact import redact
from campaigns.services.reasons import reason
from campaigns.settings import Settings
from campaigns.store.models import CounterSample, Recipient
from campaigns.store.uow import UnitOfWork
from campaigns.store.keys import valid_of_campaign

S = CampaignState
CAMPAIGN_LIST_IDS = 10  # Campaign/List: "maximum IDs number makes 10"
STATUS_BATCH = 500  # message statuses written per transaction
samples_t = CounterSample.__table__
recipients_t = Recipient.__table__


def poll_campaigns(
    uow_factory: Callable[[], UnitOfWork],
    providers: Callable[[str], Provider],
    settings: Settings,
    *,
    now: datetime | None = None,
) -> list[Next]:
    """Poll every running campaign whose ``next_poll_at`` has come, ≤ 10 ids per call.

    Stores the provider status and counters (a CounterSample when they changed) and the
    next poll time (RUNNING every ``poll_seconds``, SENT 3×, the others 6×). DONE returns
    [Next("final_statuses")]; DECLINED fails the campaign. A provider that fails is asked
    again at the next poll; its error is shown on the campaign meanwhile. Raises only on
    database errors.
    """
    start = now or utcnow()
    c = campaigns_t.c
    with uow_factory() as uow:
        # Claim the due campaigns in one statement: a second tick running at the same time
        # finds next_poll_at moved and polls none of them twice.
        due = uow.session.execute(
            update(campaigns_t)
            .where(c.state == S.RUNNING.value, c.next_poll_at <= start, c.provider_campaign_id.is_not(None))
            .values(next_poll_at=start + seconds(settings.poll_seconds))
            .returning(c.id, c.provider, c.provider_campaign_id, c.provider_status, c.counters)
        ).all()
        uow.commit()

    by_provider: dict[str, list] = defaultdict(list)
    for row in sorted(due, key=lambda r: r.id):
        by_provider[row.provider].append(row)
    nexts: list[Next] = []
    for name, rows in by_provider.items():
        try:
            provider = providers(name)
        except ValueError as exc:
            _note_error(uow_factory, [r.id for r in rows], redact(f"cannot follow the campaign: {exc}"), start)
            continue
        if not provider.server_side_campaigns:
            # no campaign at the provider (SMSC): follow each message to its final status
            for row in rows:
                nexts += follow_messages(row.id, uow_factory, provider, settings, now=now)
            continue
        for batch in _batches(rows, CAMPAIGN_LIST_IDS):
            try:
                statuses = provider.campaign_statuses([r.provider_campaign_id for r in batch])
            except RateLimited:
                break  # code 30: leave this provider alone until the next tick
            except TemporaryError:
                continue  # asked again at the next poll
            except PermanentError as exc:
                _note_error(uow_factory, [r.id for r in batch], reason("reading the campaign's status", exc), start)
                continue
            with uow_factory() as uow:
                for row in batch:
                    status = statuses.get(row.provider_campaign_id)
                    if status is not None:
                        nexts += _record_status(uow.session, row, status, now or utcnow(), settings)
                uow.commit()
    return nexts


def _batches(rows: Sequence, size: int) -> Iterable[Sequence]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def _numbers(counters: dict) -> dict:
    """Counters as JSON numbers: whole values as integers, the rest (costs) as floats."""
    out = {}
    for key, value in (counters or {}).items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        out[key] = int(number) if number.is_integer() else number
    return out


def _record_status(session: Session, row, status: CampaignStatus, now: datetime, settings: Settings) -> list[Next]:
    c = campaigns_t.c
    counters = _numbers(status.counters)
    if status.status != row.provider_status or counters != (row.counters or {}):
        session.execute(
            insert(samples_t).values(campaign_id=row.id, taken_at=now, status=status.status, counters=counters)
        )
    if status.status == "DECLINED":
        move_campaign(
            session, row.id, [S.RUNNING], S.FAILED, now, provider_status=status.status, counters=counters,
            next_poll_at=None, error="declined by the provider's moderator (the text or the sender was not accepted)",
        )
        return []
    done = status.status == "DONE"
    result = session.execute(
        update(campaigns_t)
        .where(c.id == row.id, c.state == S.RUNNING.value)
        .values(
            provider_status=status.status,
            counters=counters,
            error=None,
            updated_at=now,
            # DONE: no more polls; retry_at marks the hand-off so the scanner can see a lost one
            next_poll_at=None if done else now + seconds(poll_interval(status.status, settings.poll_seconds)),
            retry_at=now if done else None,
        )
    )
    return [Next("final_statuses", row.id)] if done and result.rowcount else []


def _note_error(uow_factory, campaign_ids: list[int], text: str, now: datetime) -> None:
    c = campaigns_t.c
    with uow_factory() as uow:
        uow.session.execute(
            update(campaigns_t)
            .where(c.id.in_(campaign_ids), c.state == S.RUNNING.value)
            .values(error=text, updated_at=now)
        )
        uow.commit()


def fetch_final_statuses(
    campaign_id: int,
    uow_factory: Callable[[], UnitOfWork],
    provider: Provider,
    settings: Settings,
    *,
    now: datetime | None = None,
) -> list[Next]:
    """Read every message of a campaign the provider reports DONE (Message/List, paged by
    the provider), store each recipient's final status, then move the campaign to done.

    A temporary failure is retried with backoff; when the statuses cannot be read at all
    (a permanent error, or too many temporary ones) the campaign is still done (it was
    sent) and the reason says the final statuses are missing. Raises only on database
    errors.
    """
    start = now or utcnow()
    c = campaigns_t.c
    with uow_factory() as uow:
        claimed = uow.session.execute(
            update(campaigns_t)
            .where(
                c.id == campaign_id, c.state == S.RUNNING.value, c.provider_status == "DONE",
                step_free(start, settings.stall_seconds),
            )
            .values(claimed_at=start, retry_at=None, updated_at=start)
            .returning(c.provider_campaign_id, c.retries)
        ).first()
        if claimed is None:
            return wait_for_retry(uow.session, campaign_id, [S.RUNNING], "final_statuses", start)
        uow.commit()
    mine = [c.claimed_at == start]
    from campaigns.services.callbacks import all_final

    if all_final(uow_factory, campaign_id):
        # callbacks brought every message's final status (issue 11): no Message/List paging
        with uow_factory() as uow:
            move_campaign(uow.session, campaign_id, [S.RUNNING], S.DONE, now or utcnow(), where=mine,
                          claimed_at=None, retry_at=None, retries=0, error=None)
            uow.commit()
        return []

    try:
        batch: list[MessageStatus] = []
        for message in provider.message_statuses(str(claimed.provider_campaign_id)):
            batch.append(message)
            if len(batch) >= STATUS_BATCH:
                _store_batch(uow_factory, campaign_id, batch)
                batch = []
        _store_batch(uow_factory, campaign_id, batch)
    except ProviderError as exc:
        failures = claimed.retries + 1
        done_at = now or utcnow()
        with uow_factory() as uow:
            if isinstance(exc, TemporaryError) and failures <= settings.max_transport_retries:
                wait = bounded(exc.retry_after) if isinstance(exc, RateLimited) else backoff_seconds(failures, settings)
                uow.session.execute(
                    update(campaigns_t)
                    .where(c.id == campaign_id, c.state == S.RUNNING.value, *mine)
                    .values(claimed_at=None, retry_at=done_at + seconds(wait), retries=failures, updated_at=done_at)
                )
                uow.commit()
                return [Next("final_statuses", campaign_id, countdown=wait)]
            move_campaign(
                uow.session, campaign_id, [S.RUNNING], S.DONE, done_at, where=mine, claimed_at=None, retry_at=None,
                error="the campaign was sent, but its final message statuses could not be read: "
                + reason("reading the message statuses", exc),
            )
            uow.commit()
        return []

    done_at = now or utcnow()
    with uow_factory() as uow:
        move_campaign(
            uow.session, campaign_id, [S.RUNNING], S.DONE, done_at, where=mine,
            claimed_at=None, retry_at=None, retries=0, error=None,
        )
        uow.commit()
    return []


def _store_batch(uow_factory, campaign_id: int, batch: Sequence[MessageStatus]) -> None:
    """Write one batch of final statuses, matched to recipients by messageId (indexed) and,
    for recipients whose messageId we never learnt (a resend's code 4 carries none), by
    phone. One bulk UPDATE by recipient id (campaigns.services.outcomes)."""
    if not batch:
        return
    r = recipients_t.c
    with uow_factory() as uow:
        session = uow.session
        by_message = dict(
            session.execute(
                select(r.message_id, r.id).where(
                    r.campaign_id == campaign_id, r.message_id.in_([m.message_id for m in batch])
                )
            ).all()
        )
        unmatched = [m for m in batch if m.message_id not in by_message]
        by_phone = {}
        if unmatched:
            by_phone = dict(
                session.execute(
                    select(r.phone, r.id).where(
                        valid_of_campaign(r.id, campaign_id), r.campaign_id == campaign_id, r.verdict == "valid",
                        r.phone.in_([m.phone for m in unmatched])
                    )
                ).all()
            )
        found = [(by_message.get(m.message_id) or by_phone.get(m.phone), m) for m in batch]
        record_final_statuses(session, [(rid, m.status, m.message_id) for rid, m in found if rid is not None])
        uow.commit()
