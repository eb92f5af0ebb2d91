import pytest
from sqlalchemy import exc, inspect, select, text

from campaigns.store.engine import make_engine, upgrade
from campaigns.store.keys import ROW_LIMIT, campaign_range, recipient_id
from campaigns.store.models import Campaign, Chunk, Recipient
from campaigns.store.uow import UnitOfWork
from tests import services


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


# --- migration 0002: recipient ids from campaign and row ------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    """A database with no tables yet, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    url = services.create_pg_database()
    yield url
    services.drop_pg_database(url)


def test_migration_0002_rekeys_recipients_and_gives_chunks_their_rows(empty_url):
    # Given a database at 0001 holding two campaigns' rows with sequence ids, interleaved
    upgrade(empty_url, "0001")
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            for cid in (1, 2):
                conn.execute(text("INSERT INTO campaigns (id, name, provider, text, type, placeholders, state,"
                                  " state_changed_at, create_attempts, launch_attempts, rows, valid, invalid,"
                                  " duplicates, segments, created_at, updated_at) VALUES (:id, 'c', 'sandbox', 'hi',"
                                  " 2, 'keep', 'draft', :t, 0, 0, 0, 0, 0, 0, 0, :t, :t)"),
                             {"id": cid, "t": "2026-11-23 00:00:00+00:00"})
            rows = [  # (campaign, row, verdict, chunk)
                (1, 2, "valid", 0), (2, 2, "valid", 0), (1, 3, "invalid", None), (1, 4, "valid", 0),
                (2, 3, "valid", 1), (1, 5, "duplicate", None), (1, 6, "valid", 1),
            ]
            for cid, row, verdict, chunk in rows:
                conn.execute(text("INSERT INTO recipients (campaign_id, row_number, verdict, chunk_seq)"
                                  " VALUES (:c, :r, :v, :k)"), {"c": cid, "r": row, "v": verdict, "k": chunk})
            for cid, seq in ((1, 0), (1, 1), (2, 0), (2, 1)):
                conn.execute(text("INSERT INTO chunks (campaign_id, seq, size, state, state_changed_at, attempts,"
                                  " added, rejected, retries, maybe_sent) VALUES (:c, :s, 2, 'pending', :t, 0, 0, 0,"
                                  " 0, false)"), {"c": cid, "s": seq, "t": "2026-11-23 00:00:00+00:00"})
        # When it is upgraded
        upgrade(empty_url)
        # Then every id says its campaign, row and validity, and chunks know their rows
        with engine.connect() as conn:
            stored = conn.execute(select(Recipient.id, Recipient.campaign_id, Recipient.row_number,
                                         Recipient.verdict)).all()
            assert sorted(r.id for r in stored) == sorted(
                recipient_id(cid, row, verdict == "valid") for cid, row, verdict, _ in rows
            )
            assert all(r.id == recipient_id(r.campaign_id, r.row_number, r.verdict == "valid") for r in stored)
            ranges = conn.execute(select(Chunk.campaign_id, Chunk.seq, Chunk.first_row, Chunk.last_row)
                                  .order_by(Chunk.campaign_id, Chunk.seq)).all()
            assert [tuple(r) for r in ranges] == [(1, 0, 2, 4), (1, 1, 6, 6), (2, 0, 2, 2), (2, 1, 3, 3)]
            assert "ix_recipients_campaign_chunk" not in {i["name"] for i in inspect(conn).get_indexes("recipients")}
        # And on PostgreSQL new rows need their id from ingestion: the sequence is gone
        # (SQLite gives an INTEGER PRIMARY KEY a rowid whatever the schema says)
        if engine.dialect.name == "postgresql":
            with pytest.raises(exc.IntegrityError), engine.begin() as conn:
                conn.execute(text("INSERT INTO recipients (campaign_id, row_number, verdict) VALUES (1, 9, 'valid')"))
    finally:
        engine.dispose()


def test_recipient_ids_keep_campaigns_and_regions_apart():
    assert recipient_id(1, ROW_LIMIT - 1, False) < recipient_id(1, 0, True)
    assert recipient_id(1, ROW_LIMIT - 1, True) < recipient_id(2, 0, False)
    assert campaign_range(1) == (recipient_id(1, 0, False), recipient_id(1, ROW_LIMIT - 1, True))
    with pytest.raises(ValueError):
        recipient_id(1, ROW_LIMIT, True)
