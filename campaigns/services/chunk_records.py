"""Recording a chunk's answer: every recipient's outcome with the chunk's move to
``added``, or a failure with its move back to ``pending`` (or ``failed``), each in the
caller's transaction; then what the campaign does next (the next chunk, a pause on too
many rejections, the launch). Every write is guarded by the claim's token (the chunk's
``attempts``), so the answer of a chunk reclaimed by another worker changes nothing.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Sequence

from sqlalchemy import and_, bindparam, case, func, select, update
from sqlalchemy.orm import Session

from campaigns.domain import CampaignState, ChunkState, check_chunk_move, rejection_share_exceeded
from campaigns.providers.errors import PermanentError, ProviderError, RateLimited
from campaigns.providers.port import ChunkRecipient, RecipientOutcome
from campaigns.redact import redact
from campaigns.services.backoff import backoff_seconds, bounded
from campaigns.services.chunk_claims import ChunkClaim, settled_next
from campaigns.services.moves import campaigns_t, move_campaign, seconds
from campaigns.services.next import Next
from campaigns.services.outcomes import record_outcomes
from campaigns.services.reasons import gave_up, reason
from campaigns.settings import Settings
from campaigns.store.models import Chunk, Recipient
from campaigns.store.keys import valid_of_campaign

S, C = CampaignState, ChunkState
chunks_t = Chunk.__table__
recipients_t = Recipient.__table__


@dataclass(frozen=True)
class Totals:
    """A campaign's added and rejected recipients in chunks settled since it (re)entered
    ``adding``, its open (pending or adding) chunks and its valid recipients."""

    added: int
    rejected: int
    open: int
    valid: int

    def pauses(self, settings: Settings, *, added: int = 0, rejected: int = 0) -> bool:
        """True when these totals, plus ``added`` and ``rejected`` more, pause the campaign
        (more than CAMPAIGNS_PAUSE_AFTER_FAILURES rejected, once a full chunk was processed)."""
        minimum = min(settings.chunk_size, self.valid) if self.valid else settings.chunk_size
        return rejection_share_exceeded(
            self.added + added, self.rejected + rejected,
            threshold=settings.pause_after_permanent_failures, minimum=minimum,
        )


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


def release(session: Session, claim: ChunkClaim, now: datetime) -> bool:
    """Give back a claimed chunk that was never sent (adding -> pending, as it was);
    False when the claim is no longer ours. The token stays spent: ``attempts`` counts
    claims, so a stale holder of this one can never match a later claim."""
    return _move_chunk(session, claim, C.PENDING, now)


def _match(rows: Sequence[tuple[int, ChunkRecipient]], outcomes: Sequence[RecipientOutcome]):
    """Pair each recipient with its outcome: by position (the port's contract), or by
    phone when the provider answered for a different number of recipients."""
    if len(outcomes) == len(rows):
        return list(zip(rows, outcomes))
    by_phone = {o.phone: o for o in outcomes}
    missing = lambda phone: RecipientOutcome(phone, -1, "the provider did not answer for this recipient", False)  # noqa: E731
    return [((rid, r), by_phone.get(r.phone) or missing(r.phone)) for rid, r in rows]


def record_answer(
    session: Session,
    claim: ChunkClaim,
    rows: Sequence[tuple[int, ChunkRecipient]],
    outcomes: Sequence[RecipientOutcome],
    now: datetime,
    settings: Settings,
) -> tuple[list[Next], Totals | None]:
    """Move the claimed chunk adding -> added with its counts, store each recipient's
    outcome, and decide what follows (``_after_chunk``). Returns the steps and the
    campaign's totals after this chunk; ([], None) when the claim is no longer ours (the
    scanner gave the chunk to another worker, which records its own answer)."""
    pairs = _match(rows, outcomes)
    added = sum(1 for _, o in pairs if o.added)
    check_chunk_move(C.ADDING, C.ADDED)
    moved = session.execute(
        _added_statement(),
        {"chunk_id": claim.chunk_id, "token": claim.token, "now": now, "n_added": added,
         "n_rejected": len(pairs) - added},
    )
    if moved.rowcount != 1:
        return [], None
    record_outcomes(session, [(rid, o) for (rid, _), o in pairs])
    totals = campaign_totals(session, claim.campaign_id)
    return _after_chunk(session, claim.campaign_id, totals, now, settings), totals


@functools.cache
def _totals_statement():
    """``Totals`` in one statement. Binds cid."""
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


def campaign_totals(session: Session, campaign_id: int) -> Totals:
    """The campaign's ``Totals`` as the database holds them now."""
    row = session.execute(_totals_statement(), {"cid": campaign_id}).one()
    return Totals(int(row.added), int(row.rejected), int(row.open), int(row.valid or 0))


def _after_chunk(session: Session, campaign_id: int, totals: Totals, now: datetime, settings: Settings) -> list[Next]:
    """Pause on too many rejections, launch when every chunk is settled, else the next chunk."""
    if totals.pauses(settings):
        move_campaign(
            session, campaign_id, [S.ADDING], S.PAUSED, now, claimed_at=None,
            error=_pause_reason(session, campaign_id, totals.added, totals.rejected, settings),
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
                .where(valid_of_campaign(r.id, campaign_id), r.campaign_id == campaign_id,
                       r.provider_code.is_not(None), r.provider_code != 0, r.provider_code != 4)
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


def record_failure(
    session: Session, claim: ChunkClaim, error: ProviderError, now: datetime, settings: Settings
) -> list[Next]:
    """Record a failed AddRecipients call of the claimed chunk: code 30 waits as asked
    (never a failure), a permanent error fails the chunk and the campaign, anything else
    goes back to ``pending`` with a backoff, pausing the campaign after too many in a
    row. Returns the steps that follow; [] when the claim is no longer ours."""
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
