"""Adding chunks: one at a time per campaign, every failure mode of the provider, the
pause threshold, reclaiming a chunk whose worker died, and bulk recording."""

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import event

from campaigns.providers.fake import FakeProvider
from campaigns.services.chunks import add_chunks, add_next_chunk
from campaigns.services.next import Next
from campaigns.services.resume import resume_campaign
from campaigns.store.engine import make_engine
from campaigns.store.uow import UnitOfWork
from tests.pipeline_data import (
    Driver, at, campaign_row, chunk_rows, created, fast_settings, make_campaign, phones, recipient_rows,
)


def test_each_chunk_is_followed_at_once_by_the_next_then_by_the_launch(uow_factory):
    # Given a campaign of two chunks
    fake, settings = FakeProvider(), fast_settings()
    cid = created(uow_factory, fake, settings, count=6, chunk_size=3)
    # When the chunks are added
    first = add_next_chunk(cid, uow_factory, fake, settings, now=at(1))
    second = add_next_chunk(cid, uow_factory, fake, settings, now=at(1))
    # Then the first asks for the next add without delay, the second for the launch
    assert first == [Next("add", cid)]
    assert second == [Next("launch", cid)]
    assert [(c.state, c.added, c.rejected, c.attempts) for c in chunk_rows(uow_factory, cid)] == [
        ("added", 3, 0, 1), ("added", 3, 0, 1),
    ]
    # And a third call finds nothing to add and points at the launch again (harmless duplicate)
    assert add_next_chunk(cid, uow_factory, fake, settings, now=at(2)) == [Next("launch", cid)]
    assert len(fake.calls_to("add_chunk")) == 2


def test_a_temporary_failure_is_retried_with_backoff(sqlite_uow):
    # Given a provider that fails the first add with a 5xx-like temporary error
    fake, settings = FakeProvider(), fast_settings(retry_base_seconds=4.0, retry_cap_seconds=100.0)
    cid = created(sqlite_uow, fake, settings, count=3)
    fake.fail("add_chunk", "temporary", code=999)
    # When the chunk is added
    (retry,) = add_next_chunk(cid, sqlite_uow, fake, settings, now=at(0))
    # Then it goes back to pending, retried after a jittered countdown within base * 2**0
    assert retry.action == "add" and 0 <= retry.countdown <= 4.0
    (chunk,) = chunk_rows(sqlite_uow, cid)
    assert (chunk.state, chunk.retries, chunk.maybe_sent) == ("pending", 1, False)
    assert "code 999" in chunk.error
    # And a task that arrives before the retry is due is told to wait for the rest
    if retry.countdown > 0.5:
        (early,) = add_next_chunk(cid, sqlite_uow, fake, settings, now=at(retry.countdown - 0.5))
        assert (early.action, early.countdown) == ("add", pytest.approx(0.5, abs=1e-3))
    # When the retry comes
    assert add_next_chunk(cid, sqlite_uow, fake, settings, now=at(retry.countdown)) == [Next("launch", cid)]
    # Then the chunk is added, its failure count reset, sent without resend (nothing reached the provider)
    (chunk,) = chunk_rows(sqlite_uow, cid)
    assert (chunk.state, chunk.retries, chunk.attempts, chunk.error) == ("added", 0, 2, None)
    assert [c.kwargs["resend"] for c in fake.calls_to("add_chunk")] == [False, False]


def test_backoff_grows_exponentially_and_gives_up_into_a_pause(sqlite_uow):
    # Given a provider that is down for longer than the retries allow (3)
    fake = FakeProvider()
    settings = fast_settings(max_transport_retries=3, retry_base_seconds=1.0, retry_cap_seconds=1000.0)
    cid = created(sqlite_uow, fake, settings, count=3)
    fake.fail("add_chunk", "temporary", times=4, message="HTTP 502 from https://api.mobizon.kz/x?apiKey=SECRET1234")
    # When the add is retried each time it is due
    now, countdowns = at(0), []
    for _ in range(4):
        nexts = add_next_chunk(cid, sqlite_uow, fake, settings, now=now)
        countdowns += [n.countdown for n in nexts]
        now += timedelta(seconds=(nexts[0].countdown if nexts else 0) + 0.001)
    # Then the countdowns stay under base * 2**(n-1), and the fourth failure pauses the campaign
    assert len(countdowns) == 3
    assert all(0 <= c <= 2**i for i, c in enumerate(countdowns))
    campaign = campaign_row(sqlite_uow, cid)
    assert campaign.state == "paused"
    assert "gave up adding chunk 1 of 1, source rows 1-3" in campaign.error and "4 failed attempts" in campaign.error
    assert "SECRET1234" not in campaign.error and "apiKey=***" in campaign.error
    (chunk,) = chunk_rows(sqlite_uow, cid)
    assert chunk.state == "pending"
    # When the user resumes it and the provider answers again
    assert resume_campaign(cid, sqlite_uow, now=now) == [Next("add", cid)]
    assert add_next_chunk(cid, sqlite_uow, fake, settings, now=now) == [Next("launch", cid)]
    # Then the chunk is added and the reason is gone
    assert campaign_row(sqlite_uow, cid).error is None
    assert chunk_rows(sqlite_uow, cid)[0].state == "added"


def test_a_lost_add_response_is_resent_and_code_4_counts_as_added(uow_factory):
    # Given a provider that adds the chunk and then loses the response
    fake, settings = FakeProvider(), fast_settings()
    cid = created(uow_factory, fake, settings, count=3)
    fake.fail("add_chunk", "lost")
    # When the chunk is added, then retried
    (retry,) = add_next_chunk(cid, uow_factory, fake, settings, now=at(0))
    (chunk,) = chunk_rows(uow_factory, cid)
    assert (chunk.state, chunk.maybe_sent) == ("pending", True)
    assert add_next_chunk(cid, uow_factory, fake, settings, now=at(retry.countdown)) == [Next("launch", cid)]
    # Then the resend said so, and the provider's code 4 counted every recipient as added
    assert [c.kwargs["resend"] for c in fake.calls_to("add_chunk")] == [False, True]
    (chunk,) = chunk_rows(uow_factory, cid)
    assert (chunk.state, chunk.added, chunk.rejected) == ("added", 3, 0)
    assert {r.provider_code for r in recipient_rows(uow_factory, cid)} == {4}
    # And the provider holds each recipient once
    (remote,) = fake.campaigns.values()
    assert sorted(remote.messages) == phones(3)


def test_a_resent_chunk_without_message_ids_still_gets_final_statuses(sqlite_uow):
    # Given a campaign whose only chunk was resent after a lost response (code 4: no messageId)
    fake, settings = FakeProvider(), fast_settings()
    cid = make_campaign(sqlite_uow, count=3)
    fake.fail("add_chunk", "lost")
    driver = Driver(sqlite_uow, fake, settings)
    # When it runs to the end
    driver.schedule([Next("create", cid)])
    assert driver.run(cid) == "done"
    # Then the final statuses were matched by phone, and the message ids learnt from them
    (remote,) = fake.campaigns.values()
    for r in recipient_rows(sqlite_uow, cid):
        assert (r.final_status, r.message_id) == ("DELIVRD", remote.messages[r.phone])


def test_rate_limiting_waits_as_asked_and_is_not_a_failure(sqlite_uow):
    # Given a provider that answers code 30 more times than the retry bound
    fake, settings = FakeProvider(), fast_settings(max_transport_retries=2)
    cid = created(sqlite_uow, fake, settings, count=3)
    fake.fail("add_chunk", "rate_limited", times=5, retry_after=7.5)
    # When the add is retried each time it is due
    now = at(0)
    for _ in range(5):
        (wait,) = add_next_chunk(cid, sqlite_uow, fake, settings, now=now)
        # Then each wait is what the provider asked, and never counts as a failure
        assert wait == Next("add", cid, countdown=7.5)
        assert chunk_rows(sqlite_uow, cid)[0].retries == 0
        now += timedelta(seconds=7.5)
    assert add_next_chunk(cid, sqlite_uow, fake, settings, now=now) == [Next("launch", cid)]
    assert campaign_row(sqlite_uow, cid).state == "adding"


def test_code_10_busy_campaign_is_temporary(sqlite_uow):
    fake, settings = FakeProvider(), fast_settings()
    cid = created(sqlite_uow, fake, settings, count=3)
    # Given the provider says the campaign is locked by another add (code 10)
    fake.fail("add_chunk", "busy")
    # When the chunk is added
    (retry,) = add_next_chunk(cid, sqlite_uow, fake, settings, now=at(0))
    # Then it is retried later, the campaign untouched
    assert retry.action == "add"
    assert chunk_rows(sqlite_uow, cid)[0].state == "pending"
    assert campaign_row(sqlite_uow, cid).state == "adding"


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("permanent", "the provider refused adding chunk 2 of 2, source rows 4-6: add_chunk: injected permanent failure"),
        ("auth", "the provider refused our credentials while adding chunk 2 of 2, source rows 4-6"),
    ],
)
def test_a_permanent_failure_fails_the_campaign_with_a_reason(sqlite_uow, kind, expected):
    fake, settings = FakeProvider(), fast_settings()
    cid = created(sqlite_uow, fake, settings, count=6, chunk_size=3)
    # Given the provider refuses the second chunk for good
    add_next_chunk(cid, sqlite_uow, fake, settings, now=at(0))
    fake.fail("add_chunk", kind)
    # When it is added
    assert add_next_chunk(cid, sqlite_uow, fake, settings, now=at(1)) == []
    # Then the campaign failed, with a reason a person understands; the chunk is failed too
    campaign = campaign_row(sqlite_uow, cid)
    assert campaign.state == "failed"
    assert expected in campaign.error
    if kind == "auth":
        assert "check the API key" in campaign.error
    assert [c.state for c in chunk_rows(sqlite_uow, cid)] == ["added", "failed"]
    # And nothing more is tried
    assert add_next_chunk(cid, sqlite_uow, fake, settings, now=at(2)) == []
    assert len(fake.calls_to("add_chunk")) == 2


def test_too_many_rejections_pause_the_campaign_after_a_full_chunk(sqlite_uow):
    # Given 12 recipients in chunks of 4, the first chunk half stop-listed, the second entirely
    numbers = phones(12)
    fake = FakeProvider(stop_list=numbers[:2] + numbers[4:8])
    settings = fast_settings(chunk_size=4, pause_after_permanent_failures=0.5)
    cid = created(sqlite_uow, fake, settings, numbers=numbers, chunk_size=4)
    # When the first chunk is added: 2 of 4 rejected is not more than half
    assert add_next_chunk(cid, sqlite_uow, fake, settings, now=at(1)) == [Next("add", cid)]
    # When the second is: 6 of 8 rejected
    assert add_next_chunk(cid, sqlite_uow, fake, settings, now=at(2)) == []
    # Then the campaign is paused, saying why
    campaign = campaign_row(sqlite_uow, cid)
    assert campaign.state == "paused"
    assert "rejected 6 of 8 recipients so far (75%" in campaign.error
    assert "the number is in the stop-list (6)" in campaign.error
    # When the user resumes it, only what follows is judged: the third chunk is clean
    resume_campaign(cid, sqlite_uow, now=at(3))
    assert add_next_chunk(cid, sqlite_uow, fake, settings, now=at(4)) == [Next("launch", cid)]
    assert campaign_row(sqlite_uow, cid).state == "adding"


def test_a_campaign_nobody_was_accepted_for_fails(sqlite_uow):
    numbers = phones(3)
    fake, settings = FakeProvider(codes={p: 6 for p in numbers}), fast_settings(pause_after_permanent_failures=1.0)
    cid = created(sqlite_uow, fake, settings, numbers=numbers)
    assert add_next_chunk(cid, sqlite_uow, fake, settings, now=at(1)) == []
    campaign = campaign_row(sqlite_uow, cid)
    assert campaign.state == "failed"
    assert campaign.error.startswith("no recipient was accepted by the provider")


def test_a_chunk_whose_worker_died_is_reclaimed_and_resent(uow_factory):
    # Given a worker that claimed the chunk, reached the provider and died before recording
    fake, settings = FakeProvider(), fast_settings(stall_seconds=30)
    cid = created(uow_factory, fake, settings, count=3)
    gate, entered = threading.Event(), threading.Event()

    class DyingProvider(FakeProvider):
        def add_chunk(self, *args, **kwargs):
            fake.add_chunk(*args, **kwargs)
            entered.set()
            gate.wait(5)
            raise SystemExit  # the worker is gone; nothing recorded

    dying = threading.Thread(target=lambda: _swallow(add_next_chunk, cid, uow_factory, DyingProvider(), settings, now=at(0)))
    dying.start()
    assert entered.wait(5)
    # When another task comes before the stall time, it leaves the chunk alone
    assert add_next_chunk(cid, uow_factory, fake, settings, now=at(10)) == []
    # When it comes after the stall time
    assert add_next_chunk(cid, uow_factory, fake, settings, now=at(31)) == [Next("launch", cid)]
    gate.set()
    dying.join(5)
    # Then it reclaimed the chunk and resent it, and the duplicates counted as added
    (chunk,) = chunk_rows(uow_factory, cid)
    assert (chunk.state, chunk.attempts, chunk.added, chunk.rejected) == ("added", 2, 3, 0)
    assert [c.kwargs["resend"] for c in fake.calls_to("add_chunk")] == [False, True]


def test_a_late_answer_from_a_reclaimed_chunk_is_discarded(sqlite_uow):
    # Given a chunk claimed by a slow worker, then reclaimed by another after the stall time
    fake, settings = FakeProvider(), fast_settings(stall_seconds=30)
    cid = created(sqlite_uow, fake, settings, count=3)
    slow_gate, slow_entered = threading.Event(), threading.Event()

    class SlowProvider(FakeProvider):
        def add_chunk(self, *args, **kwargs):
            slow_entered.set()
            slow_gate.wait(5)
            return fake.add_chunk(*args, **kwargs)

    results = []
    slow = threading.Thread(
        target=lambda: results.append(add_next_chunk(cid, sqlite_uow, SlowProvider(), settings, now=at(0)))
    )
    slow.start()
    assert slow_entered.wait(5)
    assert add_next_chunk(cid, sqlite_uow, fake, settings, now=at(31)) == [Next("launch", cid)]
    # When the slow worker's answer finally arrives
    slow_gate.set()
    slow.join(5)
    # Then it changes nothing: the chunk stays as the reclaiming worker recorded it
    assert results == [[]]
    (chunk,) = chunk_rows(sqlite_uow, cid)
    assert (chunk.state, chunk.attempts, chunk.added) == ("added", 2, 3)
    assert {r.provider_code for r in recipient_rows(sqlite_uow, cid)} == {0}


def test_outcomes_of_a_full_chunk_are_written_in_one_statement(engine):
    # Given a chunk of 500 recipients
    uow_factory = lambda: UnitOfWork(engine)  # noqa: E731
    fake, settings = FakeProvider(), fast_settings()
    cid = created(uow_factory, fake, settings, count=500, chunk_size=500)
    updates = []

    def count_updates(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("UPDATE RECIPIENTS", "UPDATE RECIPIENTS AS R")):
            updates.append((executemany, len(parameters) if executemany else 1))

    event.listen(engine, "before_cursor_execute", count_updates)
    # When it is added
    try:
        assert add_next_chunk(cid, uow_factory, fake, settings, now=at(1)) == [Next("launch", cid)]
    finally:
        event.remove(engine, "before_cursor_execute", count_updates)
    # Then the 500 outcomes went to the database in one statement: an executemany on
    # SQLite, one UPDATE … FROM unnest(…) on PostgreSQL; never 500 round trips
    expected = [(False, 1)] if engine.dialect.name == "postgresql" else [(True, 500)]
    assert updates == expected
    recipients = recipient_rows(uow_factory, cid)
    assert all(r.provider_code == 0 and r.message_id for r in recipients)
    assert len({r.message_id for r in recipients}) == 500


def test_two_concurrent_claims_for_one_campaign_only_one_wins(pg_url):
    # Given a campaign with many chunks on PostgreSQL, and a provider slow enough to overlap
    engine = make_engine(pg_url, pool_size=4)
    uow_factory = lambda: UnitOfWork(engine)  # noqa: E731
    fake, settings = FakeProvider(add_delay=0.05), fast_settings()
    try:
        cid = created(uow_factory, fake, settings, count=40, chunk_size=2)
        results: list[list] = []
        lock = threading.Lock()

        def worker(barrier, stagger):
            barrier.wait()
            time.sleep(stagger)
            nexts = add_next_chunk(cid, uow_factory, fake, settings)
            with lock:
                results.append(nexts)

        # When two workers race for the campaign's next chunk, round after round: at the
        # same instant (same chunk), or the second while the first is at the provider
        for round_ in range(10):
            barrier = threading.Barrier(2)
            stagger = (round_ % 5) * 0.01
            threads = [threading.Thread(target=worker, args=(barrier, s)) for s in (0.0, stagger)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(10)
        # Then never two adds at once; each call added one chunk or found the campaign
        # busy; every round added one (two when, on a slow machine, the second call came
        # after the first had finished: then it found the next chunk free), and every
        # chunk added was added once, in order
        assert fake.max_concurrent_adds == 1
        added = sum(len(r) for r in results)
        assert all(len(r) <= 1 for r in results) and 10 <= added <= 20
        chunks = chunk_rows(uow_factory, cid)
        assert [c.state for c in chunks] == ["added"] * added + ["pending"] * (20 - added)
        assert all(c.attempts == 1 for c in chunks[:added])
    finally:
        engine.dispose()



# -- going on with the next chunks in the same call (add_chunks) -----------------------------
class Ticks:
    """A clock that moves ``step`` seconds each time it is read."""

    def __init__(self, step: float):
        self.step, self.t = step, 0.0

    def __call__(self) -> float:
        self.t += self.step
        return self.t


def count_commits(engine) -> list:
    commits: list = []
    event.listen(engine, "commit", lambda conn: commits.append(1))
    return commits


def test_chunks_go_on_in_one_call_each_claimed_with_the_previous_outcomes(engine):
    # Given a campaign of five chunks
    uow_factory = lambda: UnitOfWork(engine)  # noqa: E731
    fake, settings = FakeProvider(), fast_settings()
    cid = created(uow_factory, fake, settings, count=15, chunk_size=3)
    commits = count_commits(engine)
    # When one call has time for all of them
    nexts = add_chunks(cid, uow_factory, fake, settings, now=at(1), budget=60.0)
    # Then every chunk is added in order, once, and the campaign goes to its launch
    assert nexts == [Next("launch", cid)]
    assert [(c.state, c.added, c.attempts) for c in chunk_rows(uow_factory, cid)] == [("added", 3, 1)] * 5
    assert [c.args[1] for c in fake.calls_to("add_chunk")] == [f"{cid}:{seq}" for seq in range(5)]
    assert fake.max_concurrent_adds == 1
    # and one transaction a chunk while it was at the provider (recording the one before,
    # claiming the one after), plus the first claim and the last recording: seven, where
    # one chunk a call takes ten
    assert len(commits) == 7


def test_chunks_stop_going_on_when_the_budget_runs_out_and_none_is_left_claimed(uow_factory):
    # Given a campaign of five chunks and a clock moving one second at each look
    fake, settings = FakeProvider(), fast_settings()
    cid = created(uow_factory, fake, settings, count=15, chunk_size=3)
    # When a call has a budget of 2.5 seconds
    nexts = add_chunks(cid, uow_factory, fake, settings, now=at(1), budget=2.5, clock=Ticks(1.0))
    # Then it stops after some chunks, asking for the next add at once
    assert nexts == [Next("add", cid)]
    states = [c.state for c in chunk_rows(uow_factory, cid)]
    done = states.count("added")
    assert 1 <= done < 5 and states == ["added"] * done + ["pending"] * (5 - done)
    # (no chunk is left claimed by a call that has returned: the next call takes the next one)
    assert add_next_chunk(cid, uow_factory, fake, settings, now=at(2)) == [Next("add", cid)]
    assert [c.state for c in chunk_rows(uow_factory, cid)].count("added") == done + 1


@pytest.mark.parametrize("waiting, added", [(True, 1), (False, 5)])
def test_after_its_turn_a_call_hands_the_campaign_back_only_when_others_wait(sqlite_uow, waiting, added):
    # Given a campaign of five chunks, a call with a long budget whose turn is already over
    fake, settings = FakeProvider(), fast_settings()
    cid = created(sqlite_uow, fake, settings, count=15, chunk_size=3)
    looks = []

    def others_waiting() -> bool:
        looks.append(1)
        return waiting

    # When it adds the campaign's chunks
    nexts = add_chunks(cid, sqlite_uow, fake, settings, now=at(1), budget=60.0, clock=lambda: 0.0, turn=0.0,
                       others_waiting=others_waiting)
    # Then it stops after one chunk when other work waits, else goes on to the end
    assert nexts == ([Next("add", cid)] if waiting else [Next("launch", cid)])
    assert [c.state for c in chunk_rows(sqlite_uow, cid)] == ["added"] * added + ["pending"] * (5 - added)
    assert looks


def test_a_worker_shutting_down_hands_the_campaign_back_after_the_chunk_in_flight(sqlite_uow):
    # Given a campaign of five chunks, a call with a long budget whose turn is not over,
    # and a worker that starts shutting down while the second chunk is at the provider
    fake, settings = FakeProvider(), fast_settings()
    cid = created(sqlite_uow, fake, settings, count=15, chunk_size=3)

    def stopping() -> bool:
        return len(fake.calls_to("add_chunk")) >= 2

    # When it adds the campaign's chunks
    nexts = add_chunks(cid, sqlite_uow, fake, settings, now=at(1), budget=60.0, clock=lambda: 0.0, turn=30.0,
                       others_waiting=lambda: False, stopping=stopping)
    # Then it stops once that chunk's answer is recorded, leaving nothing claimed, and
    # hands the campaign back for the next chunk at once
    assert nexts == [Next("add", cid)]
    assert [c.state for c in chunk_rows(sqlite_uow, cid)] == ["added"] * 2 + ["pending"] * 3
    assert len(fake.calls_to("add_chunk")) == 2


def test_without_a_budget_one_chunk_is_added(sqlite_uow):
    fake, settings = FakeProvider(), fast_settings()
    cid = created(sqlite_uow, fake, settings, count=9, chunk_size=3)
    assert add_chunks(cid, sqlite_uow, fake, settings, now=at(1)) == [Next("add", cid)]
    assert [c.state for c in chunk_rows(sqlite_uow, cid)] == ["added", "pending", "pending"]


class FailsThirdAdd(FakeProvider):
    """Fails its third AddRecipients call with a temporary error (code 999)."""

    def add_chunk(self, *args, **kwargs):
        if len(self.calls_to("add_chunk")) == 2:
            self.fail("add_chunk", "temporary", code=999)
        return super().add_chunk(*args, **kwargs)


def test_a_failure_while_going_on_returns_the_retry_with_its_backoff(sqlite_uow):
    # Given a campaign of five chunks and a provider failing the third add
    fake, settings = FailsThirdAdd(), fast_settings(retry_base_seconds=4.0, retry_cap_seconds=100.0)
    cid = created(sqlite_uow, fake, settings, count=15, chunk_size=3)
    # When one call has time for all of them
    (retry,) = add_chunks(cid, sqlite_uow, fake, settings, now=at(1), budget=60.0)
    # Then it stops at the failure and returns the retry with its backoff
    assert retry.action == "add" and 0 <= retry.countdown <= 4.0
    chunks = chunk_rows(sqlite_uow, cid)
    assert [(c.state, c.retries) for c in chunks] == [("added", 0)] * 2 + [("pending", 1)] + [("pending", 0)] * 2
    assert len(fake.calls_to("add_chunk")) == 3


class ListPacer:
    """A pacer whose waits come from a list (then 0), one lane, noting each acquire."""

    lanes = 1

    def __init__(self, waits):
        self.waits, self.acquired = list(waits), 0

    def acquire(self, key, rate_limit, rate_period, *, now=None) -> float:
        self.acquired += 1
        return self.waits.pop(0) if self.waits else 0.0

    def first(self, key) -> bool:
        return False


def test_a_paced_campaign_passes_the_pace_gate_before_each_chunk_it_goes_on_with(sqlite_uow):
    # Given a campaign sent message by message, whose pace allows two packets, then waits 7 s
    fake, settings = FakeProvider(server_side_campaigns=False), fast_settings()
    cid = created(sqlite_uow, fake, settings, count=15, chunk_size=3)
    pacer = ListPacer([0.0, 0.0, 7.0])
    # When one call has time for all of them
    nexts = add_chunks(cid, sqlite_uow, fake, settings, now=at(1), pacer=pacer, budget=60.0)
    # Then two chunks went, each through the gate, and the third waits for its slots
    assert nexts == [Next("add", cid, countdown=7.0)]
    assert pacer.acquired == 3
    assert [c.state for c in chunk_rows(sqlite_uow, cid)] == ["added"] * 2 + ["pending"] * 3


def test_two_calls_going_on_with_one_campaign_never_add_two_chunks_at_once(pg_url):
    # Given a campaign of many chunks on PostgreSQL and a provider slow enough to overlap
    engine = make_engine(pg_url, pool_size=4)
    uow_factory = lambda: UnitOfWork(engine)  # noqa: E731
    fake, settings = FakeProvider(add_delay=0.01), fast_settings()
    try:
        cid = created(uow_factory, fake, settings, count=40, chunk_size=2)
        results: list[list] = []
        barrier = threading.Barrier(2)

        def worker():
            barrier.wait()
            results.append(add_chunks(cid, uow_factory, fake, settings, budget=60.0))

        # When two workers go on with it at the same time (a duplicated task)
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        # Then one of them added every chunk, one at a time, each once; the other found it busy
        assert sorted(results, key=len) == [[], [Next("launch", cid)]]
        assert fake.max_concurrent_adds == 1 and len(fake.calls_to("add_chunk")) == 20
        assert all((c.state, c.attempts) == ("added", 1) for c in chunk_rows(uow_factory, cid))
    finally:
        engine.dispose()


def _swallow(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except SystemExit:
        pass
