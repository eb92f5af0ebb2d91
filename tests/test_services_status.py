"""What the user sees: the status object's keys and values, and the list."""

import json

import pytest

from campaigns.providers.fake import FakeProvider
from campaigns.services.chunks import add_next_chunk
from campaigns.services.create import create_at_provider
from campaigns.services.errors import CampaignNotFound
from campaigns.services.status import campaign_status, list_campaigns
from tests.pipeline_data import T0, fast_settings, make_campaign


def test_the_status_object_has_the_documented_keys(uow_factory):
    # Given a campaign with one of its two chunks added, one recipient stop-listed
    fake, settings = FakeProvider(stop_list=["77010000000"]), fast_settings()
    cid = make_campaign(uow_factory, count=6, chunk_size=3, invalid=["x", "y"], name="Launch", provider="fake")
    create_at_provider(cid, uow_factory, fake, settings, now=T0)
    add_next_chunk(cid, uow_factory, fake, settings, now=T0)
    # When its status is read
    status = campaign_status(cid, uow_factory)
    # Then it has every key of issue 4 with numbers where numbers are expected
    assert json.loads(json.dumps(status)) == status
    assert {
        "id", "name", "provider", "provider_campaign_id", "state", "provider_status", "recipients", "chunks",
        "counters", "error",
    } <= set(status)
    assert (status["id"], status["name"], status["provider"], status["state"]) == (cid, "Launch", "fake", "adding")
    assert status["provider_campaign_id"] == "1001" and status["provider_status"] is None
    assert status["recipients"] == {
        "rows": 8, "valid": 6, "invalid": 2, "duplicates": 0, "added": 2, "rejected_by_provider": 1,
    }
    assert status["chunks"] == {"total": 2, "added": 1, "failed": 0, "pending": 1, "adding": 0}
    assert status["counters"] == {} and status["error"] is None
    assert status["created_at"].startswith("2030-01-01T09:00:00")


def test_list_shows_newest_first(sqlite_engine):
    from campaigns.store.uow import UnitOfWork

    uow_factory = lambda: UnitOfWork(sqlite_engine)  # noqa: E731
    first = make_campaign(uow_factory, name="first")
    second = make_campaign(uow_factory, name="second", count=0)
    listed = list_campaigns(uow_factory)
    assert [c["id"] for c in listed] == [second, first]
    assert listed[0]["chunks"]["total"] == 0 and listed[1]["chunks"]["total"] == 3
    assert [c["id"] for c in list_campaigns(uow_factory, limit=1)] == [second]


def test_an_unknown_campaign(sqlite_engine):
    from campaigns.store.uow import UnitOfWork

    with pytest.raises(CampaignNotFound, match="no campaign with id 42"):
        campaign_status(42, lambda: UnitOfWork(sqlite_engine))
