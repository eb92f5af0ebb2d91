"""The unit of work: one transaction over the session, committed explicitly.

Services take a unit of work so that a state change is saved in the same transaction
as the work it records, and tests can hand them one bound to SQLite.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from campaigns.store.engine import session_factory


class UnitOfWork:
    """``with uow: ...; uow.commit()``. Leaving the block without commit rolls back."""

    def __init__(self, engine: Engine, factory: sessionmaker[Session] | None = None):
        self.engine = engine
        self._factory = factory or session_factory(engine)
        self.session: Session | None = None

    def __enter__(self) -> "UnitOfWork":
        self.session = self._factory()
        return self

    def __exit__(self, *exc) -> None:
        assert self.session is not None
        try:
            self.session.rollback()
        finally:
            self.session.close()
            self.session = None

    def commit(self) -> None:
        assert self.session is not None
        self.session.commit()

    def rollback(self) -> None:
        assert self.session is not None
        self.session.rollback()


class ReadUnitOfWork:
    """A read-only unit of work for hot paths: ``session`` is a plain Core connection
    (``execute`` with statements and parameters, as a Session's), without the Session's
    bookkeeping, which cost more than the two primary-key reads of an API status request.
    Services that only ``execute`` Core statements accept it in place of a UnitOfWork;
    nothing is ever committed."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.session = None

    def __enter__(self) -> "ReadUnitOfWork":
        self.session = self.engine.connect()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.session.close()  # rolls back whatever the reads began
        finally:
            self.session = None
