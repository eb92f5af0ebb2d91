"""The scanner: work stuck in a transitional state is issued again, so a dead worker or a
lost task delays a campaign and never loses it."""


import pytest
from sqlalchemy import update

from campaigns.providers.fake import FakeProvider
from campaigns.services.next import Next
from campaigns.services.recover import scan_stalled
from campaigns.store.models import Campaign, Chunk
from campaigns.store.uow import UnitOfWork
from tests.pipeline_data import Driver, T0, at, fast_settings, make_campaign

STALL = 30.0


def set_campaign(uow_factory, cid: int, **values) -> None:
    with uow_factory() as uow:
        uow.session.execute(update(Campaign).where(Campaign.id == cid).values(**values))
        uow.commit()


def set_chunks(uow_factory, cid: int, seq: int | None = None, **values) -> None:
    with uow_factory() as uow:
        query = update(Chunk).where(Chunk.campaign_id == cid)
        if seq is not None:
            query = query.where(Chunk.seq == seq)
        uow.session.execute(query.values(**values))
        uow.commit()


def scan(uow_factory, ids, seconds: float) -> list[Next]:
    """The scanner's Nexts for our campaigns only (PostgreSQL keeps other tests' ones)."""
    settings = fast_settings(stall_seconds=STALL, poll_seconds=1)
    return [n for n in scan_stalled(uow_factory, settings, now=at(seconds)) if n.campaign_id in ids]


def test_each_stuck_state_is_issued_again(uow_factory):
    # Given one campaign stuck in each transitional state since T0
    queued = make_campaign(uow_factory, state="queued")
    creating_dead = make_campaign(uow_factory, state="creating")
    set_campaign(uow_factory, creating_dead, claimed_at=T0)
    creating_retry = make_campaign(uow_factory, state="creating")
    set_campaign(uow_factory, creating_retry, retry_at=at(5))
    adding_dead = make_campaign(uow_factory, state="adding", count=8, chunk_size=4, provider_campaign_id="x")
    set_chunks(uow_factory, adding_dead, 0, state="adding", state_changed_at=T0)
    adding_lost = make_campaign(uow_factory, state="adding", count=8, chunk_size=4, provider_campaign_id="y")
    set_chunks(uow_factory, adding_lost, 0, state="added", state_changed_at=at(2), added=4)
    launch_lost = make_campaign(uow_factory, state="adding", count=8, chunk_size=4, provider_campaign_id="z")
    set_chunks(uow_factory, launch_lost, state="added", state_changed_at=at(2), added=4)
    launching = make_campaign(uow_factory, state="launching")
    set_campaign(uow_factory, launching, claimed_at=T0)
    finishing = make_campaign(uow_factory, state="running")
    set_campaign(uow_factory, finishing, provider_status="DONE", retry_at=at(1))
    polling = make_campaign(uow_factory, state="running")
    set_campaign(uow_factory, polling, provider_status="RUNNING", next_poll_at=T0)
    paused = make_campaign(uow_factory, state="paused")
    ids = {queued, creating_dead, creating_retry, adding_dead, adding_lost, launch_lost, launching, finishing, polling,
           paused}

    # When the scanner looks within the stall time, only the queued campaign (not started
    # within one poll interval) is issued
    assert scan(uow_factory, ids, 0.5) == []
    assert scan(uow_factory, ids, 2) == [Next("create", queued)]
    assert scan(uow_factory, ids, STALL - 1) == [Next("create", queued)]

    # When it looks after the stall time, everything stuck is issued again, once
    nexts = scan(uow_factory, ids, STALL + 6)
    assert sorted(nexts, key=lambda n: n.campaign_id) == sorted(
        [
            Next("create", queued), Next("create", creating_dead), Next("create", creating_retry),
            Next("add", adding_dead), Next("add", adding_lost), Next("launch", launch_lost), Next("launch", launching),
            Next("final_statuses", finishing),
        ],
        key=lambda n: n.campaign_id,
    )


def test_work_that_is_moving_is_left_alone(sqlite_engine):
    uow_factory = lambda: UnitOfWork(sqlite_engine)  # noqa: E731
    # Given a chunk waiting for a retry due later than the stall time, and a fresh claim
    waiting = make_campaign(uow_factory, state="adding", count=4, provider_campaign_id="x")
    set_chunks(uow_factory, waiting, 0, retry_at=at(STALL + 100), state_changed_at=T0)
    claimed = make_campaign(uow_factory, state="creating")
    set_campaign(uow_factory, claimed, claimed_at=at(STALL))
    # Then neither is issued again at STALL + 10
    assert scan(uow_factory, {waiting, claimed}, STALL + 10) == []
    # But the chunk is once its retry is overdue by the stall time
    assert scan(uow_factory, {waiting, claimed}, 2 * STALL + 101) == [Next("create", claimed), Next("add", waiting)]


@pytest.mark.parametrize("failures", [0, 1])
def test_a_campaign_reaches_done_even_when_every_task_is_lost(sqlite_engine, failures):
    # Given a broker that loses every task the services schedule (Redis restarted empty, over
    # and over): only the periodic tick's own work gets through
    uow_factory = lambda: UnitOfWork(sqlite_engine)  # noqa: E731

    class LosingDriver(Driver):
        def step(self, step):
            super().step(step)
            return []

    fake = FakeProvider()
    if failures:
        fake.fail("add_chunk", "lost")
        fake.fail("launch", "lost")
    cid = make_campaign(uow_factory, count=9, chunk_size=4)
    driver = LosingDriver(uow_factory, fake, fast_settings(stall_seconds=STALL, poll_seconds=5))
    # When the pipeline runs on the scanner alone
    state = driver.run(cid)
    # Then the campaign is done all the same, each recipient added once, launched once
    assert state == "done"
    (remote,) = fake.campaigns.values()
    assert len(remote.messages) == 9
    assert len(fake.calls_to("launch")) == 1
    assert len(fake.calls_to("create_campaign")) == 1
