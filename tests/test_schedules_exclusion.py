"""Ingestion's exclusion hook (IngestOptions.excluded), which --exclude-sent-within and the
suppression list share: an excluded phone's rows are invalid with its reason, in plain and
template campaigns, the other rows judged as without it."""

from __future__ import annotations

import pytest

from campaigns.ingest.service import IngestOptions, ingest_file, validate_file
from campaigns.settings import Settings

SENT = "sent on 2027-01-04 by this schedule"
OTHER = "opted out"


@pytest.mark.parametrize("text", ["Sale today", "Hello {name}"])
def test_excluded_phones_are_invalid_with_their_reason(tmp_path, text):
    path = tmp_path / "crm.csv"
    path.write_text("phone,name\n"
                    "+7 701 123 4567,A\n"   # excluded (sent)
                    "+7 701 123 4568,B\n"   # valid
                    "87011234567,C\n"       # the first phone again: still excluded, not a duplicate
                    "+7 701 123 4568,D\n"   # a duplicate of row 3
                    "+7 701 123 4569,E\n"   # excluded (opted out)
                    "12,F\n")               # invalid
    excluded = {77011234567: SENT, 77011234569: OTHER}
    report = validate_file(path, IngestOptions(text=text, country="KZ", excluded=excluded), Settings())
    assert (report.valid, report.invalid, report.duplicates) == (1, 4, 1)
    assert report.invalid_by_reason[SENT] == 2 and report.invalid_by_reason[OTHER] == 1
    reasons = {(p["row"], p["reason"]) for p in report.problems}
    assert {(2, SENT), (4, SENT), (6, OTHER), (5, "duplicate of row 3")} <= reasons
    # without the hook the same file has three valid phones and one duplicate of row 2
    plain = validate_file(path, IngestOptions(text=text, country="KZ"), Settings())
    assert (plain.valid, plain.invalid, plain.duplicates) == (3, 1, 2)


def test_an_excluded_row_is_stored_invalid_with_its_phone(tmp_path, sqlite_engine):
    from sqlalchemy import select

    from campaigns.store.keys import of_campaign
    from campaigns.store.models import Campaign, Recipient
    from campaigns.store.uow import UnitOfWork

    path = tmp_path / "crm.csv"
    path.write_text("phone\n+77011234567\n+77011234568\n")
    with UnitOfWork(sqlite_engine) as uow:
        campaign = Campaign(name="c", provider="sandbox", text="Hi", state="draft")
        uow.session.add(campaign)
        uow.commit()
        cid = campaign.id
    ingest_file(path, IngestOptions(text="Hi", excluded={77011234567: SENT}), Settings(), sqlite_engine, cid)
    with UnitOfWork(sqlite_engine) as uow:
        rows = uow.session.execute(select(Recipient.phone, Recipient.verdict, Recipient.reason)
                                   .where(of_campaign(Recipient.id, cid)).order_by(Recipient.row_number)).all()
    assert [tuple(r) for r in rows] == [("77011234567", "invalid", SENT), ("77011234568", "valid", None)]
