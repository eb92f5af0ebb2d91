"""The suppression list: its service, ingestion marking listed phones 'opted out' (unless
the campaign ignores the list, which it records), and ``campaigns suppress``/``validate``."""

from __future__ import annotations

import csv
import json
import uuid

import pytest
from sqlalchemy import delete, select
from typer.testing import CliRunner

from campaigns.cli import _register, app
from campaigns.ingest.service import IngestOptions, validate_file
from campaigns.services.submit import SubmitRequest, submit_campaign
from campaigns.services.suppression import (
    OPTED_OUT, SuppressionError, add_suppression, export_suppressions, import_suppressions, is_stop_word,
    list_suppressions, normalize, remove_suppression, with_suppression,
)
from campaigns.settings import Settings
from campaigns.store.callbacks import Suppression
from campaigns.store.models import Campaign, Recipient
from campaigns.store.uow import UnitOfWork


@pytest.fixture
def uow_factory(engine):
    return lambda: UnitOfWork(engine)


@pytest.fixture
def phones(uow_factory):
    """Three numbers no other test uses; taken off the (shared, on PostgreSQL) list after."""
    made = [f"7705{uuid.uuid4().int % 10**7:07d}" for _ in range(3)]
    yield made
    with uow_factory() as uow:
        uow.session.execute(delete(Suppression).where(Suppression.phone.in_(made)))
        uow.commit()


def recipients_file(tmp_path, phones) -> object:
    path = tmp_path / "list.csv"
    path.write_text("phone\n" + "\n".join(f"+{p}" for p in phones) + "\n", encoding="utf-8")
    return path


def test_add_remove_and_list(uow_factory, phones):
    entry, new = add_suppression(uow_factory, f"+{phones[0]}", reason="asked by phone")
    assert new and entry.phone == phones[0] and entry.source == "manual"
    assert add_suppression(uow_factory, phones[0])[1] is False  # already listed: kept as it was
    assert phones[0] in [e.phone for e in list_suppressions(uow_factory)]
    assert remove_suppression(uow_factory, phones[0]) is True
    assert remove_suppression(uow_factory, phones[0]) is False
    with pytest.raises(SuppressionError):
        add_suppression(uow_factory, "hello")


def test_national_numbers_need_their_country():
    assert normalize("8 701 123 45 67", "KZ") == "77011234567"
    with pytest.raises(SuppressionError):
        normalize("123")


@pytest.mark.parametrize("text, stop", [
    ("STOP", True), (" stop\n", True), ("СТОП", True), ("стоп", True), ("Отписаться", True), ("0", True),
    ("unsubscribe", True), ("stop it", False), ("", False), ("00", False),
])
def test_stop_words_are_trimmed_and_case_folded(text, stop):
    assert is_stop_word(text, Settings().stop_words) is stop


def test_import_and_export_round_trip(uow_factory, phones, tmp_path):
    source = tmp_path / "optouts.csv"
    source.write_text(f"phone;reason\n+{phones[0]};complaint\n{phones[1]};\nnot a phone;x\n+{phones[0]};again\n",
                      encoding="utf-8")
    assert import_suppressions(uow_factory, source, reason="imported") == {"added": 2, "already": 0, "skipped": 2}
    out = tmp_path / "out.csv"
    export_suppressions(uow_factory, out)
    with open(out, encoding="utf-8") as f:
        rows = {row["phone"]: row for row in csv.DictReader(f)}
    assert rows[phones[0]]["reason"] == "complaint" and rows[phones[1]]["reason"] == "imported"
    assert rows[phones[0]]["source"] == "import"


def test_validate_counts_opted_out_phones(uow_factory, phones, engine, tmp_path):
    # Given one of three phones suppressed
    add_suppression(uow_factory, phones[1])
    options = with_suppression(IngestOptions(text="Hi"), engine)
    # When the file is checked
    report = validate_file(recipients_file(tmp_path, phones), options, Settings())
    # Then that row is invalid, 'opted out', counted apart from the other reasons
    assert (report.valid, report.invalid) == (2, 1)
    assert report.invalid_by_reason == {OPTED_OUT: 1}
    assert report.problems == [{"row": 3, "phone": f"+{phones[1]}", "reason": OPTED_OUT}]


def test_submit_marks_opted_out_unless_the_campaign_ignores_the_list(uow_factory, phones, engine, tmp_path):
    add_suppression(uow_factory, phones[0])
    path = recipients_file(tmp_path, phones)
    settings = Settings(database_url=str(engine.url))
    # When the same file is submitted, then submitted again ignoring the list
    marked = submit_campaign(path, SubmitRequest(text="Hi", provider="sandbox"), settings, engine)
    ignoring = submit_campaign(path, SubmitRequest(text="Hi", provider="sandbox", ignore_suppression=True),
                               settings, engine)
    # Then the first has the phone opted out (stored invalid, with its number), the second sends to it
    assert marked.report.invalid_by_reason == {OPTED_OUT: 1} and marked.report.valid == 2
    assert ignoring.report.invalid == 0 and ignoring.report.valid == 3
    with uow_factory() as uow:
        row = uow.session.execute(
            select(Recipient.verdict, Recipient.reason).where(
                Recipient.campaign_id == marked.campaign_id, Recipient.raw_phone == f"+{phones[0]}")
        ).one()
        assert tuple(row) == ("invalid", OPTED_OUT)
        flags = dict(uow.session.execute(select(Campaign.id, Campaign.ignore_suppression).where(
            Campaign.id.in_([marked.campaign_id, ignoring.campaign_id]))).all())
    assert flags == {marked.campaign_id: False, ignoring.campaign_id: True}


def test_the_cli_manages_the_list_and_validate_honours_it(sqlite_url, tmp_path):
    _register()
    runner = CliRunner()
    env = {"CAMPAIGNS_DATABASE_URL": sqlite_url, "COLUMNS": "160"}

    def run(*args):
        return runner.invoke(app, list(args), env=env)

    assert run("suppress", "add", "+77017770001", "--reason", "asked").exit_code == 0
    assert run("suppress", "add", "not-a-phone").exit_code == 2
    listed = json.loads(run("suppress", "list", "--json").stdout)
    assert [(e["phone"], e["reason"], e["source"]) for e in listed] == [("77017770001", "asked", "manual")]
    source = recipients_file(tmp_path, ["77017770001", "77017770002"])
    report = json.loads(run("validate", str(source), "--text", "Hi", "--json").stdout)
    assert report["invalid_by_reason"] == {OPTED_OUT: 1}
    ignored = json.loads(run("validate", str(source), "--text", "Hi", "--json", "--ignore-suppression").stdout)
    assert ignored["invalid"] == 0
    out = tmp_path / "export.csv"
    assert run("suppress", "export", str(out)).exit_code == 0
    assert run("suppress", "remove", "77017770001").exit_code == 0
    assert run("suppress", "remove", "77017770001").exit_code == 1
    imported = run("suppress", "import", str(out), "--json")
    assert json.loads(imported.stdout) == {"added": 1, "already": 0, "skipped": 1}  # the header row


def test_the_http_api_manages_the_list(sqlite_url, tmp_path):
    import httpx

    from campaigns.services.tokens import create_token
    from tests.callback_server import AppServer

    with AppServer(Settings(database_url=sqlite_url, data_dir=str(tmp_path / "d"))) as server:
        token, _ = create_token("writer", "submit", server.runtime.uow_factory)
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as api:
            made = api.post("/v1/suppressions", json={"phone": "8 701 555 00 01", "country": "KZ", "reason": "call"})
            assert made.status_code == 201 and made.json()["phone"] == "77015550001"
            assert api.post("/v1/suppressions", json={"phone": "+77015550001"}).status_code == 200
            bad = api.post("/v1/suppressions", json={"phone": "hello"})
            assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
            for i in range(2, 5):
                api.post("/v1/suppressions", json={"phone": f"+7701555000{i}"})
            first = api.get("/v1/suppressions", params={"limit": 3}).json()
            second = api.get("/v1/suppressions", params={"limit": 3, "after": first["next_cursor"]}).json()
            assert [e["phone"] for e in first["items"] + second["items"]] == [f"7701555000{i}" for i in range(1, 5)]
            assert second["next_cursor"] is None
            assert api.get("/v1/suppressions/+77015550001").json()["reason"] == "call"
            assert api.delete("/v1/suppressions/77015550001").status_code == 204
            assert api.delete("/v1/suppressions/77015550001").status_code == 404
            assert api.get("/v1/suppressions/77015550001").status_code == 404
            assert api.get("/v1/inbound").json() == {"items": [], "next_cursor": None}


def test_the_python_call_takes_ignore_suppression(sqlite_url, tmp_path):
    from campaigns import submit_campaign as submit
    from campaigns.store.engine import make_engine

    engine = make_engine(sqlite_url)
    factory = lambda: UnitOfWork(engine)  # noqa: E731
    add_suppression(factory, "+77017770009")
    path = recipients_file(tmp_path, ["77017770009", "77017770008"])
    settings = Settings(database_url=sqlite_url, data_dir=str(tmp_path / "d"))
    marked = submit(path, text="Hi", wait=False, settings=settings)
    ignoring = submit(path, text="Hi", wait=False, settings=settings, ignore_suppression=True)
    assert (marked["recipients"]["invalid"], ignoring["recipients"]["invalid"]) == (1, 0)
    with factory() as uow:
        assert uow.session.get(Campaign, ignoring["id"]).ignore_suppression is True
    engine.dispose()
