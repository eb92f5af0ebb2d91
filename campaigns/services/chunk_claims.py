"""Claiming a campaign's next chunk: one compare-and-set statement, so two workers racing
for the same campaign cannot both hold a chunk (AddRecipients locks the campaign: one add
at a time, Campaign module, AddRecipients). A chunk whose worker died is reclaimed after
``stall_seconds`` and resent with ``resend=True``.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import bindparam, exists, func, select, update
from sqlalchemy.orm import Session

from campaigns.domain import CampaignState, ChunkState, check_chunk_move
from campaigns.providers.port import CampaignSpec, ChunkRecipient
from campaigns.services.create import spec_of
from campaigns.services.moves import as_utc, campaigns_t, move_campaign, seconds
from campaigns.services.next import Next
from campaigns.settings import Settings
from campaigns.store.keys import valid_range
from campaigns.store.models import Chunk, Recipient

S, C = CampaignState, ChunkState
chunks_t = Chunk.__table__
recipients_t = Recipient.__table__



@dataclass(frozen=True)
class ChunkClaim:
    """A chunk this caller holds: ``token`` is the chunk's ``attempts`` after the claim."""

    campaign_id: int
    chunk_id: int
    seq: int
    token: int
    resend: bool
    provider_campaign_id: str
    spec: CampaignSpec
    chunks: int = 0  # the campaign's number of chunks
    first_row: int = 0  # the source rows of its first and last recipient
    last_row: int = 0

    def describe(self) -> str:
        return f"chunk {self.seq + 1} of {self.chunks}, source rows {self.first_row}-{self.last_row}"


@dataclass(frozen=True)
class HeldChunk:
    """A claimed chunk and its recipients, read in the transaction that claimed it."""

    claim: ChunkClaim
    rows: list


# -- claiming ----------------------------------------------------------------------------
# The statements of the add path are built once and bound on each call: building them
# anew (expressions, then SQLAlchemy's cache key) took ~0.5 ms each, several times a chunk.
def _campaign_adding(campaign_id):
    return exists().where(campaigns_t.c.id == campaign_id, campaigns_t.c.state == S.ADDING.value)


@functools.cache
def _claim_pending_statement(paced: bool):
    """Claim the lowest pending chunk, only when none of the campaign is in flight (one add
    at a time; ``paced``: fewer than ``lanes``, skipping one that waits for a retry). One
    statement, so two workers racing cannot both pass the check. Binds cid, now[, lanes]."""
    ch = chunks_t.c
    cid, now = bindparam("cid"), bindparam("now", type_=ch.state_changed_at.type)
    other = chunks_t.alias("other")
    due = (ch.retry_at.is_(None)) | (ch.retry_at <= now)
    if paced:
        in_flight = (
            select(func.count()).where(other.c.campaign_id == cid, other.c.state == C.ADDING.value)
            .scalar_subquery() >= bindparam("lanes")
        )
    else:
        in_flight = exists().where(other.c.campaign_id == cid, other.c.state == C.ADDING.value)
    lowest_pending = (
        select(ch.id)
        .where(ch.campaign_id == cid, ch.state == C.PENDING.value, *([due] if paced else []))
        .order_by(ch.seq)
        .limit(1)
        .scalar_subquery()
    )
    return (
        update(chunks_t)
        .where(ch.id == lowest_pending, ch.state == C.PENDING.value, due, ~in_flight, _campaign_adding(cid))
        .values(state=C.ADDING.value, attempts=ch.attempts + 1, state_changed_at=now, retry_at=None)
        .returning(ch.id, ch.seq, ch.attempts, ch.maybe_sent, ch.first_row, ch.last_row)
    )


@functools.cache
def _claim_following_statement():
    """Claim the lowest pending chunk while the caller's own chunk (held_id, its token) is
    the campaign's only one adding: the caller sends the new one only after that one's
    answer, so the provider still sees one add at a time. Binds cid, now, held_id, token."""
    ch = chunks_t.c
    cid, now = bindparam("cid"), bindparam("now", type_=ch.state_changed_at.type)
    held_id = bindparam("held_id")
    other, held = chunks_t.alias("other"), chunks_t.alias("held")
    others_in_flight = exists().where(
        other.c.campaign_id == cid, other.c.state == C.ADDING.value, other.c.id != held_id
    )
    still_held = exists().where(
        held.c.id == held_id, held.c.state == C.ADDING.value, held.c.attempts == bindparam("token")
    )
    lowest_pending = (
        select(ch.id).where(ch.campaign_id == cid, ch.state == C.PENDING.value).order_by(ch.seq).limit(1)
        .scalar_subquery()
    )
    due = (ch.retry_at.is_(None)) | (ch.retry_at <= now)
    return (
        update(chunks_t)
        .where(ch.id == lowest_pending, ch.state == C.PENDING.value, due, still_held, ~others_in_flight,
               _campaign_adding(cid))
        .values(state=C.ADDING.value, attempts=ch.attempts + 1, state_changed_at=now, retry_at=None)
        .returning(ch.id, ch.seq, ch.attempts, ch.maybe_sent, ch.first_row, ch.last_row)
    )


@functools.cache
def _reclaim_stale_statement():
    """Reclaim the campaign's chunk left `adding` since before ``cutoff`` (adding -> adding),
    to resend it. Binds cid, now, cutoff."""
    ch = chunks_t.c
    cid, now = bindparam("cid"), bindparam("now", type_=ch.state_changed_at.type)
    cutoff = bindparam("cutoff", type_=ch.state_changed_at.type)
    stale_id = (
        select(func.min(ch.id))
        .where(ch.campaign_id == cid, ch.state == C.ADDING.value, ch.state_changed_at <= cutoff)
        .scalar_subquery()
    )
    return (
        update(chunks_t)
        .where(ch.id == stale_id, ch.state == C.ADDING.value, ch.state_changed_at <= cutoff, _campaign_adding(cid))
        .values(attempts=ch.attempts + 1, state_changed_at=now, maybe_sent=True)
        .returning(ch.id, ch.seq, ch.attempts, ch.maybe_sent, ch.first_row, ch.last_row)
    )


@functools.cache
def _campaign_spec_statement():
    """The columns spec_of reads, and the provider's id. Binds cid."""
    c = campaigns_t.c
    return select(
        c.id, c.name, c.text, c.type, c.sender, c.rate_limit, c.rate_period, c.deferred_to, c.validity,
        c.mclass, c.placeholders, c.provider_campaign_id, c.provider_options,
    ).where(c.id == bindparam("cid"))


def _claim(session: Session, campaign_id: int, now: datetime, settings: Settings, lanes: int = 1) -> ChunkClaim | None:
    check_chunk_move(C.PENDING, C.ADDING)
    params = {"cid": campaign_id, "now": now}
    if lanes > 1:
        row = session.execute(_claim_pending_statement(True), {**params, "lanes": lanes}).first()
    else:
        row = session.execute(_claim_pending_statement(False), params).first()
    if row is None:
        # A chunk left `adding` longer than stall_seconds lost its worker: reclaim it
        # (adding -> adding) and resend, since the first attempt may have reached the provider.
        check_chunk_move(C.ADDING, C.ADDING)
        cutoff = now - seconds(settings.stall_seconds)
        row = session.execute(_reclaim_stale_statement(), {**params, "cutoff": cutoff}).first()
    if row is None:
        return None
    campaign = session.execute(_campaign_spec_statement(), {"cid": campaign_id}).one()
    chunk_id, seq, attempts, maybe_sent, first_row, last_row = row
    return ChunkClaim(
        campaign_id, chunk_id, seq, attempts, bool(maybe_sent), str(campaign.provider_campaign_id), spec_of(campaign),
        first_row=first_row, last_row=last_row,
    )


def claim_with_rows(
    session: Session, campaign_id: int, now: datetime, settings: Settings, lanes: int = 1
) -> HeldChunk | None:
    """Claim the next chunk (``_claim``) and read its recipients; None when none was claimed."""
    claim = _claim(session, campaign_id, now, settings, lanes)
    if claim is None:
        return None
    return HeldChunk(claim, _chunk_recipients(session, claim))


def claim_following(session: Session, held: ChunkClaim, now: datetime) -> HeldChunk | None:
    """Claim the campaign's next pending chunk while ``held`` (still adding, ours) is in
    flight, and read its recipients; None when there is none due, the campaign left
    ``adding``, or ``held`` is no longer ours. The caller must not send it before
    ``held``'s answer (AddRecipients locks the campaign: one add at a time)."""
    check_chunk_move(C.PENDING, C.ADDING)
    row = session.execute(
        _claim_following_statement(),
        {"cid": held.campaign_id, "now": now, "held_id": held.chunk_id, "token": held.token},
    ).first()
    if row is None:
        return None
    chunk_id, seq, attempts, maybe_sent, first_row, last_row = row
    claim = replace(
        held, chunk_id=chunk_id, seq=seq, token=attempts, resend=bool(maybe_sent), first_row=first_row,
        last_row=last_row,
    )
    return HeldChunk(claim, _chunk_recipients(session, claim))


def nothing_to_claim(session: Session, campaign_id: int, now: datetime, lanes: int = 1) -> list[Next]:
    """Why no chunk was claimed, and what comes next."""
    state = session.scalar(select(campaigns_t.c.state).where(campaigns_t.c.id == campaign_id))
    if state != S.ADDING.value:
        return []
    ch = chunks_t.c
    in_flight = session.scalar(select(func.count()).where(ch.campaign_id == campaign_id, ch.state == C.ADDING.value))
    if in_flight >= lanes:
        return []  # one in flight (every lane, when paced): its worker schedules the next
    if lanes > 1:
        return _lane_goes_on(session, campaign_id, now, in_flight)
    pending = session.execute(
        select(ch.retry_at)
        .where(ch.campaign_id == campaign_id, ch.state == C.PENDING.value)
        .order_by(ch.seq)
        .limit(1)
    ).first()
    if pending is not None:
        due = as_utc(pending.retry_at)
        if due is not None and due > now:
            return [Next("add", campaign_id, countdown=(due - now).total_seconds())]
        return []  # another worker won the claim
    return settled_next(session, campaign_id, now)


def _lane_goes_on(session: Session, campaign_id: int, now: datetime, in_flight: int) -> list[Next]:
    """A paced campaign's lane claimed nothing with a lane free: it lost a race for a due
    chunk (try again), or the rest wait for a retry (come back then), or nothing is left
    (the last chunk to settle launches the campaign)."""
    ch = chunks_t.c
    pending = (ch.campaign_id == campaign_id, ch.state == C.PENDING.value)
    if session.scalar(select(exists().where(*pending, (ch.retry_at.is_(None)) | (ch.retry_at <= now)))):
        return [Next("add", campaign_id)]
    soonest = as_utc(session.scalar(select(func.min(ch.retry_at)).where(*pending)))
    if soonest is not None:
        return [Next("add", campaign_id, countdown=(soonest - now).total_seconds())]
    return [] if in_flight else settled_next(session, campaign_id, now)


def settled_next(session: Session, campaign_id: int, now: datetime) -> list[Next]:
    """Every chunk is settled: launch, unless the provider accepted nobody."""
    added = session.scalar(select(func.coalesce(func.sum(chunks_t.c.added), 0)).where(chunks_t.c.campaign_id == campaign_id))
    if added:
        return [Next("launch", campaign_id)]
    move_campaign(
        session, campaign_id, [S.ADDING], S.FAILED, now, claimed_at=None,
        error="no recipient was accepted by the provider (see the report for each recipient's code)",
    )
    return []


@functools.cache
def _chunk_recipients_statement():
    """A chunk's recipients: a range of the primary key (campaigns.store.keys). Binds lo,
    hi, cid, seq."""
    r = recipients_t.c
    return (
        select(r.id, r.phone, r.fields, r.row_number)
        .where(r.id.between(bindparam("lo"), bindparam("hi")), r.campaign_id == bindparam("cid"),
               r.chunk_seq == bindparam("seq"), r.verdict == "valid")
        .order_by(r.id)  # file order
    )


def _chunk_recipients(session: Session, claim: ChunkClaim) -> list[tuple[int, ChunkRecipient]]:
    lo, hi = valid_range(claim.campaign_id, claim.first_row, claim.last_row)
    params = {"lo": lo, "hi": hi, "cid": claim.campaign_id, "seq": claim.seq}
    rows = session.execute(_chunk_recipients_statement(), params).all()
    # Rows unpacked as tuples: attribute access on 500 rows (row.id, row.phone…) took ~2 ms.
    return [
        (rid, ChunkRecipient(phone, json.loads(fields) if fields else {}, row_number))
        for rid, phone, fields, row_number in rows
    ]

