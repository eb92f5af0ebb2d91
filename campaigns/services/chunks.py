"""Add a campaign's chunks to the provider, one at a time, each as soon as the previous ends.

AddRecipients locks the campaign while it runs (Campaign module, AddRecipients: "the
campaign is blocked for any other adding recipients' request"), so a chunk is claimed only
when no other chunk of its campaign is ``adding``; many campaigns progress in parallel.
The claim is committed before the provider is called, the call runs outside any
transaction, and every recipient's outcome is recorded with the chunk's new state in one
transaction. A chunk whose worker died is reclaimed after ``stall_seconds`` and resent
with ``resend=True``: the campaign de-duplicates, so code 4 then means "already added"
(PROVIDERS.md). Claiming lives in ``chunk_claims``; this module uploads and records.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from dataclasses import replace
from datetime import datetime
from typing import Callable, Sequence

from sqlalchemy import and_, bindparam, case, func, select, update
from sqlalchemy.orm import Session

from campaigns.domain import CampaignState, ChunkState, check_chunk_move, rejection_share_exceeded
from campaigns.providers.errors import PermanentError, ProviderError, RateLimited
from campaigns.providers.port import ChunkRecipient, Provider, RecipientOutcome
from campaigns.redact import redact
from campaigns.services.backoff import backoff_seconds, bounded
from campaigns.services.chunk_claims import ChunkClaim, HeldChunk, claim_with_rows, nothing_to_claim, settled_next
from campaigns.services.moves import campaigns_t, move_campaign, seconds, utcnow
from campaigns.services.next import Next
from campaigns.services.outcomes import record_outcomes
from campaigns.services.paced import pace_gate
from campaigns.services.reasons import gave_up, reason
from campaigns.settings import Settings
from campaigns.store.models import Chunk, Recipient
from campaigns.store.uow import UnitOfWork

S, C = CampaignState, ChunkState
chunks_t = Chunk.__table__
recipients_t = Recipient.__table__



def add_next_chunk(
    campaign_id: int,
    uow_factory: Callable[[], UnitOfWork],
    provider: Provider,
    settings: Settings,
    *,
    now: datetime | None = None,
    pacer=None,
) -> list[Next]:
    """Claim the campaign's next chunk, upload it, record each recipient's outcome.

    A provider without server-side campaigns (SMSC) is paced by ``pacer``
    (``campaigns.pacing.pacer.CampaignPacer``): a chunk is one packet, claimed only when
    its slots are free (else [Next("add", countdown)]), with ``pacer.lanes`` chunks of
    the campaign under way at once (``paced.pace_gate``).

    Returns [Next("add")] for the next chunk at once, [Next("add", countdown)] when the
    next chunk waits for a retry, [Next("launch")] when every chunk is settled, [] when
    there is nothing to do (another chunk is in flight, the campaign moved on, paused or
    failed: the reason is in ``campaigns.error``). Raises only on database errors.
    """
    return add_chunks(campaign_id, uow_factory, provider, settings, now=now, pacer=pacer)


def add_chunks(
    campaign_id: int,
    uow_factory: Callable[[], UnitOfWork],
    provider: Provider,
    settings: Settings,
    *,
    now: datetime | None = None,
    pacer=None,
    budget: float = 0.0,
    clock: Callable[[], float] = time.monotonic,
) -> list[Next]:
    """``add_next_chunk``, going on with the campaign's next chunks in this call while
    ``budget`` seconds (by ``clock``) have not run out, as long as each chunk is followed
    by exactly [Next("add")] at once. Returns what ``add_next_chunk`` returns for the last
    chunk: [Next("add")] when the budget ran out with chunks left.

    Chunks still go one at a time, each started as soon as the previous ends; the hop
    through the broker is saved. Without a pacer, the transaction recording a chunk's
    outcomes also claims the next chunk and reads its recipients while the budget lasts
    (a compare-and-set claim as any other). A paced campaign (SMSC) passes the pace gate
    before each chunk, and returns at once whenever its lanes open (the extra steps
    must be dispatched) or it has to wait. Raises only on database errors.
    """
    deadline = clock() + budget
    paced = pacer is not None and not provider.server_side_campaigns
    go_on = [Next("add", campaign_id)]
    held: HeldChunk | None = None
    while True:
        nexts, held = _add_one(
            campaign_id, uow_factory, provider, settings, now, pacer if paced else None, held,
            claim_next=not paced and clock() < deadline,
        )
        if held is None and (nexts != go_on or clock() >= deadline):
            return nexts




def _add_one(
    campaign_id: int,
    uow_factory: Callable[[], UnitOfWork],
    provider: Provider,
    settings: Settings,
    now: datetime | None,
    pacer,
    held: HeldChunk | None,
    *,
    claim_next: bool,
) -> tuple[list[Next], HeldChunk | None]:
    """Upload one chunk (``held``, or one claimed now) and record its outcomes. With
    ``claim_next``, the recording transaction also claims the next chunk when the
    campaign goes on at once: returned held, with [] for the steps."""
    start = now or utcnow()
    extra = []
    if held is None:
        lanes = 1
        if pacer is not None:
            lanes = pacer.lanes
            with uow_factory() as uow:
                wait, opened = pace_gate(uow.session, campaign_id, pacer, start, settings.stall_seconds)
            extra = [Next("add", campaign_id, countdown=wait)] * opened
            if wait > 0:
                return [Next("add", campaign_id, countdown=wait)] + extra, None
        with uow_factory() as uow:
            held = claim_with_rows(uow.session, campaign_id, start, settings, lanes)
            if held is None:
                nexts = nothing_to_claim(uow.session, campaign_id, start, lanes)
                uow.commit()
                return nexts, None
            uow.commit()

    claim, rows = held.claim, held.rows
    try:
        outcomes = provider.add_chunk(
            claim.provider_campaign_id, f"{campaign_id}:{claim.seq}", [r for _, r in rows], resend=claim.resend,
            spec=claim.spec,
        )
    except ProviderError as exc:
        with uow_factory() as uow:
            nexts = _record_failure(uow.session, claim, exc, now or utcnow(), settings)
            uow.commit()
        return nexts + extra, None
    with uow_factory() as uow:
        at = now or utcnow()
        nexts = _record_outcomes(uow.session, claim, rows, outcomes, at, settings)
        following = None
        if claim_next and nexts == [Next("add", campaign_id)]:
            following = claim_with_rows(uow.session, campaign_id, at, settings)
        uow.commit()
    if following is not None:
        return extra, following
    return nexts + extra, None



# -- recording ---------------------------------------------------------------------------
def _mine(claim: ChunkClaim):
    ch = chunks_t.c
    return and_(ch.id == claim.chunk_id, ch.state == C.ADDING.value, ch.attempts == claim.token)


@functools.cache
def _added_statement():
    """The claimed chunk (id, attempts token) moved adding -> added with its counts. Binds
    chunk_id, token, now, n_added, n_rejected."""
    ch = chunks_t.c
    return (
        update(chunks_t)
        .where(ch.id == bindparam("chunk_id"), ch.state == C.ADDING.value, ch.attempts == bindparam("token"))
        .values(
            state=C.ADDED.value, state_changed_at=bindparam("now", type_=ch.state_changed_at.type),
            added=bindparam("n_added"), rejected=bindparam("n_rejected"), retry_at=None, retries=0, error=None,
        )
    )


def _move_chunk(session: Session, claim: ChunkClaim, target: ChunkState, now: datetime, **values) -> bool:
    check_chunk_move(C.ADDING, target)
    result = session.execute(
        update(chunks_t).where(_mine(claim)).values(state=target.value, state_changed_at=now, **values)
    )
    return result.rowcount == 1


def _match(rows: Sequence[tuple[int, ChunkRecipient]], outcomes: Sequence[RecipientOutcome]):
    """Pair each recipient with its outcome: by position (the port's contract), or by
    phone when the provider answered for a different number of recipients."""
    if len(outcomes) == len(rows):
        return list(zip(rows, outcomes))
    by_phone = {o.phone: o for o in outcomes}
    missing = lambda phone: RecipientOutcome(phone, -1, "the provider did not answer for this recipient", False)  # noqa: E731
    return [((rid, r), by_phone.get(r.phone) or missing(r.phone)) for rid, r in rows]


def _record_outcomes(
    session: Session,
    claim: ChunkClaim,
    rows: Sequence[tuple[int, ChunkRecipient]],
    outcomes: Sequence[RecipientOutcome],
    now: datetime,
    settings: Settings,
) -> list[Next]:
    pairs = _match(rows, outcomes)
    added = sum(1 for _, o in pairs if o.added)
    check_chunk_move(C.ADDING, C.ADDED)
    moved = session.execute(
        _added_statement(),
        {"chunk_id": claim.chunk_id, "token": claim.token, "now": now, "n_added": added,
         "n_rejected": len(pairs) - added},
    )
    if moved.rowcount != 1:
        return []  # the scanner gave this chunk to another worker; it records the outcome
    record_outcomes(session, [(rid, o) for (rid, _), o in pairs])
    return _after_chunk(session, claim.campaign_id, now, settings)


@functools.cache
def _totals_statement():
    """The campaign's added and rejected recipients in chunks settled since it (re)entered
    `adding` (so that a campaign resumed after a pause is judged on what follows), its open
    chunks and its valid recipients: one statement. Binds cid."""
    ch, c = chunks_t.c, campaigns_t.c
    cid = bindparam("cid")
    since = select(c.state_changed_at).where(c.id == cid).scalar_subquery()
    recent = ch.state_changed_at >= since
    return select(
        func.coalesce(func.sum(case((recent, ch.added), else_=0)), 0).label("added"),
        func.coalesce(func.sum(case((recent, ch.rejected), else_=0)), 0).label("rejected"),
        func.coalesce(func.sum(case((ch.state.in_([C.PENDING.value, C.ADDING.value]), 1), else_=0)), 0).label("open"),
        select(c.valid).where(c.id == cid).scalar_subquery().label("valid"),
    ).where(ch.campaign_id == cid)


def _after_chunk(session: Session, campaign_id: int, now: datetime, settings: Settings) -> list[Next]:
    """Pause on too many rejections, launch when every chunk is settled, else the next chunk."""
    totals = session.execute(_totals_statement(), {"cid": campaign_id}).one()
    valid = totals.valid
    minimum = min(settings.chunk_size, valid) if valid else settings.chunk_size
    if rejection_share_exceeded(
        int(totals.added), int(totals.rejected), threshold=settings.pause_after_permanent_failures, minimum=minimum
    ):
        move_campaign(
            session, campaign_id, [S.ADDING], S.PAUSED, now, claimed_at=None,
            error=_pause_reason(session, campaign_id, int(totals.added), int(totals.rejected), settings),
        )
        return []
    if totals.open:
        return [Next("add", campaign_id)]
    return settled_next(session, campaign_id, now)


def _pause_reason(session: Session, campaign_id: int, added: int, rejected: int, settings: Settings) -> str:
    r = recipients_t.c
    codes = Counter(
        dict(
            session.execute(
                select(r.provider_meaning, func.count())
                .where(r.campaign_id == campaign_id, r.provider_code.is_not(None), r.provider_code != 0,
                       r.provider_code != 4)
                .group_by(r.provider_meaning)
            ).all()
        )
    )
    common = "; ".join(f"{meaning} ({n})" for meaning, n in codes.most_common(3))
    share = rejected / max(1, added + rejected)
    return redact(
        f"paused: the provider rejected {rejected} of {added + rejected} recipients so far ({share:.0%}, "
        f"more than the {settings.pause_after_permanent_failures:.0%} allowed by CAMPAIGNS_PAUSE_AFTER_FAILURES)"
        + (f"; most common: {common}" if common else "")
        + ". Check the file; the campaign can be resumed or cancelled."
    )


def _record_failure(
    session: Session, claim: ChunkClaim, error: ProviderError, now: datetime, settings: Settings
) -> list[Next]:
    ch = chunks_t.c
    row = session.execute(select(ch.retries, ch.maybe_sent).where(_mine(claim))).first()
    if row is None:
        return []
    maybe_sent = bool(row.maybe_sent) or bool(getattr(error, "maybe_done", False))
    claim = replace(claim, chunks=session.scalar(select(func.count()).where(ch.campaign_id == claim.campaign_id)))
    doing = f"adding {claim.describe()}"
    if isinstance(error, RateLimited):
        # code 30: slow down; never counted as a failure (PROVIDERS.md, envelope codes)
        wait = bounded(error.retry_after)
        _move_chunk(session, claim, C.PENDING, now, retry_at=now + seconds(wait), maybe_sent=maybe_sent)
        return [Next("add", claim.campaign_id, countdown=wait)]
    if isinstance(error, PermanentError):
        text = reason(doing, error)
        _move_chunk(session, claim, C.FAILED, now, error=text, maybe_sent=maybe_sent)
        move_campaign(session, claim.campaign_id, [S.ADDING], S.FAILED, now, claimed_at=None, error=text)
        return []
    failures = row.retries + 1  # transport failures, 5xx, codes 3/10/999
    if failures > settings.max_transport_retries:
        _move_chunk(session, claim, C.PENDING, now, retries=failures, maybe_sent=maybe_sent, error=reason(doing, error))
        move_campaign(
            session, claim.campaign_id, [S.ADDING], S.PAUSED, now, claimed_at=None,
            error="paused: " + gave_up(doing, failures, error) + ". Resume the campaign once the provider answers again.",
        )
        return []
    wait = backoff_seconds(failures, settings)
    _move_chunk(
        session, claim, C.PENDING, now, retries=failures, retry_at=now + seconds(wait), maybe_sent=maybe_sent,
        error=reason(doing, error),
    )
    return [Next("add", claim.campaign_id, countdown=wait)]
