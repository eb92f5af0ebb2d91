"""The add task goes on with its campaign's next chunks in the same task, and dispatches
everything else as before."""

from __future__ import annotations

import time

import pytest

from campaigns.providers.fake import FakeProvider
from campaigns.services.create import create_at_provider
from campaigns.services.next import Next
from campaigns.store.uow import UnitOfWork
from tests.pipeline_data import chunk_rows, fast_settings, make_campaign
from workers.context import build_context
from workers.tasks import run_step


class Recorder:
    """A dispatcher noting what it is given."""

    def __init__(self):
        self.scheduled: list[Next] = []

    def schedule(self, step: Next) -> None:
        self.scheduled.append(step)


class FailsThirdAdd(FakeProvider):
    """Fails its third AddRecipients call with a temporary error (code 999)."""

    def add_chunk(self, *args, **kwargs):
        if len(self.calls_to("add_chunk")) == 2:
            self.fail("add_chunk", "temporary", code=999)
        return super().add_chunk(*args, **kwargs)


@pytest.fixture
def uow(sqlite_engine):
    return lambda: UnitOfWork(sqlite_engine)


def adding_campaign(uow, fake, settings, chunks: int) -> int:
    cid = make_campaign(uow, count=3 * chunks, chunk_size=3)
    assert create_at_provider(cid, uow, fake, settings) == [Next("add", cid)]
    return cid


def context(sqlite_url, sqlite_engine, fake, recorder):
    settings = fast_settings(database_url=sqlite_url, retry_base_seconds=0.05, retry_cap_seconds=0.05)
    return build_context(settings, recorder, engine=sqlite_engine, provider_factory=lambda name, s: fake)


def test_one_add_task_adds_every_chunk_then_dispatches_the_launch(sqlite_url, sqlite_engine, uow):
    # Given a campaign of five chunks and a provider that accepts everything
    fake, recorder = FakeProvider(), Recorder()
    ctx = context(sqlite_url, sqlite_engine, fake, recorder)
    cid = adding_campaign(uow, fake, ctx.settings, chunks=5)
    # When a single add task runs
    run_step(ctx, "add", cid)
    # Then it added every chunk, one at a time, and dispatched only the launch
    assert [c.state for c in chunk_rows(uow, cid)] == ["added"] * 5
    assert len(fake.calls_to("add_chunk")) == 5 and fake.max_concurrent_adds == 1
    assert recorder.scheduled == [Next("launch", cid)]


def test_a_failure_mid_task_dispatches_the_retry_with_its_countdown(sqlite_url, sqlite_engine, uow):
    # Given a campaign of five chunks and a provider failing the third add
    fake, recorder = FailsThirdAdd(), Recorder()
    ctx = context(sqlite_url, sqlite_engine, fake, recorder)
    cid = adding_campaign(uow, fake, ctx.settings, chunks=5)
    # When a single add task runs
    run_step(ctx, "add", cid)
    # Then it stopped at the failure and dispatched the retry through the dispatcher
    (retry,) = recorder.scheduled
    assert retry.action == "add" and retry.campaign_id == cid and 0 <= retry.countdown <= 0.05
    assert [c.state for c in chunk_rows(uow, cid)] == ["added"] * 2 + ["pending"] * 3
    # And the retry's task, once due, goes on to the end and dispatches the launch
    recorder.scheduled.clear()
    time.sleep(0.06)
    run_step(ctx, "add", cid)
    assert [c.state for c in chunk_rows(uow, cid)] == ["added"] * 5
    assert recorder.scheduled == [Next("launch", cid)]
