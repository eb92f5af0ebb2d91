"""Compare-and-set moves on the campaigns table, shared by the services.

Every claim and every state change is one ``UPDATE … WHERE id = :id AND state IN
(:expected) …`` whose row count says whether this caller won; the same statement works
on SQLite and PostgreSQL. A campaign step (create, launch, final statuses) is claimed by
setting ``claimed_at``; it can be claimed again when nobody holds it (``claimed_at`` NULL
or older than ``stall_seconds``: its worker died) and no retry is waiting (``retry_at``
NULL or past).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Iterable

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from campaigns.domain import check_move
from campaigns.services.next import Next
from campaigns.store.models import Campaign

campaigns_t = Campaign.__table__


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime | None) -> datetime | None:
    """``value`` as an aware UTC datetime (SQLite hands back naive ones)."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def move_campaign(
    session: Session, campaign_id: int, expected: Iterable[str], target: str, now: datetime, *, where=(), **values
) -> bool:
    """Move the campaign to ``target`` if it is in one of ``expected`` (and matches the
    extra ``where`` conditions, e.g. the caller's claim token); True when this call made
    the move. Raises IllegalTransition for a move not in the domain's table."""
    expected = [str(s) for s in expected]
    for state in expected:
        check_move(state, target)
    result = session.execute(
        update(campaigns_t)
        .where(campaigns_t.c.id == campaign_id, campaigns_t.c.state.in_(expected), *where)
        .values(state=str(target), state_changed_at=now, updated_at=now, **values)
    )
    return result.rowcount == 1


def step_free(now: datetime, stall_seconds: float):
    """SQL condition: nobody holds the campaign's current step and no retry is waiting."""
    c = campaigns_t.c
    return and_(
        or_(c.claimed_at.is_(None), c.claimed_at <= now - seconds(stall_seconds)),
        or_(c.retry_at.is_(None), c.retry_at <= now),
    )


def wait_for_retry(session: Session, campaign_id: int, states: Iterable[str], action: str, now: datetime) -> list[Next]:
    """After a failed claim: when the step (in one of ``states``) is only waiting for its
    retry time (a task that arrived a little early, two hosts' clocks differing), the
    Next for that time; otherwise nothing (someone else holds the step, or it moved on)."""
    row = session.execute(
        select(campaigns_t.c.state, campaigns_t.c.claimed_at, campaigns_t.c.retry_at).where(
            campaigns_t.c.id == campaign_id
        )
    ).first()
    if row is None or row.state not in {str(s) for s in states}:
        return []
    if row.claimed_at is not None or row.retry_at is None:
        return []
    due = as_utc(row.retry_at)
    if due <= now:
        return []
    return [Next(action, campaign_id, countdown=(due - now).total_seconds())]
