"""What the dashboard reads (campaigns.services.overview) on SQLite and PostgreSQL: rows
filtered by state and name in any case and alphabet, paged; a campaign's funnel equal to
its status; the counters over time thinned to a bounded number of points."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import insert

from campaigns.providers.fake import FakeProvider
from campaigns.services.errors import CampaignNotFound
from campaigns.services.overview import campaign_rows, campaign_view, counter_series, recipients_page
from campaigns.services.status import campaign_status
from campaigns.store.models import CounterSample
from tests.pipeline_data import T0, Driver, fast_settings, make_campaign


def test_rows_filter_by_state_and_name_in_any_case_and_page(uow_factory):
    # Given campaigns with a common tag in Latin and Cyrillic names, in two states
    tag = uuid.uuid4().hex[:8]
    ids = [make_campaign(uow_factory, name=f"Весна {tag} {i}", state="queued" if i % 2 else "paused", count=2)
           for i in range(5)]
    latin = make_campaign(uow_factory, name=f"Spring_{tag}%", count=2)

    # When they are listed by name and state, a page of two at a time
    found, cursor = campaign_rows(uow_factory, search=f"весна {tag}", limit=2)
    rest, last = campaign_rows(uow_factory, search=f"ВЕСНА {tag}", before_id=cursor, limit=10)
    paused, _ = campaign_rows(uow_factory, search=tag, state="paused")
    escaped, _ = campaign_rows(uow_factory, search=f"spring_{tag}%")
    wildcard, _ = campaign_rows(uow_factory, search=f"spring%{tag}")

    # Then the name matches in any case, newest first, and % and _ are plain characters
    assert [r["id"] for r in found + rest] == ids[::-1] and last is None
    assert [r["id"] for r in paused] == [ids[4], ids[2], ids[0]]
    assert [r["id"] for r in escaped] == [latin] and wildcard == []
    with pytest.raises(ValueError):
        campaign_rows(uow_factory, state="sleeping")


def test_a_campaigns_view_is_its_status_as_a_funnel(uow_factory):
    # Given a campaign run to done at a fake provider, one message undelivered
    fake = FakeProvider(final_statuses={"77010000003": "UNDELIV"})
    cid = make_campaign(uow_factory, count=9, chunk_size=4, invalid=["x", "y"], provider=f"fake-{uuid.uuid4().hex[:6]}")
    Driver(uow_factory, fake, fast_settings()).run(cid)

    view = campaign_view(cid, uow_factory)
    status = campaign_status(cid, uow_factory)
    row = next(r for r in campaign_rows(uow_factory, limit=500)[0] if r["id"] == cid)

    steps = {f["step"]: f["value"] for f in view["funnel"] + view["beside"]}
    assert steps["rows"] == 11 and steps["valid"] == 9 and steps["invalid"] == 2
    assert steps["added at the provider"] == status["recipients"]["added"] == 9
    assert steps["delivered"] == status["counters"]["totalDelivrdMsgNum"] == 8
    assert steps["undelivered"] == int(status["counters"].get("totalUndelivMsgNum", 0))
    assert view["state"] == "done" and view["finished"] and not view["can_cancel"] and view["finished_at"]
    assert row["add_percent"] == 100.0 and row["deliver_percent"] == pytest.approx(88.9)
    with pytest.raises(CampaignNotFound):
        campaign_view(10**9, uow_factory)


def test_the_counters_over_time_are_thinned_to_a_bounded_number_of_points(uow_factory):
    cid = make_campaign(uow_factory, count=1)
    with uow_factory() as uow:
        uow.session.execute(insert(CounterSample), [
            dict(campaign_id=cid, taken_at=T0 + timedelta(seconds=k), status="RUNNING",
                 counters={"totalMsgNum": 1000, "totalNewMsgNum": 1000 - k, "totalDelivrdMsgNum": k})
            for k in range(1000)])
        uow.commit()

    series = counter_series(cid, uow_factory, points=100)

    assert 90 <= len(series["t"]) <= 101
    assert series["delivered"][0] == 0 and series["delivered"][-1] == 999  # first and newest kept
    assert series["sent"] == series["delivered"]  # sent = left NEW
    assert series["delivered"] == sorted(series["delivered"])
    assert counter_series(10**9, uow_factory)["t"] == []


def test_a_filter_the_counts_say_matches_nobody_reads_no_recipient(uow_factory):
    cid = make_campaign(uow_factory, count=6, invalid=["bad"])

    assert [r["row"] for r in recipients_page(cid, uow_factory, status="invalid").items] == [7]
    assert len(recipients_page(cid, uow_factory, status="valid", limit=4).items) == 4
    # nothing was added or rejected yet: answered from the counts, as the ledger would answer
    assert recipients_page(cid, uow_factory, status="rejected").items == []
    assert recipients_page(cid, uow_factory, status="duplicate").items == []
    assert recipients_page(cid, uow_factory, status="pending").next_cursor is None
    with pytest.raises(CampaignNotFound):
        recipients_page(10**9, uow_factory, status="rejected")
