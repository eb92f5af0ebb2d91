"""Following running campaigns: batched polls, intervals by status, counters over time,
DONE and DECLINED, and the final status of every message."""

import uuid

from sqlalchemy import update

from campaigns.providers.fake import FakeProvider
from campaigns.services.chunks import add_next_chunk
from campaigns.services.create import create_at_provider, spec_of
from campaigns.services.follow import fetch_final_statuses, poll_campaigns
from campaigns.services.launch import launch_campaign
from campaigns.services.next import Next
from campaigns.store.models import Campaign
from tests.pipeline_data import T0, at, campaign_row, fast_settings, make_campaign, recipient_rows, sample_rows


class Providers:
    """The ``providers`` callable of poll_campaigns, knowing one fake under a name of its own
    (PostgreSQL keeps other tests' running campaigns: they belong to other names)."""

    def __init__(self, fake: FakeProvider):
        self.fake = fake
        self.name = f"fake-{uuid.uuid4().hex[:8]}"

    def __call__(self, name: str) -> FakeProvider:
        if name != self.name:
            raise ValueError(f"unknown provider {name!r}")
        return self.fake


def running(uow_factory, providers: Providers, status: str = "RUNNING", **kw) -> int:
    """A running campaign known to the fake, due for a poll at T0."""
    cid = make_campaign(uow_factory, state="running", provider=providers.name, **kw)
    with uow_factory() as uow:
        pid = providers.fake.create_campaign(spec_of(uow.session.get(Campaign, cid)))
        uow.session.execute(
            update(Campaign).where(Campaign.id == cid).values(provider_campaign_id=pid, next_poll_at=T0)
        )
        uow.commit()
    providers.fake.set_status(pid, status)
    return cid


def test_polls_batch_at_most_ten_ids_per_call(uow_factory):
    # Given 23 running campaigns at one provider
    providers = Providers(FakeProvider(progression=("RUNNING",)))
    ids = [running(uow_factory, providers) for _ in range(23)]
    # When the tick polls
    assert poll_campaigns(uow_factory, providers, fast_settings(), now=at(0)) == []
    # Then Campaign/List was called with 10, 10 and 3 ids, each campaign once
    calls = providers.fake.calls_to("campaign_statuses")
    assert [len(c.args[0]) for c in calls] == [10, 10, 3]
    polled = [pid for c in calls for pid in c.args[0]]
    assert sorted(polled) == sorted(campaign_row(uow_factory, cid).provider_campaign_id for cid in ids)


def test_the_next_poll_depends_on_the_status(uow_factory):
    # Given campaigns running, sent, and waiting for the moderator or their deferred time
    providers = Providers(FakeProvider(progression=("RUNNING",)))
    settings = fast_settings(poll_seconds=10)
    ids = {status: running(uow_factory, providers, status) for status in ("RUNNING", "SENT", "MODERATION", "DEFERRED")}
    # When polled
    poll_campaigns(uow_factory, providers, settings, now=at(0))
    # Then RUNNING is asked again after 10 s, SENT after 30, the others after 60
    due = {s: campaign_row(uow_factory, cid).next_poll_at.replace(tzinfo=None) for s, cid in ids.items()}
    assert due == {
        "RUNNING": at(10).replace(tzinfo=None), "SENT": at(30).replace(tzinfo=None),
        "MODERATION": at(60).replace(tzinfo=None), "DEFERRED": at(60).replace(tzinfo=None),
    }
    # And a poll before they are due asks the provider nothing
    calls = len(providers.fake.calls_to("campaign_statuses"))
    poll_campaigns(uow_factory, providers, settings, now=at(9))
    assert len(providers.fake.calls_to("campaign_statuses")) == calls
    # And at 10 s only the running one is asked
    poll_campaigns(uow_factory, providers, settings, now=at(10))
    assert providers.fake.calls_to("campaign_statuses")[-1].args[0] == (
        campaign_row(uow_factory, ids["RUNNING"]).provider_campaign_id,
    )


def test_two_ticks_at_once_poll_each_campaign_once(uow_factory):
    providers = Providers(FakeProvider(progression=("RUNNING",)))
    for _ in range(3):
        running(uow_factory, providers)
    # When two beat processes' ticks poll at the same moment
    poll_campaigns(uow_factory, providers, fast_settings(), now=at(0))
    poll_campaigns(uow_factory, providers, fast_settings(), now=at(0))
    # Then the provider was asked once
    assert len(providers.fake.calls_to("campaign_statuses")) == 1


def test_counters_are_sampled_when_they_change(sqlite_uow):
    # Given a running campaign with two recipients
    fake = FakeProvider(progression=("RUNNING", "RUNNING", "SENT", "DONE"))
    providers = Providers(fake)
    settings = fast_settings(poll_seconds=1)
    cid = make_campaign(sqlite_uow, count=2, provider=providers.name)
    create_at_provider(cid, sqlite_uow, fake, settings, now=T0)
    add_next_chunk(cid, sqlite_uow, fake, settings, now=T0)
    launch_campaign(cid, sqlite_uow, fake, settings, now=T0)
    # When it is polled until DONE
    nexts, second = [], 0
    while not nexts:
        nexts = poll_campaigns(sqlite_uow, providers, settings, now=at(second))
        second += 3
    # Then DONE asks for the final statuses, and nothing polls it any more
    assert nexts == [Next("final_statuses", cid)]
    campaign = campaign_row(sqlite_uow, cid)
    assert (campaign.state, campaign.provider_status, campaign.next_poll_at) == ("running", "DONE", None)
    assert campaign.counters == {"totalMsgNum": 2, "totalDelivrdMsgNum": 2}
    # And the two identical RUNNING answers made one sample
    samples = sample_rows(sqlite_uow, cid)
    assert [(s.status, s.counters["totalDelivrdMsgNum"]) for s in samples] == [("RUNNING", 0), ("SENT", 1), ("DONE", 2)]
    assert [s.taken_at.replace(tzinfo=None) for s in samples] == [at(0).replace(tzinfo=None), at(6).replace(tzinfo=None), at(9).replace(tzinfo=None)]


def test_a_declined_campaign_fails_with_the_reason(sqlite_uow):
    providers = Providers(FakeProvider(progression=("RUNNING",)))
    cid = running(sqlite_uow, providers, "DECLINED")
    assert poll_campaigns(sqlite_uow, providers, fast_settings(), now=at(0)) == []
    campaign = campaign_row(sqlite_uow, cid)
    assert campaign.state == "failed"
    assert campaign.error.startswith("declined by the provider's moderator")


def test_a_failed_poll_is_asked_again_at_the_next_tick(sqlite_uow):
    providers = Providers(FakeProvider(progression=("RUNNING",)))
    settings = fast_settings(poll_seconds=5)
    cid = running(sqlite_uow, providers, "SENT")
    # Given the provider fails temporarily, then refuses for good, then answers
    providers.fake.fail("campaign_statuses", "temporary")
    providers.fake.fail("campaign_statuses", "auth")
    poll_campaigns(sqlite_uow, providers, settings, now=at(0))
    assert campaign_row(sqlite_uow, cid).error is None
    # When polled again one interval later, the refusal is shown, the campaign still followed
    poll_campaigns(sqlite_uow, providers, settings, now=at(5))
    campaign = campaign_row(sqlite_uow, cid)
    assert campaign.state == "running"
    assert "the provider refused our credentials while reading the campaign's status" in campaign.error
    # Then the next answer clears it
    poll_campaigns(sqlite_uow, providers, settings, now=at(10))
    campaign = campaign_row(sqlite_uow, cid)
    assert (campaign.provider_status, campaign.error) == ("SENT", None)


def test_rate_limited_polls_leave_the_provider_alone_until_the_next_tick(sqlite_uow):
    providers = Providers(FakeProvider(progression=("RUNNING",)))
    for _ in range(12):
        running(sqlite_uow, providers)
    providers.fake.fail("campaign_statuses", "rate_limited")
    poll_campaigns(sqlite_uow, providers, fast_settings(), now=at(0))
    # Then after code 30 on the first batch the second was not asked
    assert len(providers.fake.calls_to("campaign_statuses")) == 1


def test_final_statuses_are_stored_for_every_recipient_then_done(uow_factory):
    # Given a campaign of 1,100 recipients the provider reports DONE (more than one batch)
    numbers = [f"7702{i:07d}" for i in range(1100)]
    fake = FakeProvider(final_statuses={numbers[0]: "EXPIRED", numbers[-1]: "UNDELIV"})
    settings = fast_settings()
    cid = make_campaign(uow_factory, numbers=numbers, chunk_size=500)
    create_at_provider(cid, uow_factory, fake, settings, now=T0)
    while add_next_chunk(cid, uow_factory, fake, settings, now=T0) != [Next("launch", cid)]:
        pass
    launch_campaign(cid, uow_factory, fake, settings, now=T0)
    pid = campaign_row(uow_factory, cid).provider_campaign_id
    fake.set_status(pid, "DONE")
    with uow_factory() as uow:
        uow.session.execute(update(Campaign).where(Campaign.id == cid).values(provider_status="DONE"))
        uow.commit()
    # When the final statuses are fetched
    assert fetch_final_statuses(cid, uow_factory, fake, settings, now=at(1)) == []
    # Then every recipient has its own, and the campaign is done
    statuses = {r.phone: r.final_status for r in recipient_rows(uow_factory, cid)}
    assert statuses[numbers[0]] == "EXPIRED" and statuses[numbers[-1]] == "UNDELIV"
    assert sum(1 for s in statuses.values() if s == "DELIVRD") == 1098
    assert campaign_row(uow_factory, cid).state == "done"
    # And a duplicate task does nothing
    assert fetch_final_statuses(cid, uow_factory, fake, settings, now=at(2)) == []
    assert len(fake.calls_to("message_statuses")) == 1


def test_final_statuses_retry_then_settle_for_done_without_them(sqlite_uow):
    providers = Providers(FakeProvider(progression=("RUNNING",)))
    fake, settings = providers.fake, fast_settings(max_transport_retries=1)
    cid = running(sqlite_uow, providers, "DONE")
    poll_campaigns(sqlite_uow, providers, settings, now=at(0))
    # Given Message/List fails twice
    fake.fail("message_statuses", "temporary", times=2, message="HTTP 503")
    (retry,) = fetch_final_statuses(cid, sqlite_uow, fake, settings, now=at(1))
    assert retry.action == "final_statuses"
    assert campaign_row(sqlite_uow, cid).state == "running"
    # When the retry fails too
    assert fetch_final_statuses(cid, sqlite_uow, fake, settings, now=at(1 + retry.countdown)) == []
    # Then the campaign is done (it was sent) and the reason says what is missing
    campaign = campaign_row(sqlite_uow, cid)
    assert campaign.state == "done"
    assert campaign.error.startswith("the campaign was sent, but its final message statuses could not be read")
