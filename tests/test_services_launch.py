"""Launching: once every chunk is settled, and never twice after a lost Send response."""



from campaigns.providers.fake import FakeProvider
from campaigns.services.chunks import add_next_chunk
from campaigns.services.create import create_at_provider
from campaigns.services.launch import launch_campaign
from campaigns.services.next import Next
from tests.pipeline_data import T0, at, campaign_row, fast_settings, make_campaign


def added(uow_factory, fake, settings, **kw) -> int:
    """A campaign whose chunks are all added, ready to launch."""
    cid = make_campaign(uow_factory, **kw)
    nexts = create_at_provider(cid, uow_factory, fake, settings, now=T0)
    while nexts and nexts[0].action == "add":
        nexts = add_next_chunk(cid, uow_factory, fake, settings, now=T0)
    assert nexts == [Next("launch", cid)]
    return cid


def test_launch_sends_once_and_the_campaign_runs(uow_factory):
    fake, settings = FakeProvider(), fast_settings()
    cid = added(uow_factory, fake, settings, count=5)
    # When the campaign is launched, twice (a duplicate task)
    assert launch_campaign(cid, uow_factory, fake, settings, now=at(1)) == []
    assert launch_campaign(cid, uow_factory, fake, settings, now=at(2)) == []
    # Then it was sent once and is running, to be polled at once
    campaign = campaign_row(uow_factory, cid)
    assert (campaign.state, campaign.provider_status, campaign.launch_attempts) == ("running", "RUNNING", 1)
    assert campaign.next_poll_at.replace(tzinfo=None) == at(1).replace(tzinfo=None)
    assert len(fake.calls_to("launch")) == 1


def test_launch_waits_for_every_chunk(sqlite_uow):
    # Given a campaign with a chunk still pending
    fake, settings = FakeProvider(), fast_settings()
    cid = make_campaign(sqlite_uow, count=6, chunk_size=3)
    create_at_provider(cid, sqlite_uow, fake, settings, now=T0)
    add_next_chunk(cid, sqlite_uow, fake, settings, now=T0)
    # When a launch task arrives anyway
    assert launch_campaign(cid, sqlite_uow, fake, settings, now=at(1)) == []
    # Then nothing was sent and the campaign is still adding
    assert fake.calls_to("launch") == []
    assert campaign_row(sqlite_uow, cid).state == "adding"


def test_after_a_lost_send_response_the_status_is_read_before_sending_again(uow_factory):
    # Given a provider that starts the campaign but loses the answer
    fake, settings = FakeProvider(), fast_settings()
    cid = added(uow_factory, fake, settings, count=3)
    fake.fail("launch", "lost")
    (retry,) = launch_campaign(cid, uow_factory, fake, settings, now=at(1))
    assert retry.action == "launch"
    assert campaign_row(uow_factory, cid).state == "launching"
    # When the retry comes
    assert launch_campaign(cid, uow_factory, fake, settings, now=at(1 + retry.countdown)) == []
    # Then it read the status, saw the campaign started, and did not send again
    assert len(fake.calls_to("launch")) == 1
    assert len(fake.calls_to("campaign_statuses")) == 1
    campaign = campaign_row(uow_factory, cid)
    assert (campaign.state, campaign.provider_status, campaign.launch_attempts) == ("running", "RUNNING", 2)


def test_after_a_send_that_never_arrived_it_sends_again(sqlite_uow):
    fake, settings = FakeProvider(), fast_settings()
    cid = added(sqlite_uow, fake, settings, count=3)
    fake.fail("launch", "temporary")
    (retry,) = launch_campaign(cid, sqlite_uow, fake, settings, now=at(1))
    # When the retry comes and the provider still says NEW
    assert launch_campaign(cid, sqlite_uow, fake, settings, now=at(1 + retry.countdown)) == []
    # Then it sent again, after looking
    assert len(fake.calls_to("campaign_statuses")) == 1
    assert len(fake.calls_to("launch")) == 2
    assert campaign_row(sqlite_uow, cid).state == "running"


def test_moderation_is_a_running_campaign_waiting_for_the_moderator(sqlite_uow):
    fake, settings = FakeProvider(moderation=True), fast_settings()
    cid = added(sqlite_uow, fake, settings, count=3)
    launch_campaign(cid, sqlite_uow, fake, settings, now=at(1))
    campaign = campaign_row(sqlite_uow, cid)
    assert (campaign.state, campaign.provider_status) == ("running", "MODERATION")


def test_a_refused_launch_fails_the_campaign(sqlite_uow):
    fake, settings = FakeProvider(), fast_settings()
    cid = added(sqlite_uow, fake, settings, count=3)
    fake.fail("launch", "permanent", code=2, message="campaign not found")
    assert launch_campaign(cid, sqlite_uow, fake, settings, now=at(1)) == []
    campaign = campaign_row(sqlite_uow, cid)
    assert campaign.state == "failed"
    assert campaign.error == "the provider refused launching the campaign: launch: campaign not found (code 2)"


def test_a_provider_without_server_side_campaigns_is_running_without_a_send(sqlite_uow):
    # Given a message-by-message provider (SMSC-like): its chunks were sent as they were added
    fake, settings = FakeProvider(server_side_campaigns=False), fast_settings()
    cid = added(sqlite_uow, fake, settings, count=3)
    # When it is launched
    assert launch_campaign(cid, sqlite_uow, fake, settings, now=at(1)) == []
    # Then nothing is sent again
    assert fake.calls_to("launch") == []
    assert campaign_row(sqlite_uow, cid).state == "running"
