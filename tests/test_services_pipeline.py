"""A campaign from queued to done through every service, with the FakeProvider, on SQLite
and PostgreSQL."""

from campaigns.providers.fake import FakeProvider
from campaigns.services.next import Next
from campaigns.services.status import campaign_status
from tests.pipeline_data import Driver, fast_settings, make_campaign, recipient_rows, sample_rows


def test_a_campaign_travels_from_queued_to_done(uow_factory):
    # Given a queued campaign of 10 recipients in chunks of 4, one of them in the stop-list
    cid = make_campaign(uow_factory, count=10, chunk_size=4, invalid=["hello"])
    stopped = "77010000003"
    fake = FakeProvider(stop_list=[stopped], final_statuses={"77010000005": "UNDELIV"})
    driver = Driver(uow_factory, fake, fast_settings())

    # When the pipeline runs from its first step
    driver.schedule([Next("create", cid)])
    state = driver.run(cid)

    # Then the campaign is done, created once, its 3 chunks added one at a time, launched once
    assert state == "done"
    assert len(fake.calls_to("create_campaign")) == 1
    adds = fake.calls_to("add_chunk")
    assert [c.args[1] for c in adds] == [f"{cid}:0", f"{cid}:1", f"{cid}:2"]
    assert all(c.kwargs["resend"] is False for c in adds)
    assert all(c.kwargs["spec"].local_id == cid for c in adds)
    assert fake.max_concurrent_adds == 1
    assert len(fake.calls_to("launch")) == 1
    # ... each chunk started as soon as the previous ended: no countdown between adds
    add_times = [t for t, step in driver.ran if step.action == "add"]
    assert add_times[:3] == [add_times[0]] * 3

    # And the status tells the whole story
    status = campaign_status(cid, uow_factory)
    assert status["state"] == "done" and status["provider_status"] == "DONE" and status["error"] is None
    assert status["provider_campaign_id"] == next(iter(fake.campaigns))
    assert status["recipients"] == {
        "rows": 11, "valid": 10, "invalid": 1, "duplicates": 0, "added": 9, "rejected_by_provider": 1,
    }
    assert status["chunks"] == {"total": 3, "added": 3, "failed": 0, "pending": 0, "adding": 0}
    assert status["counters"] == {"totalMsgNum": 9, "totalDelivrdMsgNum": 8}

    # And every recipient carries its outcome and final status
    by_phone = {r.phone: r for r in recipient_rows(uow_factory, cid) if r.phone}
    assert by_phone[stopped].provider_code == 5 and by_phone[stopped].message_id is None
    assert by_phone[stopped].provider_meaning == "the number is in the stop-list"
    assert by_phone[stopped].final_status is None
    assert by_phone["77010000005"].final_status == "UNDELIV"
    others = [r for p, r in by_phone.items() if p not in (stopped, "77010000005")]
    assert all(r.provider_code == 0 and r.message_id and r.final_status == "DELIVRD" for r in others)
    assert len({r.message_id for r in others}) == len(others)

    # And the counters were kept as a time series: one sample per change
    samples = sample_rows(uow_factory, cid)
    assert [s.status for s in samples] == ["RUNNING", "SENT", "DONE"]
    assert [s.counters["totalDelivrdMsgNum"] for s in samples] == [0, 4, 8]
    assert all(isinstance(v, int) for s in samples for v in s.counters.values())


def test_template_recipients_travel_with_their_placeholder_values(sqlite_engine):
    from campaigns.store.uow import UnitOfWork

    uow_factory = lambda: UnitOfWork(sqlite_engine)  # noqa: E731
    # Given a template campaign whose recipients carry a name
    cid = make_campaign(uow_factory, count=2, chunk_size=4, text="Hi {name}", fields={"name": "Ann"})
    fake = FakeProvider()
    driver = Driver(uow_factory, fake, fast_settings())
    # When it runs
    driver.schedule([Next("create", cid)])
    assert driver.run(cid) == "done"
    # Then the chunk carried the values, and the spec its template type
    (add,) = fake.calls_to("add_chunk")
    assert [r.fields for r in add.args[2]] == [{"name": "Ann"}, {"name": "Ann"}]
    assert add.kwargs["spec"].type == 3 and add.kwargs["spec"].text == "Hi {name}"
