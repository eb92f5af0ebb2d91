"""Resuming: a paused campaign from its chunk, an interrupted one from its step, at once."""

from datetime import timedelta

import pytest

from campaigns.providers.fake import FakeProvider
from campaigns.services.chunks import add_next_chunk
from campaigns.services.errors import CampaignNotFound, CannotResume
from campaigns.services.launch import launch_campaign
from campaigns.services.next import Next
from campaigns.services.resume import resume_campaign
from tests.pipeline_data import at, campaign_row, chunk_rows, created, fast_settings, make_campaign


def test_an_interrupted_adding_campaign_goes_on_at_once_without_waiting_for_the_scanner(sqlite_uow):
    # Given a campaign whose chunk failed once (a retry waits) and whose process then ended
    fake = FakeProvider()
    settings = fast_settings(retry_base_seconds=600.0, retry_cap_seconds=600.0)
    cid = created(sqlite_uow, fake, settings, count=6, chunk_size=3)
    fake.fail("add_chunk", "temporary")
    nexts = add_next_chunk(cid, sqlite_uow, fake, settings, now=at(0))
    assert nexts and nexts[0].countdown > 0
    # When the user resumes it a second later
    assert resume_campaign(cid, sqlite_uow, now=at(1)) == [Next("add", cid)]
    # Then the chunk goes now, not after its retry time
    assert add_next_chunk(cid, sqlite_uow, fake, settings, now=at(1)) == [Next("add", cid)]
    assert [c.state for c in chunk_rows(sqlite_uow, cid)] == ["added", "pending"]


@pytest.mark.parametrize("state, action", [("queued", "create"), ("creating", "create"), ("launching", "launch")])
def test_each_interrupted_state_resumes_with_its_step(sqlite_uow, state, action):
    cid = make_campaign(sqlite_uow, count=2, state=state)
    assert resume_campaign(cid, sqlite_uow, now=at(0)) == [Next(action, cid)]
    assert campaign_row(sqlite_uow, cid).state == state


def test_a_running_campaign_is_polled_at_once_or_its_final_statuses_read(sqlite_uow):
    fake, settings = FakeProvider(), fast_settings()
    cid = created(sqlite_uow, fake, settings, count=2)
    add_next_chunk(cid, sqlite_uow, fake, settings, now=at(0))
    launch_campaign(cid, sqlite_uow, fake, settings, now=at(0))
    assert resume_campaign(cid, sqlite_uow, now=at(5)) == []
    assert campaign_row(sqlite_uow, cid).next_poll_at.replace(tzinfo=None) == at(5).replace(tzinfo=None)
    with sqlite_uow() as uow:
        uow.session.get(type(campaign_row(sqlite_uow, cid)), cid).provider_status = "DONE"
        uow.commit()
    assert resume_campaign(cid, sqlite_uow, now=at(6)) == [Next("final_statuses", cid)]


@pytest.mark.parametrize("state", ["done", "failed", "cancelled"])
def test_a_finished_campaign_is_refused(sqlite_uow, state):
    cid = make_campaign(sqlite_uow, state=state)
    with pytest.raises(CannotResume, match=f"campaign {cid} is {state}; only a campaign that has not finished"):
        resume_campaign(cid, sqlite_uow)


def test_a_draft_and_an_unknown_campaign_are_refused(sqlite_uow):
    cid = make_campaign(sqlite_uow, state="draft")
    with pytest.raises(CannotResume, match="still being read from its file"):
        resume_campaign(cid, sqlite_uow)
    with pytest.raises(CampaignNotFound):
        resume_campaign(999, sqlite_uow)


def test_a_paused_campaign_goes_back_to_adding(sqlite_uow):
    cid = make_campaign(sqlite_uow, count=2, state="paused")
    assert resume_campaign(cid, sqlite_uow, now=at(0) + timedelta(seconds=1)) == [Next("add", cid)]
    assert campaign_row(sqlite_uow, cid).state == "adding"
