"""Named leases in the database, so two beat processes never both run the same periodic
tick: whoever holds ``name`` until ``expires_at`` runs it; an expired lease goes to the
next caller. One conditional UPDATE, or an INSERT that only one caller can win."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from campaigns.services.moves import seconds, utcnow
from campaigns.store.models import Lease
from campaigns.store.uow import UnitOfWork

leases_t = Lease.__table__


def acquire_lease(
    name: str, holder: str, ttl: float, uow_factory: Callable[[], UnitOfWork], *, now: datetime | None = None
) -> bool:
    """Take or renew the lease ``name`` for ``holder`` for ``ttl`` seconds. True when
    ``holder`` holds it now; False when another holder's lease has not expired."""
    now = now or utcnow()
    until = now + seconds(ttl)
    l = leases_t.c  # noqa: E741
    with uow_factory() as uow:
        taken = uow.session.execute(
            update(leases_t)
            .where(l.name == name, or_(l.holder == holder, l.expires_at <= now))
            .values(holder=holder, expires_at=until)
        )
        if taken.rowcount == 1:
            uow.commit()
            return True
        if uow.session.scalar(select(l.holder).where(l.name == name)) is not None:
            return False
        try:
            uow.session.execute(insert(leases_t).values(name=name, holder=holder, expires_at=until))
            uow.commit()
        except IntegrityError:
            return False  # another holder inserted it first
    return True


def release_lease(name: str, holder: str, uow_factory: Callable[[], UnitOfWork]) -> bool:
    """Give the lease up early (a beat process stopping). True when ``holder`` held it."""
    with uow_factory() as uow:
        result = uow.session.execute(delete(leases_t).where(leases_t.c.name == name, leases_t.c.holder == holder))
        uow.commit()
    return result.rowcount == 1
