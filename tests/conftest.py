"""Shared fixtures: settings, databases on SQLite and PostgreSQL, units of work."""

from __future__ import annotations

import pytest

from campaigns.settings import Settings
from campaigns.store.engine import make_engine, upgrade
from campaigns.store.uow import UnitOfWork
from tests import services


@pytest.fixture(scope="session")
def pg_url():
    """A fresh PostgreSQL database, migrated, for the whole session."""
    url = services.create_pg_database()
    upgrade(url)
    yield url
    services.drop_pg_database(url)


@pytest.fixture
def sqlite_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'campaigns.db'}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Run a storage test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url):
    eng = make_engine(sqlite_url)
    yield eng
    eng.dispose()


@pytest.fixture
def uow_factory(engine):
    return lambda: UnitOfWork(engine)


@pytest.fixture
def sqlite_uow(sqlite_engine):
    return lambda: UnitOfWork(sqlite_engine)


@pytest.fixture
def settings(sqlite_url) -> Settings:
    return Settings().with_(database_url=sqlite_url)
