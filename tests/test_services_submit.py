"""Submitting: parameters checked first, the file ingested, the campaign queued; nothing
reaches the provider."""

import pytest
from sqlalchemy import func, select

from campaigns.ingest.readers import FileRefused
from campaigns.providers.fake import FakeProvider
from campaigns.services.next import Next
from campaigns.services.status import campaign_status
from campaigns.services.submit import InvalidCampaign, SubmitRequest, submit_campaign
from campaigns.store.models import Campaign
from campaigns.store.uow import UnitOfWork
from tests.pipeline_data import Driver, campaign_row, fast_settings, recipient_rows

CSV = "phone;name\n+7 701 123 45 67;Ann\n8 (701) 123-45-68;Bob\nnot a phone;Eve\n+77011234567;Ann again\n"


def campaigns_count(engine) -> int:
    with UnitOfWork(engine) as uow:
        return uow.session.scalar(select(func.count()).select_from(Campaign))


def test_a_file_is_ingested_and_the_campaign_queued(engine, tmp_path):
    # Given a semicolon CSV with two valid phones, one invalid and one duplicate
    path = tmp_path / "spring.csv"
    path.write_text(CSV, encoding="cp1251")
    uow_factory = lambda: UnitOfWork(engine)  # noqa: E731
    # When it is submitted as a template campaign
    result = submit_campaign(
        path, SubmitRequest(text="Hi {name}", country="KZ", provider="fake"), fast_settings(), engine
    )
    # Then the campaign is queued with its first step, and the report counts the rows
    cid = result.campaign_id
    assert result.next == [Next("create", cid)]
    assert (result.report.rows, result.report.valid, result.report.invalid, result.report.duplicates) == (4, 2, 1, 1)
    campaign = campaign_row(uow_factory, cid)
    assert (campaign.state, campaign.name, campaign.type, campaign.source_name) == ("queued", "spring.csv", 3, "spring.csv")
    status = campaign_status(cid, uow_factory)
    assert status["recipients"] == {
        "rows": 4, "valid": 2, "invalid": 1, "duplicates": 1, "added": 0, "rejected_by_provider": 0,
    }
    assert status["chunks"]["total"] == 1
    assert [(r.row_number, r.phone, r.verdict) for r in recipient_rows(uow_factory, cid)] == [
        (2, "77011234567", "valid"), (3, "77011234568", "valid"), (4, None, "invalid"), (5, "77011234567", "duplicate"),
    ]


def test_a_submitted_campaign_runs_to_done(sqlite_engine, tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("77011234567\n77011234568\n77011234569\n", encoding="utf-8")
    result = submit_campaign(path, SubmitRequest(text="Sale", name="Plain", provider="fake"), fast_settings(), sqlite_engine)
    uow_factory = lambda: UnitOfWork(sqlite_engine)  # noqa: E731
    fake = FakeProvider()
    driver = Driver(uow_factory, fake, fast_settings())
    driver.schedule(result.next)
    assert driver.run(result.campaign_id) == "done"
    (remote,) = fake.campaigns.values()
    assert sorted(remote.messages) == ["77011234567", "77011234568", "77011234569"]
    assert remote.spec.type == 2 and remote.spec.name == "Plain"


def test_a_refused_file_leaves_nothing_behind(sqlite_engine, tmp_path):
    path = tmp_path / "nobody.csv"
    path.write_text("phone\nhello\nworld\n", encoding="utf-8")
    before = campaigns_count(sqlite_engine)
    with pytest.raises(FileRefused, match="nobody.csv"):
        submit_campaign(path, SubmitRequest(text="Hi", provider="fake"), fast_settings(), sqlite_engine)
    assert campaigns_count(sqlite_engine) == before


def test_parameters_the_provider_would_refuse_are_refused_before_reading(sqlite_engine, tmp_path):
    # Given parameters breaking Mobizon's Create rules, and a file that does not even exist
    request = SubmitRequest(text="Hi {recipient}", provider="mobizon", rate_limit=10, rate_period=61, validity=5)
    # When submitted
    with pytest.raises(InvalidCampaign) as refused:
        submit_campaign(tmp_path / "missing.csv", request, fast_settings(), sqlite_engine)
    # Then every problem is listed at once, and no campaign was made
    text = str(refused.value)
    assert "placeholder {recipient} cannot be used" in text
    assert "rate period must be 60 (a minute), 3600 (an hour) or 86400 (a day)" in text
    assert "validity must be a whole number of minutes from 60" in text
    assert campaigns_count(sqlite_engine) == 0
    with pytest.raises(InvalidCampaign, match="placeholders must be one of keep, strip, reject"):
        submit_campaign(tmp_path / "x.csv", SubmitRequest(text="Hi", placeholders="drop"), fast_settings(), sqlite_engine)
