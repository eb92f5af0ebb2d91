"""Creating the campaign at the provider: once, whatever is lost on the way."""

import random
from datetime import timedelta

import pytest

from campaigns.providers.fake import FakeProvider
from campaigns.services.cancel import cancel_campaign
from campaigns.services.create import create_at_provider
from campaigns.services.next import Next
from tests.pipeline_data import at, campaign_row, fast_settings, make_campaign


def test_create_moves_a_queued_campaign_to_adding(uow_factory):
    # Given a queued campaign
    fake, settings = FakeProvider(), fast_settings()
    cid = make_campaign(uow_factory, name="Black Friday", text="Sale!")
    # When it is created
    assert create_at_provider(cid, uow_factory, fake, settings, now=at(0)) == [Next("add", cid)]
    # Then it has the provider's id and is ready for its chunks; a duplicate task does nothing
    campaign = campaign_row(uow_factory, cid)
    assert (campaign.state, campaign.provider_campaign_id, campaign.create_attempts) == ("adding", "1001", 1)
    assert create_at_provider(cid, uow_factory, fake, settings, now=at(1)) == []
    (call,) = fake.calls_to("create_campaign")
    spec = call.args[0]
    assert (spec.local_id, spec.name, spec.text, spec.type) == (cid, "Black Friday", "Sale!", 2)
    assert fake.calls_to("find_campaign") == []


def test_a_lost_create_response_is_reconciled_not_created_twice(uow_factory):
    # Given another local campaign with the same name and text, already created at the provider
    # (ids of their own: PostgreSQL keeps other tests' campaigns, and their fakes' ids)
    fake, settings = FakeProvider(first_id=random.randrange(10**6, 10**9)), fast_settings()
    twin = make_campaign(uow_factory, name="Promo", text="Hi", provider="fake")
    create_at_provider(twin, uow_factory, fake, settings, now=at(0))
    cid = make_campaign(uow_factory, name="Promo", text="Hi", provider="fake")
    # And a provider that creates ours, then loses the response
    fake.fail("create_campaign", "lost")
    (retry,) = create_at_provider(cid, uow_factory, fake, settings, now=at(1))
    assert retry.action == "create"
    assert campaign_row(uow_factory, cid).state == "creating"
    # When the retry comes
    assert create_at_provider(cid, uow_factory, fake, settings, now=at(1 + retry.countdown)) == [Next("add", cid)]
    # Then it asked the provider first, excluding the twin's campaign, and adopted the one it made
    (find,) = fake.calls_to("find_campaign")
    twin_id = campaign_row(uow_factory, twin).provider_campaign_id
    assert twin_id in find.kwargs["exclude"]
    assert len(fake.calls_to("create_campaign")) == 2  # the twin's and the lost one: never a third
    assert len(fake.campaigns) == 2
    assert campaign_row(uow_factory, cid).provider_campaign_id == str(int(twin_id) + 1)


def test_when_the_lost_create_never_arrived_it_is_created_after_checking(sqlite_uow):
    # Given a Create that failed before reaching the provider... but we cannot know that
    fake, settings = FakeProvider(), fast_settings()
    cid = make_campaign(sqlite_uow)
    fake.fail("create_campaign", "temporary")
    (retry,) = create_at_provider(cid, sqlite_uow, fake, settings, now=at(0))
    # When the retry comes, the provider has nothing for us
    assert create_at_provider(cid, sqlite_uow, fake, settings, now=at(retry.countdown)) == [Next("add", cid)]
    # Then it looked, found nothing, and created it
    assert len(fake.calls_to("find_campaign")) == 1
    assert len(fake.campaigns) == 1


def test_create_rate_limited_waits_and_temporary_gives_up_into_failed(sqlite_uow):
    fake, settings = FakeProvider(), fast_settings(max_transport_retries=2)
    cid = make_campaign(sqlite_uow)
    # Given a provider that asks us to slow down, then fails three times
    fake.fail("create_campaign", "rate_limited", retry_after=12)
    fake.fail("create_campaign", "temporary", times=3, message="connection reset")
    # When create is retried whenever due
    (wait,) = create_at_provider(cid, sqlite_uow, fake, settings, now=at(0))
    assert wait == Next("create", cid, countdown=12)
    assert campaign_row(sqlite_uow, cid).retries == 0
    now = at(12)
    for _ in range(2):
        (retry,) = create_at_provider(cid, sqlite_uow, fake, settings, now=now)
        assert "retrying" in campaign_row(sqlite_uow, cid).error
        now += timedelta(seconds=retry.countdown)
    # Then the third temporary failure in a row fails the campaign, saying why
    assert create_at_provider(cid, sqlite_uow, fake, settings, now=now) == []
    campaign = campaign_row(sqlite_uow, cid)
    assert campaign.state == "failed"
    assert campaign.error == (
        "gave up creating the campaign after 3 failed attempts in a row; the last one: "
        "create_campaign: connection reset"
    )


def test_a_validation_error_fails_the_campaign_naming_the_fields(sqlite_uow):
    fake, settings = FakeProvider(), fast_settings()
    cid = make_campaign(sqlite_uow)
    fake.fail("create_campaign", "permanent", code=1, message="invalid parameters")
    assert create_at_provider(cid, sqlite_uow, fake, settings, now=at(0)) == []
    campaign = campaign_row(sqlite_uow, cid)
    assert campaign.state == "failed"
    assert campaign.error == (
        "the provider refused creating the campaign: create_campaign: invalid parameters (code 1)"
    )


def test_a_worker_that_died_while_creating_is_replaced_after_the_stall_time(sqlite_uow):
    # Given a campaign claimed for creation by a worker that died at the provider
    fake, settings = FakeProvider(), fast_settings(stall_seconds=30)
    cid = make_campaign(sqlite_uow)

    class Dies(FakeProvider):
        def create_campaign(self, spec):
            fake.create_campaign(spec)
            raise SystemExit

    with pytest.raises(SystemExit):
        create_at_provider(cid, sqlite_uow, Dies(), settings, now=at(0))
    # When another worker comes before the stall time, it leaves it alone; after, it takes over
    assert create_at_provider(cid, sqlite_uow, fake, settings, now=at(10)) == []
    assert create_at_provider(cid, sqlite_uow, fake, settings, now=at(31)) == [Next("add", cid)]
    # Then it adopted the campaign the dead worker made
    assert len(fake.campaigns) == 1
    assert campaign_row(sqlite_uow, cid).create_attempts == 2


def test_a_campaign_cancelled_during_its_create_is_deleted_at_the_provider(sqlite_uow):
    fake, settings = FakeProvider(), fast_settings()
    cid = make_campaign(sqlite_uow)

    class CancelledMeanwhile(FakeProvider):
        def create_campaign(self, spec):
            cancel_campaign(cid, sqlite_uow, fake, now=at(0))
            return fake.create_campaign(spec)

        def cancel(self, campaign_id):
            fake.cancel(campaign_id)

    # When the user cancels while the Create is in flight
    assert create_at_provider(cid, sqlite_uow, CancelledMeanwhile(), settings, now=at(0)) == []
    # Then the campaign stays cancelled, and the one the provider made is deleted
    campaign = campaign_row(sqlite_uow, cid)
    assert (campaign.state, campaign.provider_campaign_id) == ("cancelled", "1001")
    assert fake.campaigns["1001"].deleted
