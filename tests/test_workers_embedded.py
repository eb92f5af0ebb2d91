"""The embedded runner: the workers' step functions run in one process on a timer heap,
a thread pool and the periodic tick, against SQLite, the fake provider and (for the
sandbox) the real simulator over HTTP."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest

from campaigns.providers.fake import FakeProvider
from campaigns.services.next import Next
from tests import pipeline_data
from tests.pipeline_data import campaign_row, chunk_rows, fast_settings, recipient_rows
from workers.context import build_context
from workers.embedded import EmbeddedRunner, SandboxProviders
from workers.tasks import RetryLater, run_step


class TimedFake(FakeProvider):
    """The fake provider, also noting when each chunk was added (monotonic seconds)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.add_times: list[float] = []
        self.threads: set[str] = set()

    def add_chunk(self, *args, **kw):
        self.add_times.append(time.monotonic())
        self.threads.add(threading.current_thread().name)
        return super().add_chunk(*args, **kw)


def make_campaign(uow_factory, **kw) -> int:
    """pipeline_data.make_campaign, stamped with the real time (the runner works in real time)."""
    return pipeline_data.make_campaign(uow_factory, now=datetime.now(timezone.utc), **kw)


def realtime(sqlite_url, **changes):
    # Real seconds this time: a fast poll, and stalls short enough to be seen in a test.
    timing = dict(poll_seconds=0.05, stall_seconds=5.0, retry_base_seconds=0.05, retry_cap_seconds=0.2)
    return fast_settings(database_url=sqlite_url, **{**timing, **changes})


def run(runner: EmbeddedRunner, campaign_id: int, first=None, timeout: float = 30.0) -> dict:
    if first is not None:
        runner.schedule(first)
    return runner.run([campaign_id], timeout=timeout)[campaign_id]


@pytest.fixture
def uow(sqlite_engine):
    from campaigns.store.uow import UnitOfWork

    return lambda: UnitOfWork(sqlite_engine)


def test_a_campaign_runs_from_queued_to_done_in_process(sqlite_url, sqlite_engine, uow):
    # Given a queued campaign of 10 recipients in chunks of 4
    fake = TimedFake()
    campaign_id = make_campaign(uow, count=10, chunk_size=4)
    settings = realtime(sqlite_url)
    # When the embedded runner runs its first step
    with EmbeddedRunner(settings, sqlite_engine, provider_factory=lambda name, s: fake) as runner:
        seen: list[str] = []
        runner.schedule(Next("create", campaign_id))
        status = runner.run([campaign_id], on_progress=lambda st: seen.append(st[campaign_id]["state"]),
                            timeout=30)[campaign_id]
    # Then it is done: every chunk added one at a time, every recipient with its message and final status
    assert status["state"] == "done", status
    assert [c.state for c in chunk_rows(uow, campaign_id)] == ["added"] * 3
    assert len(fake.calls_to("add_chunk")) == 3 and fake.max_concurrent_adds == 1
    recipients = recipient_rows(uow, campaign_id)
    assert all(r.message_id and r.final_status == "DELIVRD" for r in recipients)
    # and the progress callback watched it move
    assert seen[-1] == "done" and len(set(seen)) >= 2


def test_the_tick_starts_a_campaign_whose_first_step_was_lost(sqlite_url, sqlite_engine, uow):
    # Given a queued campaign and no step scheduled for it (a lost message)
    fake = FakeProvider()
    campaign_id = make_campaign(uow, count=3, chunk_size=2)
    # When the runner only ticks
    with EmbeddedRunner(realtime(sqlite_url), sqlite_engine, provider_factory=lambda n, s: fake) as runner:
        status = run(runner, campaign_id)
    # Then the scanner found it and it ran to the end
    assert status["state"] == "done"


def test_countdowns_are_honoured(sqlite_url, sqlite_engine, uow):
    # Given a provider that rate-limits the first add, asking for 0.4 s
    fake = TimedFake()
    fake.fail("add_chunk", "rate_limited", retry_after=0.4)
    campaign_id = make_campaign(uow, count=2, chunk_size=2)
    # When the campaign runs
    with EmbeddedRunner(realtime(sqlite_url), sqlite_engine, provider_factory=lambda n, s: fake) as runner:
        status = run(runner, campaign_id, Next("create", campaign_id))
    # Then the retry came no sooner than the provider asked, and it was not counted as a failure
    assert status["state"] == "done"
    assert len(fake.add_times) == 2
    assert fake.add_times[1] - fake.add_times[0] >= 0.4
    assert chunk_rows(uow, campaign_id)[0].retries == 0


def test_temporary_failures_are_retried_and_lost_responses_resent(sqlite_url, sqlite_engine, uow):
    # Given a provider whose adds fail twice and whose third add's response is lost
    fake = FakeProvider()
    fake.fail("add_chunk", "temporary", times=2)
    fake.fail("add_chunk", "lost")
    campaign_id = make_campaign(uow, count=6, chunk_size=3)
    with EmbeddedRunner(realtime(sqlite_url), sqlite_engine, provider_factory=lambda n, s: fake) as runner:
        status = run(runner, campaign_id, Next("create", campaign_id))
    # Then the campaign is done, each recipient added once, the resend counted as "already added"
    assert status["state"] == "done"
    assert status["recipients"]["added"] == 6 and status["recipients"]["rejected_by_provider"] == 0
    assert sum(len(c.messages) for c in fake.campaigns.values()) == 6
    assert any(call.kwargs["resend"] for call in fake.calls_to("add_chunk"))


def test_several_campaigns_progress_in_parallel_one_add_at_a_time_each(sqlite_url, sqlite_engine, uow):
    # Given three campaigns and a provider whose adds take a moment
    fake = TimedFake(add_delay=0.05)
    ids = [make_campaign(uow, count=8, chunk_size=2, name=f"c{i}") for i in range(3)]
    with EmbeddedRunner(realtime(sqlite_url), sqlite_engine, threads=4, provider_factory=lambda n, s: fake) as runner:
        for campaign_id in ids:
            runner.schedule(Next("create", campaign_id))
        statuses = runner.run(ids, timeout=60)
    # Then all are done, adds ran on several threads, never two at once for one campaign
    assert {s["state"] for s in statuses.values()} == {"done"}
    assert len(fake.threads) > 1
    assert fake.max_concurrent_adds >= 2  # the fake raises code 10 for two adds to one campaign at once
    assert all(c.state == "added" for i in ids for c in chunk_rows(uow, i))


def test_a_paused_campaign_ends_the_run(sqlite_url, sqlite_engine, uow):
    # Given recipients the provider refuses permanently (its stop-list)
    numbers = [f"7701{i:07d}" for i in range(6)]
    fake = FakeProvider(stop_list=numbers)
    campaign_id = make_campaign(uow, numbers=numbers, chunk_size=3)
    with EmbeddedRunner(realtime(sqlite_url), sqlite_engine, provider_factory=lambda n, s: fake) as runner:
        status = run(runner, campaign_id, Next("create", campaign_id))
    # Then the runner returns with the campaign paused (or failed) and its reason
    assert status["state"] in ("paused", "failed")
    assert status["error"]


def test_a_database_that_cannot_be_reached_asks_for_a_retry(tmp_path):
    # Given a context whose database cannot be opened
    settings = fast_settings(database_url=f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    context = build_context(settings, dispatcher=None)
    try:
        # When a step runs, then it asks to be run again later
        with pytest.raises(RetryLater) as caught:
            run_step(context, "add", 1, retries=2)
        assert caught.value.countdown > 0
    finally:
        context.close()


def test_a_step_for_a_campaign_that_is_gone_does_nothing(sqlite_url, sqlite_engine):
    scheduled = []

    class Recorder:
        def schedule(self, step):
            scheduled.append(step)

    context = build_context(realtime(sqlite_url), Recorder(), engine=sqlite_engine,
                            provider_factory=lambda n, s: FakeProvider())
    run_step(context, "add", 424242)
    assert scheduled == []


def test_the_sandbox_simulator_starts_on_first_use_and_stops_on_close(sqlite_url):
    # Given settings with no sandbox URL
    providers = SandboxProviders(realtime(sqlite_url))
    try:
        assert providers.simulator is None
        # When the sandbox provider is asked for, a simulator starts and the provider points at it
        provider = providers("sandbox", providers.settings)
        assert providers.simulator is not None
        assert providers.settings.sandbox_url.startswith("http://127.0.0.1:")
        provider.close()
    finally:
        providers.close()
    # Then closing stopped it
    assert providers.simulator is None


def test_a_sandbox_campaign_runs_end_to_end_against_the_simulator(sqlite_url, sqlite_engine, uow):
    # Given a template campaign for the sandbox provider and no simulator running
    campaign_id = make_campaign(uow, count=12, chunk_size=5, provider="sandbox", text="Hi {name}",
                                fields={"name": "Dana"})
    with EmbeddedRunner(realtime(sqlite_url, poll_seconds=0.2), sqlite_engine) as runner:
        status = run(runner, campaign_id, Next("create", campaign_id), timeout=60)
    # Then the in-process simulator took it through to DONE, with every message's final status
    assert status["state"] == "done", status
    assert status["provider_status"] == "DONE"
    assert status["counters"]["totalMsgNum"] == 12
    assert all(r.final_status for r in recipient_rows(uow, campaign_id))
    assert campaign_row(uow, campaign_id).provider_campaign_id
