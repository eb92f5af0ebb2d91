"""Cancelling: deleted at the provider while it allows it, a clear refusal otherwise."""

import pytest

from campaigns.providers.fake import FakeProvider
from campaigns.services.cancel import cancel_campaign
from campaigns.services.chunks import add_next_chunk
from campaigns.services.create import create_at_provider
from campaigns.services.errors import CampaignNotFound, CannotCancel
from campaigns.services.launch import launch_campaign
from campaigns.services.next import Next
from tests.pipeline_data import T0, campaign_row, fast_settings, make_campaign


def test_a_queued_campaign_is_cancelled_without_the_provider(uow_factory):
    fake = FakeProvider()
    cid = make_campaign(uow_factory)
    cancel_campaign(cid, uow_factory, fake)
    campaign = campaign_row(uow_factory, cid)
    assert (campaign.state, campaign.error) == ("cancelled", "cancelled by the user")
    assert fake.calls == []
    # And its create task, arriving later, does nothing
    assert create_at_provider(cid, uow_factory, fake, fast_settings(), now=T0) == []


def test_a_campaign_being_added_is_deleted_at_the_provider_and_stops(sqlite_uow):
    # Given a campaign half added
    fake, settings = FakeProvider(), fast_settings()
    cid = make_campaign(sqlite_uow, count=8, chunk_size=4)
    create_at_provider(cid, sqlite_uow, fake, settings, now=T0)
    add_next_chunk(cid, sqlite_uow, fake, settings, now=T0)
    # When the user cancels it
    cancel_campaign(cid, sqlite_uow, fake)
    # Then it is deleted at the provider and no further chunk is added
    assert fake.campaigns["1001"].deleted
    assert campaign_row(sqlite_uow, cid).state == "cancelled"
    assert add_next_chunk(cid, sqlite_uow, fake, settings, now=T0) == []
    assert len(fake.calls_to("add_chunk")) == 1


def test_a_campaign_in_moderation_can_still_be_deleted(sqlite_uow):
    fake, settings = FakeProvider(moderation=True), fast_settings()
    cid = make_campaign(sqlite_uow, count=2)
    create_at_provider(cid, sqlite_uow, fake, settings, now=T0)
    assert add_next_chunk(cid, sqlite_uow, fake, settings, now=T0) == [Next("launch", cid)]
    launch_campaign(cid, sqlite_uow, fake, settings, now=T0)
    cancel_campaign(cid, sqlite_uow, fake)
    assert campaign_row(sqlite_uow, cid).state == "cancelled"
    assert fake.campaigns["1001"].deleted


def test_a_campaign_the_provider_is_sending_is_refused(sqlite_uow):
    fake, settings = FakeProvider(), fast_settings()
    cid = make_campaign(sqlite_uow, count=2)
    create_at_provider(cid, sqlite_uow, fake, settings, now=T0)
    add_next_chunk(cid, sqlite_uow, fake, settings, now=T0)
    launch_campaign(cid, sqlite_uow, fake, settings, now=T0)
    # When the user tries to cancel a campaign already RUNNING at the provider
    with pytest.raises(CannotCancel, match=r"already being sent by the provider \(status RUNNING\)"):
        cancel_campaign(cid, sqlite_uow, fake)
    # Then it keeps running and the provider was not asked
    assert campaign_row(sqlite_uow, cid).state == "running"
    assert fake.calls_to("cancel") == []


def test_a_provider_refusal_is_passed_on(sqlite_uow):
    fake, settings = FakeProvider(), fast_settings()
    cid = make_campaign(sqlite_uow, count=2)
    create_at_provider(cid, sqlite_uow, fake, settings, now=T0)
    fake.fail("cancel", "permanent", code=10, message="the campaign can no longer be deleted")
    with pytest.raises(CannotCancel, match="the provider refused to delete campaign 1001: .*can no longer be deleted"):
        cancel_campaign(cid, sqlite_uow, fake)
    assert campaign_row(sqlite_uow, cid).state == "adding"
    fake.fail("cancel", "temporary")
    with pytest.raises(CannotCancel, match="could not be reached .* try again"):
        cancel_campaign(cid, sqlite_uow, fake)


def test_finished_and_unknown_campaigns(sqlite_uow):
    fake = FakeProvider()
    done = make_campaign(sqlite_uow, state="done")
    with pytest.raises(CannotCancel, match=f"campaign {done} is already done"):
        cancel_campaign(done, sqlite_uow, fake)
    with pytest.raises(CampaignNotFound, match="no campaign with id 999"):
        cancel_campaign(999, sqlite_uow, fake)
