"""The drops table's moves: a claim is an INSERT that only one scan can win (unique
claim key), every later move a compare-and-set UPDATE, and a step works on a drop only
while it holds the drop's lease, so two steps never move the same file at once."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Callable, Iterable

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from campaigns.services.moves import utcnow
from campaigns.store.drops import Drop
from campaigns.store.uow import UnitOfWork

UowFactory = Callable[[], UnitOfWork]


def claim_key(location: str, path: str, identity: str) -> str:
    """The drop's key: one file's one content at one place (hex SHA-256)."""
    return hashlib.sha256("\0".join((location, path, identity)).encode("utf-8", "surrogatepass")).hexdigest()


def known_keys(uow_factory: UowFactory, keys: Iterable[str]) -> dict[str, tuple[int, str]]:
    """The drops among ``keys`` already recorded: key -> (id, state)."""
    keys = list(dict.fromkeys(keys))
    found: dict[str, tuple[int, str]] = {}
    with uow_factory() as uow:
        for i in range(0, len(keys), 500):
            rows = uow.session.execute(
                select(Drop.claim_key, Drop.id, Drop.state).where(Drop.claim_key.in_(keys[i:i + 500])))
            found.update({key: (drop_id, state) for key, drop_id, state in rows})
    return found


def insert_drop(uow_factory: UowFactory, **values) -> int | None:
    """Record a drop; its id, or None when another scan recorded the same claim key first."""
    now = utcnow()
    with uow_factory() as uow:
        drop = Drop(seen_at=now, updated_at=now, attempts=0, rejects=0, **values)
        uow.session.add(drop)
        try:
            uow.commit()
        except IntegrityError:
            return None
        return drop.id


def move_drop(uow_factory: UowFactory, drop_id: int, from_states: Iterable[str], to: str | None = None, *,
              holder: str | None = None, **values) -> bool:
    """Compare-and-set: set ``state`` (and ``values``) when the drop is in one of
    ``from_states`` (and held by ``holder`` when given). True when this call moved it."""
    conditions = [Drop.id == drop_id, Drop.state.in_(list(from_states))]
    if holder is not None:
        conditions.append(Drop.holder == holder)
    if to is not None:
        values["state"] = to
    with uow_factory() as uow:
        moved = uow.session.execute(update(Drop).where(*conditions).values(updated_at=utcnow(), **values)).rowcount
        uow.commit()
    return moved == 1


def acquire(uow_factory: UowFactory, drop_id: int, holder: str, ttl: float, states: Iterable[str]) -> Drop | None:
    """Take the drop's lease for ``ttl`` seconds when it is in ``states`` and no live lease
    holds it; returns the drop (detached), or None when it is not this caller's to work on."""
    now = utcnow()
    with uow_factory() as uow:
        taken = uow.session.execute(
            update(Drop)
            .where(Drop.id == drop_id, Drop.state.in_(list(states)),
                   or_(Drop.lease_until.is_(None), Drop.lease_until < now))
            .values(holder=holder, lease_until=now + timedelta(seconds=ttl), attempts=Drop.attempts + 1)
        ).rowcount
        uow.commit()
        if taken != 1:
            return None
        drop = uow.session.get(Drop, drop_id)
        uow.session.expunge(drop)
        return drop


def release(uow_factory: UowFactory, drop_id: int, holder: str) -> None:
    with uow_factory() as uow:
        uow.session.execute(update(Drop).where(Drop.id == drop_id, Drop.holder == holder)
                            .values(holder=None, lease_until=None))
        uow.commit()


def unleased(now: datetime):
    return or_(Drop.lease_until.is_(None), Drop.lease_until < now)


def forget_waiting(uow_factory: UowFactory, location: str, keep: set[str]) -> int:
    """Delete the waiting drops of ``location`` not in ``keep`` (their file went away or
    changed: the new version is another drop)."""
    with uow_factory() as uow:
        waiting = list(uow.session.scalars(select(Drop.claim_key).where(Drop.location == location,
                                                                       Drop.state == "waiting")))
        gone = [key for key in waiting if key not in keep]
        for i in range(0, len(gone), 500):
            uow.session.execute(delete(Drop).where(Drop.claim_key.in_(gone[i:i + 500]), Drop.state == "waiting"))
        uow.commit()
    return len(gone)

