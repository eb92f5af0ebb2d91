from sqlalchemy import inspect, select

from campaigns.store.models import Campaign
from campaigns.store.uow import UnitOfWork


def test_migrations_create_every_table(engine):
    names = set(inspect(engine).get_table_names())
    assert {"campaigns", "chunks", "recipients", "counter_samples", "leases", "alembic_version"} <= names


def test_unit_of_work_commits_and_rolls_back(engine):
    with UnitOfWork(engine) as uow:
        uow.session.add(Campaign(name="committed", provider="sandbox", text="hi"))
        uow.commit()
    with UnitOfWork(engine) as uow:
        uow.session.add(Campaign(name="rolled back", provider="sandbox", text="hi"))
    with UnitOfWork(engine) as uow:
        names = uow.session.scalars(select(Campaign.name)).all()
    assert "committed" in names and "rolled back" not in names
