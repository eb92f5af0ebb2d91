"""Pipelined adds (chunk_pipeline): while a chunk is at the provider, the previous one's
outcomes are recorded and the next one claimed, but the next one is sent only after a
successful answer that does not pause the campaign; a failure gives it back unsent, and a
worker killed with two chunks ``adding`` loses and doubles nothing."""

import threading
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from campaigns.providers.fake import FakeProvider
from campaigns.providers.mobizon import MobizonProvider
from campaigns.services.chunks import add_chunks
from campaigns.services.next import Next
from campaigns.services.recover import scan_stalled
from campaigns.store.uow import UnitOfWork
from tests.mobizon_fake import FakeMobizon, make_client, ok
from tests.pipeline_data import at, campaign_row, chunk_rows, created, fast_settings, phones

WAIT = 10.0  # seconds a test waits for another thread before failing; never a timing assertion


def states(uow_factory, cid) -> list[str]:
    return [c.state for c in chunk_rows(uow_factory, cid)]


class FailsCall(FakeProvider):
    """Fails its AddRecipients call number ``n`` (from 0) as ``kind``."""

    def __init__(self, n: int, kind: str, **kw):
        super().__init__(**kw)
        self.n, self.kind = n, kind

    def add_chunk(self, *args, **kwargs):
        if len(self.calls_to("add_chunk")) == self.n:
            self.fail("add_chunk", self.kind, retry_after=5.0)
        return super().add_chunk(*args, **kwargs)


def test_while_a_chunk_is_at_the_provider_the_previous_is_recorded_and_the_next_claimed(engine):
    # Given a campaign of five chunks, and a provider that, during each call, waits for
    # the worker's transaction of that moment and looks at the chunks as stored
    uow_factory = lambda: UnitOfWork(engine)  # noqa: E731
    fake, settings = FakeProvider(), fast_settings()
    cid = created(uow_factory, fake, settings, count=15, chunk_size=3)
    committed = threading.Condition()
    commits = [0]

    worker = threading.get_ident()

    def on_commit(session):
        if threading.get_ident() != worker:
            return  # the provider's own look below
        with committed:
            commits[0] += 1
            committed.notify_all()

    seen: list[list[str]] = []

    class Looking(FakeProvider):
        def add_chunk(self, *args, **kwargs):
            k = len(seen)
            # one commit for the first claim, then one per chunk sent (chunk k's is the k+2nd);
            # the last chunk's transaction finds nothing to claim
            with committed:
                assert committed.wait_for(lambda: commits[0] >= k + 2, timeout=WAIT)
            seen.append(states(uow_factory, cid))
            return fake.add_chunk(*args, **kwargs)

    event.listen(Session, "after_commit", on_commit)
    try:
        # When one call adds them all
        assert add_chunks(cid, uow_factory, Looking(), settings, now=at(1), budget=60.0) == [Next("launch", cid)]
    finally:
        event.remove(Session, "after_commit", on_commit)
    # Then while chunk k was at the provider, chunk k-1 was already recorded and chunk
    # k+1 claimed (adding, not yet sent): both off the path between two calls
    assert seen == [
        ["adding", "adding", "pending", "pending", "pending"],
        ["added", "adding", "adding", "pending", "pending"],
        ["added", "added", "adding", "adding", "pending"],
        ["added", "added", "added", "adding", "adding"],
        ["added", "added", "added", "added", "adding"],
    ]
    # and the provider still got one chunk at a time, in order, each once
    assert [c.args[1] for c in fake.calls_to("add_chunk")] == [f"{cid}:{seq}" for seq in range(5)]
    assert fake.max_concurrent_adds == 1
    assert [(c.state, c.added, c.attempts) for c in chunk_rows(uow_factory, cid)] == [("added", 3, 1)] * 5


@pytest.mark.parametrize("kind, chunk, campaign", [
    ("temporary", "pending", "adding"),
    ("lost", "pending", "adding"),
    ("busy", "pending", "adding"),
    ("rate_limited", "pending", "adding"),
    ("permanent", "failed", "failed"),
])
def test_a_failed_chunk_stops_the_pipeline_and_the_next_is_given_back_unsent(sqlite_uow, kind, chunk, campaign):
    # Given five chunks and a provider failing the third call; the fourth chunk is claimed
    # while the third is at the provider
    fake, settings = FailsCall(2, kind), fast_settings()
    cid = created(sqlite_uow, fake, settings, count=15, chunk_size=3)
    # When one call goes on with the campaign
    nexts = add_chunks(cid, sqlite_uow, fake, settings, now=at(1), budget=60.0)
    # Then the fourth chunk was never sent, and is pending again, as if never claimed
    assert len(fake.calls_to("add_chunk")) == 3
    rows = chunk_rows(sqlite_uow, cid)
    assert [r.state for r in rows] == ["added", "added", chunk, "pending", "pending"]
    assert (rows[3].maybe_sent, rows[3].retries, rows[3].retry_at) == (False, 0, None)
    assert campaign_row(sqlite_uow, cid).state == campaign
    if campaign == "failed":
        assert nexts == []
        return
    # and the failed chunk waits for its retry as on the normal path
    (retry,) = nexts
    assert retry.action == "add" and retry.countdown > 0
    # When the retry comes, the rest goes in order, the failed chunk first
    assert add_chunks(cid, sqlite_uow, fake, settings, now=at(400), budget=60.0) == [Next("launch", cid)]
    assert states(sqlite_uow, cid) == ["added"] * 5
    assert [c.args[1] for c in fake.calls_to("add_chunk")][3:] == [f"{cid}:{seq}" for seq in (2, 3, 4)]
    assert fake.max_concurrent_adds == 1
    assert len(fake.campaigns[str(1001)].messages) == 15


def test_rejections_that_pause_the_campaign_stop_the_next_chunk_before_it_is_sent(sqlite_uow):
    # Given chunks of 4, the second entirely stop-listed: 4 of 8 rejected is not more than
    # half, the third also stop-listed: 8 of 12 is
    numbers = phones(20)
    fake = FakeProvider(stop_list=numbers[4:12])
    settings = fast_settings(chunk_size=4, pause_after_permanent_failures=0.5)
    cid = created(sqlite_uow, fake, settings, numbers=numbers, chunk_size=4)
    # When one call goes on with the campaign (the fourth chunk is claimed meanwhile)
    assert add_chunks(cid, sqlite_uow, fake, settings, now=at(1), budget=60.0) == []
    # Then the campaign paused after the third chunk, and the fourth was never sent
    assert len(fake.calls_to("add_chunk")) == 3
    assert states(sqlite_uow, cid) == ["added", "added", "added", "pending", "pending"]
    campaign = campaign_row(sqlite_uow, cid)
    assert campaign.state == "paused" and "rejected 8 of 12 recipients so far" in campaign.error


def scripted_mobizon(code_of) -> tuple[FakeMobizon, MobizonProvider]:
    """Mobizon on httpx.MockTransport: campaign 55, and each AddRecipients call (numbered
    from 1) answered with one result a number, whose code is ``code_of(call, number)``
    (None: the result has no code)."""
    mobizon = FakeMobizon()

    def add(request):
        call = len(mobizon.calls("campaign/addRecipients"))
        numbers = [v for k, v in parse_qsl(request.content.decode()) if k.startswith("recipients")]
        items = []
        for i, number in enumerate(numbers):
            item = {"recipient": number, "messageId": f"{call}-{i}", "type": "number", "number": number}
            code = code_of(call, number)
            if code is not None:
                item["code"] = code
            items.append(item)
        added = sum(1 for item in items if item.get("code") == 0)
        return ok(items, code=0 if added == len(items) else (98 if added else 99))

    mobizon.reply("campaign/create", ok("55")).reply("campaign/addRecipients", add)
    return mobizon, MobizonProvider(make_client(mobizon))


def test_an_answer_mobizon_sends_unreadable_stops_the_next_chunk_before_it_is_sent(sqlite_uow):
    # Given three chunks at Mobizon, whose answer to the second holds a result without a
    # code (the third chunk is claimed and encoded while the second is at Mobizon)
    mobizon, provider = scripted_mobizon(lambda call, number: None if (call, number[-1]) == (2, "4") else 0)
    settings = fast_settings()
    cid = created(sqlite_uow, provider, settings, count=9, chunk_size=3)
    # When one call goes on with the campaign
    nexts = add_chunks(cid, sqlite_uow, provider, settings, now=at(1), budget=60.0)
    # Then the second answer was refused before the third chunk went: it is given back
    # unsent, the second waits for its retry (it may be added: resent, code 4 counts)
    assert len(mobizon.calls("campaign/addRecipients")) == 2
    assert states(sqlite_uow, cid) == ["added", "pending", "pending"]
    second = chunk_rows(sqlite_uow, cid)[1]
    assert second.maybe_sent and second.retries == 1 and "unreadable answer" in second.error
    assert [n.action for n in nexts] == ["add"] and nexts[0].countdown > 0
    assert campaign_row(sqlite_uow, cid).state == "adding"


def test_rejections_in_a_mobizon_answer_pause_the_campaign_before_the_next_chunk_is_sent(sqlite_uow):
    # Given chunks of 4 at Mobizon, the second and third answered "not international
    # format" (code 3) for every number: 8 of 12 rejected is more than half
    mobizon, provider = scripted_mobizon(lambda call, number: 3 if call in (2, 3) else 0)
    settings = fast_settings(chunk_size=4, pause_after_permanent_failures=0.5)
    cid = created(sqlite_uow, provider, settings, count=20, chunk_size=4)
    # When one call goes on with the campaign (the fourth chunk claimed meanwhile)
    assert add_chunks(cid, sqlite_uow, provider, settings, now=at(1), budget=60.0) == []
    # Then the counts handed over with the third answer paused the campaign, and the
    # fourth chunk was never sent
    assert len(mobizon.calls("campaign/addRecipients")) == 3
    assert states(sqlite_uow, cid) == ["added", "added", "added", "pending", "pending"]
    campaign = campaign_row(sqlite_uow, cid)
    assert campaign.state == "paused" and "rejected 8 of 12 recipients so far" in campaign.error


def test_a_worker_killed_with_two_chunks_adding_loses_and_doubles_nothing(uow_factory):
    # Given a worker killed right after the provider added its third chunk: the fourth
    # was claimed meanwhile, never sent; both stay `adding`, the third's answer unrecorded
    fake, settings = FakeProvider(), fast_settings(stall_seconds=30)
    cid = created(uow_factory, fake, settings, count=15, chunk_size=3)

    class Killed(FakeProvider):
        def add_chunk(self, *args, **kwargs):
            outcomes = fake.add_chunk(*args, **kwargs)
            if len(fake.calls_to("add_chunk")) == 3:
                raise SystemExit  # the worker is gone
            return outcomes

    with pytest.raises(SystemExit):
        add_chunks(cid, uow_factory, Killed(), settings, now=at(0), budget=60.0)
    assert states(uow_factory, cid) == ["added", "added", "adding", "adding", "pending"]
    # When a task comes before the stall time, it leaves them alone; the scanner too
    assert add_chunks(cid, uow_factory, fake, settings, now=at(10), budget=60.0) == []
    # (only this campaign: the PostgreSQL database is shared by the session's tests)
    assert [n for n in scan_stalled(uow_factory, settings, now=at(10)) if n.campaign_id == cid] == []
    # When the stall time has passed, the scanner finds the campaign
    assert Next("add", cid) in scan_stalled(uow_factory, settings, now=at(31))
    # and its add reclaims and resends both chunks, then goes on to the end
    assert add_chunks(cid, uow_factory, fake, settings, now=at(31), budget=60.0) == [Next("launch", cid)]
    # Then every recipient is in the campaign once, each chunk counted in full
    calls = fake.calls_to("add_chunk")
    assert [(c.args[1], c.kwargs["resend"]) for c in calls] == [
        (f"{cid}:0", False), (f"{cid}:1", False), (f"{cid}:2", False),
        (f"{cid}:2", True), (f"{cid}:3", True), (f"{cid}:4", False),
    ]
    assert [(c.state, c.added, c.rejected) for c in chunk_rows(uow_factory, cid)] == [("added", 3, 0)] * 5
    assert len(fake.campaigns[str(1001)].messages) == 15
    assert fake.max_concurrent_adds == 1
