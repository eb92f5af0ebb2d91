"""Applying stored events on SQLite and PostgreSQL: once each however many appliers run,
statuses never backwards, replies matched and stop words suppressing, delivery counts."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
from sqlalchemy import delete, select

from campaigns.callbacks.events import Event
from campaigns.services.callbacks import apply_all, apply_pending, delivery_counts, list_inbound, store_events
from campaigns.services.suppression import suppressed_numbers
from campaigns.settings import Settings
from campaigns.store.callbacks import CallbackEvent, Suppression
from campaigns.store.models import Campaign, Recipient
from campaigns.store.uow import UnitOfWork
from tests.pipeline_data import make_campaign

SETTINGS = Settings()


@pytest.fixture
def uow_factory(engine):
    return lambda: UnitOfWork(engine)


@pytest.fixture
def smsc_campaign(uow_factory):
    """An SMSC campaign of 40 recipients whose messages went out under one request id."""
    phones = [f"7747{uuid.uuid4().int % 10**7:07d}" for _ in range(40)]
    cid = make_campaign(uow_factory, numbers=phones, state="running", provider="smsc", chunk_size=40)
    request = f"c{cid}.{uuid.uuid4().hex[:6]}-0"
    with uow_factory() as uow:
        for r in uow.session.scalars(select(Recipient).where(Recipient.campaign_id == cid)):
            r.message_id = f"{request}:{r.phone}"
        uow.commit()
    yield cid, request, phones
    with uow_factory() as uow:  # PostgreSQL's database is shared: leave no opt-out behind
        uow.session.execute(delete(Suppression).where(Suppression.phone.in_(phones)))
        uow.commit()


def status(request: str, phone: str, code: int, ts: int = 1764800000) -> Event:
    return Event("smsc", "status", f"s:{request}:{phone}:{code}:{ts}",
                 {"id": request, "phone": phone, "status": str(code), "ts": str(ts)})


def outcomes(uow_factory, keys) -> dict[str, str]:
    t = CallbackEvent.__table__
    with uow_factory() as uow:
        rows = uow.session.execute(select(t.c.event_key, t.c.outcome).where(t.c.event_key.in_(keys))).all()
    return dict(rows)


def test_racing_appliers_apply_each_event_once(uow_factory, smsc_campaign):
    # Given 40 delivered statuses and 40 late "at the operator" ones, stored
    cid, request, phones = smsc_campaign
    events = [status(request, p, 1, 200) for p in phones] + [status(request, p, 0, 100) for p in phones]
    assert all(store_events(uow_factory, events))
    # When four appliers race, a few events a batch
    def run():
        while apply_pending(uow_factory, SETTINGS, limit=7):
            pass

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then each event has exactly one outcome and every recipient is delivered
    got = outcomes(uow_factory, [e.key for e in events])
    assert sorted(got.values()) == ["applied"] * 40 + ["not final"] * 40
    with uow_factory() as uow:
        counts = delivery_counts(uow.session, cid)
    assert counts == {"delivered": 40, "undelivered": 0, "expired": 0, "rejected": 0, "pending": 0}


def test_a_redelivered_event_is_stored_once(uow_factory, smsc_campaign):
    _, request, phones = smsc_campaign
    event = status(request, phones[0], 20)
    assert store_events(uow_factory, [event, event, event]) == [True, False, False]
    t = CallbackEvent.__table__
    with uow_factory() as uow:
        assert uow.session.execute(select(t.c.deliveries).where(t.c.event_key == event.key)).scalar_one() == 3


def test_delivery_counts_by_fate(uow_factory, smsc_campaign):
    cid, request, phones = smsc_campaign
    codes = [1] * 5 + [20] * 3 + [3] * 2 + [22] * 4 + [-1] * 2  # the rest stay pending
    store_events(uow_factory, [status(request, p, c) for p, c in zip(phones, codes)])
    apply_all(uow_factory, SETTINGS)
    with uow_factory() as uow:
        counts = delivery_counts(uow.session, cid)
    assert counts == {"delivered": 5, "undelivered": 3, "expired": 2, "rejected": 4, "pending": 26}


def test_a_stop_reply_suppresses_and_another_reply_does_not(uow_factory, smsc_campaign):
    cid, request, phones = smsc_campaign
    replies = [
        Event("smsc", "inbound", f"i:{uuid.uuid4().hex}", {"id": "1", "sms_id": request, "phone": phones[0], "mes": "  stop\n"}),
        Event("smsc", "inbound", f"i:{uuid.uuid4().hex}", {"id": "2", "sms_id": request, "phone": phones[1], "mes": "stop please"}),
        Event("smsc", "inbound", f"i:{uuid.uuid4().hex}", {"id": "3", "phone": phones[2], "mes": "Отписаться"}),
    ]
    store_events(uow_factory, replies)
    apply_all(uow_factory, SETTINGS)
    items, _ = list_inbound(uow_factory, campaign_id=cid)
    assert sorted((i["phone"], i["opted_out"]) for i in items) == sorted([(phones[0], True), (phones[1], False)])
    with uow_factory() as uow:
        numbers = suppressed_numbers(uow.session.connection())
    assert int(phones[0]) in numbers and int(phones[2]) in numbers and int(phones[1]) not in numbers


class _NoPaging:
    """A provider whose Message/List must not be read."""

    def message_statuses(self, campaign_id):
        raise AssertionError("Message/List was paged although callbacks brought every final status")


def test_a_campaign_whose_statuses_all_came_by_webhook_needs_no_final_paging(uow_factory):
    from campaigns.services.follow import fetch_final_statuses
    from tests.pipeline_data import fast_settings

    # Given a Mobizon campaign the provider reports DONE, each message accepted with its id
    provider_id = str(uuid.uuid4().int % 10**9)
    cid = make_campaign(uow_factory, count=5, state="running", provider="mobizon", provider_campaign_id=provider_id)
    with uow_factory() as uow:
        recipients = list(uow.session.scalars(select(Recipient).where(Recipient.campaign_id == cid)))
        for r in recipients:
            r.message_id, r.provider_code = f"{provider_id}-{r.row_number}", 0
        uow.session.get(Campaign, cid).provider_status = "DONE"
        uow.commit()
        messages = [r.message_id for r in recipients]
    # and every final status arrived by webhook
    store_events(uow_factory, [
        Event("mobizon", "status", f"e-{m}", {"eventId": f"e-{m}", "campaignId": provider_id, "messageId": m,
                                             "status": "DELIVRD", "statusUpdateTs": "1764800000"})
        for m in messages
    ])
    apply_all(uow_factory, SETTINGS)
    # When the final statuses step runs, then the campaign is done without paging
    assert fetch_final_statuses(cid, uow_factory, _NoPaging(), fast_settings()) == []
    from campaigns.services.status import campaign_status

    assert campaign_status(cid, uow_factory)["state"] == "done"


def test_the_cli_shows_replies_and_unmatched_events(sqlite_url):
    from typer.testing import CliRunner

    from campaigns.cli import _register, app
    from campaigns.store.engine import make_engine

    engine = make_engine(sqlite_url)
    factory = lambda: UnitOfWork(engine)  # noqa: E731
    store_events(factory, [
        Event("smsc", "status", "s:c99.x-0:77010000001:1:", {"id": "c99.x-0", "phone": "77010000001", "status": "1"}),
        Event("smsc", "inbound", "i:5", {"id": "5", "phone": "77010000002", "mes": "Когда доставка?"}),
    ])
    apply_all(factory, SETTINGS)
    engine.dispose()
    _register()
    env = {"CAMPAIGNS_DATABASE_URL": sqlite_url, "COLUMNS": "200"}
    runner = CliRunner()
    unmatched = runner.invoke(app, ["callbacks", "--unmatched", "--json"], env=env)
    assert [(e["kind"], e["outcome"]) for e in json.loads(unmatched.stdout)] == [("inbound", "unmatched"),
                                                                                  ("status", "unmatched")]
    inbox = runner.invoke(app, ["inbox"], env=env)
    assert inbox.exit_code == 0 and "Когда доставка?" in inbox.stdout
    table = runner.invoke(app, ["callbacks"], env=env)
    assert "unmatched 2" in table.stdout


def test_the_tick_applies_events_no_applier_got_to(uow_factory, engine, smsc_campaign):
    from workers.context import WorkerContext
    from workers.periodic import periodic_jobs

    # Given statuses stored by a server that stopped before applying them
    cid, request, phones = smsc_campaign
    store_events(uow_factory, [status(request, p, 1) for p in phones[:3]])
    # When the tick runs the callbacks job
    [job] = [j for j in periodic_jobs(SETTINGS) if j.name == "campaigns.callbacks"]
    assert job.run(WorkerContext(SETTINGS, engine, dispatcher=None, owns_engine=False)) is None
    # Then they are applied
    with uow_factory() as uow:
        assert delivery_counts(uow.session, cid)["delivered"] == 3
