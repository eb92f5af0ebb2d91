"""What a worker process prepares before its first task, and how its long tasks learn that
the worker shuts down."""

from __future__ import annotations

import multiprocessing
import threading
import time

from campaigns.providers.fake import FakeProvider
from campaigns.services.create import create_at_provider
from campaigns.services.next import Next
from campaigns.settings import SettingsError
from campaigns.store.uow import UnitOfWork
from tests.pipeline_data import chunk_rows, fast_settings, make_campaign
from workers.context import build_context
from workers.embedded import TICK, EmbeddedRunner, _Timer
from workers.shutdown import ShutdownFlag
from workers.tasks import run_step


class Recorder:
    def __init__(self):
        self.scheduled: list[Next] = []

    def schedule(self, step: Next) -> None:
        self.scheduled.append(step)


def _report(flag: ShutdownFlag, seen, go) -> None:
    seen.put(flag.is_set())  # before the parent sets it
    go.wait(10)
    seen.put(flag.is_set())  # after


def test_a_child_forked_before_the_flag_is_set_sees_it_set():
    # Given a flag made before a process is forked (as the worker's pool is)
    flag = ShutdownFlag()
    ctx = multiprocessing.get_context("fork")
    seen, go = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=_report, args=(flag, seen, go))
    child.start()
    try:
        assert seen.get(timeout=10) is False
        # When the parent sets it
        flag.set()
        go.set()
        # Then the child reads it set
        assert seen.get(timeout=10) is True
    finally:
        child.join(10)
    assert child.exitcode == 0


def test_warming_builds_the_configured_providers_and_skips_the_others(sqlite_engine):
    # Given a context whose factory knows one configured provider
    built = []

    def factory(name, settings):
        if name != "fake":
            raise SettingsError(f"{name} is not configured")
        built.append(name)
        return FakeProvider()

    ctx = build_context(fast_settings(), Recorder(), engine=sqlite_engine, provider_factory=factory)
    # When the process warms up with every known name
    ctx.warm(["fake", "mobizon", "sandbox"])
    # Then the configured one is built once and kept for the first task; the others are left
    assert built == ["fake"]
    assert ctx.provider("fake") is ctx.provider("fake") and built == ["fake"]


def test_warming_with_the_database_down_leaves_the_error_to_the_first_task(tmp_path):
    from campaigns.store.engine import make_engine

    engine = make_engine(f"sqlite:///{tmp_path}/missing/dir/db.sqlite")
    ctx = build_context(fast_settings(), Recorder(), engine=engine, provider_factory=lambda n, s: FakeProvider())
    try:
        ctx.warm(["fake"])  # does not raise
    finally:
        engine.dispose()


def test_an_add_task_hands_its_campaign_back_when_the_worker_stops(sqlite_url, sqlite_engine):
    # Given a campaign of four chunks and a worker that is already shutting down
    uow = lambda: UnitOfWork(sqlite_engine)  # noqa: E731
    fake, recorder = FakeProvider(), Recorder()
    settings = fast_settings(database_url=sqlite_url)
    ctx = build_context(settings, recorder, engine=sqlite_engine, provider_factory=lambda n, s: fake,
                        stopping=lambda: True)
    cid = make_campaign(uow, count=12, chunk_size=3)
    assert create_at_provider(cid, uow, fake, settings) == [Next("add", cid)]
    # When an add task runs
    run_step(ctx, "add", cid)
    # Then it adds one chunk and hands the campaign back at once, nothing left claimed
    assert [c.state for c in chunk_rows(uow, cid)] == ["added"] + ["pending"] * 3
    assert recorder.scheduled == [Next("add", cid)]


def test_closing_the_embedded_runner_stops_long_steps(sqlite_engine):
    runner = EmbeddedRunner(fast_settings(), sqlite_engine, threads=1, provider_factory=lambda n, s: FakeProvider())
    assert runner.context.stopping() is False
    runner.close()
    assert runner.context.stopping() is True


def test_the_embedded_runner_says_when_a_step_waits_for_a_thread(sqlite_engine):
    # Given an embedded runner whose only thread is busy
    runner = EmbeddedRunner(fast_settings(), sqlite_engine, threads=1, provider_factory=lambda n, s: FakeProvider())
    release = threading.Event()
    try:
        runner._pool.submit(release.wait, 10)
        assert runner.waiting() is False
        # When a due step (a tick) is handed to the pool
        runner._submit(_Timer(0.0, 0, TICK))
        # Then it waits for the thread until the busy one ends
        assert runner.waiting() is True
        release.set()
        deadline = time.monotonic() + 10
        while runner.waiting() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert runner.waiting() is False
    finally:
        release.set()
        runner.close()
