"""Cancelling: deleted at the provider while it allows it, a clear refusal otherwise."""

import re

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


def test_a_campaign_the_provider_is_sending_ends_here_and_says_the_provider_goes_on(sqlite_uow):
    fake, settings = FakeProvider(), fast_settings()
    cid = make_campaign(sqlite_uow, count=2)
    create_at_provider(cid, sqlite_uow, fake, settings, now=T0)
    add_next_chunk(cid, sqlite_uow, fake, settings, now=T0)
    launch_campaign(cid, sqlite_uow, fake, settings, now=T0)
    # When the user cancels a campaign already RUNNING at the provider
    outcome = cancel_campaign(cid, sqlite_uow, fake)
    # Then it ends here, the provider is not asked (it refuses a started campaign) and the
    # answer says that its messages may still go out
    campaign = campaign_row(sqlite_uow, cid)
    assert campaign.state == "cancelled"
    assert campaign.provider_status is None  # no longer followed: RUNNING would go stale
    assert not outcome.deleted
    assert "already sending campaign 1001 (status RUNNING)" in outcome.note
    assert outcome.note in campaign.error
    assert fake.calls_to("cancel") == []


def test_a_provider_refusal_or_silence_is_reported_and_the_campaign_still_ends(sqlite_uow):
    fake, settings = FakeProvider(), fast_settings()
    first, second = make_campaign(sqlite_uow, count=2), make_campaign(sqlite_uow, count=2)
    create_at_provider(first, sqlite_uow, fake, settings, now=T0)
    create_at_provider(second, sqlite_uow, fake, settings, now=T0)
    fake.fail("cancel", "permanent", code=10, message="the campaign can no longer be deleted")
    outcome = cancel_campaign(first, sqlite_uow, fake)
    assert re.search(r"the provider refused to delete campaign 1001: .*can no longer be deleted.*never launched",
                     outcome.note)
    assert campaign_row(sqlite_uow, first).state == "cancelled"
    fake.fail("cancel", "temporary")
    outcome = cancel_campaign(second, sqlite_uow, fake)
    assert "could not be reached to delete campaign 1002" in outcome.note
    assert campaign_row(sqlite_uow, second).state == "cancelled"


def test_a_provider_that_cannot_be_asked_still_lets_the_campaign_end(sqlite_uow):
    fake, settings = FakeProvider(), fast_settings()
    cid = make_campaign(sqlite_uow, count=2)
    create_at_provider(cid, sqlite_uow, fake, settings, now=T0)
    outcome = cancel_campaign(cid, sqlite_uow, None, unavailable="MOBIZON_API_KEY is not set")
    assert outcome.note.startswith("MOBIZON_API_KEY is not set, so campaign 1001 was not deleted there")
    assert campaign_row(sqlite_uow, cid).state == "cancelled"


def test_a_deleted_campaign_is_reported_as_deleted(sqlite_uow):
    fake, settings = FakeProvider(), fast_settings()
    cid = make_campaign(sqlite_uow, count=2)
    create_at_provider(cid, sqlite_uow, fake, settings, now=T0)
    outcome = cancel_campaign(cid, sqlite_uow, fake)
    assert (outcome.deleted, outcome.note) == (True, "campaign 1001 deleted at the provider")
    assert campaign_row(sqlite_uow, cid).error == "cancelled by the user; campaign 1001 deleted at the provider"


def test_finished_and_unknown_campaigns(sqlite_uow):
    fake = FakeProvider()
    done = make_campaign(sqlite_uow, state="done")
    with pytest.raises(CannotCancel, match=f"campaign {done} is already done"):
        cancel_campaign(done, sqlite_uow, fake)
    with pytest.raises(CampaignNotFound, match="no campaign with id 999"):
        cancel_campaign(999, sqlite_uow, fake)


def test_a_draft_left_by_a_stopped_process_can_be_cancelled_once_abandoned(uow_factory):
    # Given a draft whose file was being read when its process stopped
    from datetime import timedelta

    from campaigns.services.moves import utcnow
    from campaigns.store.models import Campaign

    long_ago = utcnow() - timedelta(minutes=10)
    with uow_factory() as uow:
        draft = Campaign(name="interrupted", provider="sandbox", text="hi", state="draft",
                         state_changed_at=long_ago, created_at=long_ago, updated_at=long_ago)
        uow.session.add(draft)
        uow.commit()
        cid = draft.id
    # When it is cancelled before the stall time has passed, it is refused (it may still be read)
    with pytest.raises(CannotCancel, match="still being submitted"):
        cancel_campaign(cid, uow_factory, None, abandoned_after=3600)
    # Then after it, it ends here, with nothing asked of the provider
    outcome = cancel_campaign(cid, uow_factory, None, abandoned_after=300)
    assert outcome.deleted is False
    with uow_factory() as uow:
        assert uow.session.get(Campaign, cid).state == "cancelled"
