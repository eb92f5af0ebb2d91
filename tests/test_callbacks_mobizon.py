"""Mobizon's webhook (PROVIDERS.md) through a real HTTP server: signed events stored and
applied once, and every way a call can be wrong."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import select

from campaigns.callbacks.mobizon import sign
from campaigns.services.callbacks import apply_all
from campaigns.settings import Settings
from campaigns.store.callbacks import CallbackEvent
from campaigns.store.keys import recipient_id
from campaigns.store.models import Campaign, Recipient
from tests.callback_server import AppServer

SECRET = "mz-webhook-secret"


@pytest.fixture
def server(sqlite_url, tmp_path):
    settings = Settings(database_url=sqlite_url, data_dir=str(tmp_path / "data"), mobizon_webhook_secret=SECRET)
    with AppServer(settings) as srv:
        yield srv


@pytest.fixture
def uow_factory(server):
    """Campaign 1 at Mobizon as campaign 9001, with message 7001 to its first recipient."""
    factory = server.runtime.uow_factory
    with factory() as uow:
        uow.session.add(Campaign(id=1, name="c", provider="mobizon", text="hi", state="running",
                                 provider_campaign_id="9001"))
        uow.session.add(Recipient(id=recipient_id(1, 1, True), campaign_id=1, row_number=1, raw_phone="77011234567",
                                  phone="77011234567", verdict="valid", message_id="7001"))
        uow.commit()
    return factory


def event(event_id="e-1", attempt=1, status="DELIVRD", message="7001", campaign="9001", **extra) -> dict:
    body = {"eventId": event_id, "eventType": "sms-delivery-report", "eventCreateTs": 1764800000,
            "webhookId": 12, "attempt": attempt,
            "data": {"campaignId": campaign, "messageId": message, "segNum": 1, "statusUpdateTs": 1764800005,
                     "status": status, "to": "77011234567"}, **extra}
    body.setdefault("sign", sign(body, SECRET))
    return body


def post(server, body) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{server.url}/callbacks/mobizon", content=content, headers={"content-type": "application/json"})


def stored(factory) -> list:
    t = CallbackEvent.__table__
    with factory() as uow:
        return uow.session.execute(select(t).order_by(t.c.id)).all()


def final(factory) -> tuple:
    with factory() as uow:
        r = uow.session.get(Recipient, recipient_id(1, 1, True))
        return r.final_status, r.final_at


def test_a_signed_report_is_stored_and_applied(server, uow_factory):
    answer = post(server, event())
    assert answer.status_code == 200 and answer.json() == {"ok": True}
    apply_all(uow_factory, server.runtime.settings)
    [row] = stored(uow_factory)
    assert (row.kind, row.outcome, row.campaign_id) == ("status", "applied", 1)
    status, at = final(uow_factory)
    assert status == "DELIVRD" and int(at.timestamp()) == 1764800005  # statusUpdateTs


def test_a_retried_report_is_kept_once(server, uow_factory):
    # Mobizon's retries carry the same eventId and the next attempt (so another sign)
    assert [post(server, event(attempt=n)).status_code for n in (1, 2, 3)] == [200, 200, 200]
    apply_all(uow_factory, server.runtime.settings)
    [row] = stored(uow_factory)
    assert row.deliveries == 3 and row.outcome == "applied"


@pytest.mark.parametrize("body, code", [
    (event(sign="0" * 40), 403),
    ({k: v for k, v in event().items() if k != "sign"}, 403),
    (event(attempt=2, sign=sign(event(attempt=1), SECRET)), 403),  # signed for another attempt
    (b"not json", 400),
    (b"\xff\xfe{}", 400),
    (b"[1, 2]", 400),
    ({"eventType": "sms-delivery-report"}, 400),
    (event(data=None), 400),
    (b"{" + b" " * (1024 * 1024) + b"}", 413),
])
def test_a_bad_call_is_refused_and_nothing_is_stored(server, uow_factory, body, code):
    answer = post(server, body)
    assert answer.status_code == code
    assert "Traceback" not in answer.text
    assert stored(uow_factory) == []


def test_unknown_messages_and_other_events_are_kept_and_answered_200(server, uow_factory):
    assert post(server, event("e-2", message="99999")).status_code == 200
    assert post(server, event("e-3", campaign="1234")).status_code == 200
    other = event("e-4")
    other["eventType"] = "something-new"
    other["sign"] = sign(other, SECRET)
    assert post(server, other).status_code == 200
    apply_all(uow_factory, server.runtime.settings)
    assert [(r.event_key, r.outcome) for r in stored(uow_factory)] == [
        ("e-2", "unmatched"), ("e-3", "unmatched"), ("e-4", "recorded")
    ]
    assert final(uow_factory)[0] is None


def test_without_a_secret_the_webhook_is_refused(sqlite_url, tmp_path):
    with AppServer(Settings(database_url=sqlite_url, data_dir=str(tmp_path / "d"))) as srv:
        assert post(srv, event()).status_code == 403
    with AppServer(Settings(database_url=sqlite_url, data_dir=str(tmp_path / "d"), mobizon_webhook_insecure=True)) as srv:
        assert post(srv, {k: v for k, v in event().items() if k != "sign"}).status_code == 200


def test_a_nul_character_is_refused(server, uow_factory):
    body = event("e-\u0000")
    assert post(server, body).status_code == 400
    assert stored(uow_factory) == []
