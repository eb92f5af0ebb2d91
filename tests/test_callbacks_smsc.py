"""SMSC's handler calls (seed 004) through a real HTTP server: each kind in each charset
and format, each hash, and every way a call can be wrong."""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from urllib.parse import quote_from_bytes, urlencode

import httpx
import pytest
from sqlalchemy import select

from campaigns.callbacks.events import CallbackRefused
from campaigns.callbacks.smsc import read_smsc, signature
from campaigns.services.callbacks import apply_all, list_inbound
from campaigns.settings import Settings
from campaigns.store.callbacks import CallbackEvent, Suppression
from campaigns.store.keys import recipient_id
from campaigns.store.models import Campaign, Recipient
from tests.callback_server import AppServer

SECRET = "cb-Secret_42"
REQUEST = "c1.ab12cd-0"  # the SMSC adapter's request id of campaign 1, chunk 0


@pytest.fixture
def server(sqlite_url, tmp_path):
    settings = Settings(database_url=sqlite_url, data_dir=str(tmp_path / "data"), smsc_callback_secret=SECRET)
    with AppServer(settings) as srv:
        yield srv


@pytest.fixture
def campaign(server):
    """Campaign 1, sent through SMSC: two recipients with their message ids."""
    uow_factory = server.runtime.uow_factory
    with uow_factory() as uow:
        uow.session.add(Campaign(id=1, name="c", provider="smsc", text="hi", state="running"))
        for row, phone in ((1, "77011234567"), (2, "77017654321")):
            uow.session.add(Recipient(
                id=recipient_id(1, row, True), campaign_id=1, row_number=row, raw_phone=phone, phone=phone,
                verdict="valid", message_id=f"{REQUEST}:{phone}",
            ))
        uow.commit()
    return uow_factory


def events(uow_factory) -> list:
    table = CallbackEvent.__table__
    with uow_factory() as uow:
        return uow.session.execute(select(table).order_by(table.c.id)).all()


def final(uow_factory, row: int) -> str | None:
    with uow_factory() as uow:
        return uow.session.get(Recipient, recipient_id(1, row, True)).final_status


def form(fields: dict, charset: str = "windows-1251") -> bytes:
    return urlencode(fields, encoding={"windows-1251": "cp1251", "koi8-r": "koi8_r"}.get(charset, charset)).encode()


def post(server, body: bytes, **query) -> httpx.Response:
    return httpx.post(f"{server.url}/callbacks/smsc", params=query, content=body,
                      headers={"content-type": "application/x-www-form-urlencoded"})


def status_fields(status="1", phone="77011234567", algorithm="md5", charset="windows-1251", **extra) -> dict:
    fields = {"id": REQUEST, "phone": phone, "status": status, "ts": "1764800000", "cnt": "1", "cost": "10",
              "type": "0", "sender": "Shop", **extra}
    fields[algorithm] = signature("status", fields, SECRET, algorithm, charset)
    return fields


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "crc32"])
def test_a_signed_status_is_stored_answered_and_applied(server, campaign, algorithm):
    # When SMSC posts a delivered status signed with each hash
    answer = post(server, form(status_fields(algorithm=algorithm)))
    # Then it is answered 200, kept, and the recipient is delivered
    assert answer.status_code == 200
    assert apply_all(campaign, server.runtime.settings) in (0, 1)  # the applier thread may be first
    [event] = events(campaign)
    assert event.kind == "status" and event.outcome == "applied" and event.recipient_id == recipient_id(1, 1, True)
    assert algorithm not in event.payload  # the signature is not kept
    assert final(campaign, 1) == "DELIVRD"


def test_crc32_in_hex_is_taken_too():
    fields = {"id": REQUEST, "phone": "77011234567", "status": "1"}
    fields["crc32"] = f"{zlib.crc32(f'{REQUEST}:77011234567:1:{SECRET}'.encode()) & 0xFFFFFFFF:08x}"
    assert read_smsc(form(fields), {}, secret=SECRET).kind == "status"


@pytest.mark.parametrize("charset", ["utf-8", "koi8-r", "windows-1251", None])
@pytest.mark.parametrize("fmt", [None, "3", "2"])
def test_an_incoming_stop_in_every_charset_and_format_suppresses_the_phone(server, campaign, charset, fmt):
    # Given an incoming "СТОП" answering the campaign's message, encoded as the handler's URL says
    effective = charset or "windows-1251"
    if fmt and effective == "koi8-r":
        effective = "windows-1251"  # "При передаче параметра fmt кодировка koi8-r не используется"
    codec = {"windows-1251": "cp1251", "koi8-r": "koi8_r"}.get(effective, effective)
    fields = {"id": "900001", "sms_id": REQUEST, "phone": "77011234567", "mes": " СТОП ", "to": "79001234567",
              "sent": "1764800000", "time": "1764800001"}
    fields["sha1"] = signature("inbound", fields, SECRET, "sha1", codec)
    if fmt == "3":
        body, kind = json.dumps(fields, ensure_ascii=False).encode(codec), "application/json"
    elif fmt == "2":
        body = ("<data>" + "".join(f"<{k}>{v}</{k}>" for k, v in fields.items()) + "</data>").encode(codec)
        kind = "text/xml"
    else:
        body, kind = urlencode(fields, encoding=codec).encode(), "application/x-www-form-urlencoded"
    query = {k: v for k, v in (("charset", charset), ("fmt", fmt)) if v}
    # When it is posted
    answer = httpx.post(f"{server.url}/callbacks/smsc", params=query, content=body, headers={"content-type": kind})
    # Then it is kept with its text, matched to the recipient it answers, and the phone is suppressed
    assert answer.status_code == 200, answer.text
    apply_all(campaign, server.runtime.settings)
    items, _ = list_inbound(campaign)
    assert [(i["text"], i["campaign_id"], i["recipient_id"], i["opted_out"]) for i in items] == [
        (" СТОП ", 1, recipient_id(1, 1, True), True)
    ]
    with campaign() as uow:
        assert uow.session.get(Suppression, "77011234567").source == "reply"


def test_a_call_confirmation_is_kept(server, campaign):
    fields = {"waitcall": "1", "phone": "77011234567", "ts": "1764800000"}
    fields["md5"] = hashlib.md5(f"77011234567:1764800000:{SECRET}".encode()).hexdigest()
    assert post(server, form(fields)).status_code == 200
    apply_all(campaign, server.runtime.settings)
    [event] = events(campaign)
    assert (event.kind, event.outcome) == ("call", "recorded")


@pytest.mark.parametrize("change, code", [
    (lambda f: f.update(md5="0" * 32), 403),  # a wrong hash
    (lambda f: f.pop("md5"), 403),  # a missing one
    (lambda f: f.update(sha1="0" * 40), 403),  # two hashes
    (lambda f: f.update(status="2"), 403),  # a signed field changed
    (lambda f: f.pop("id"), 400),  # a signed field missing
])
def test_a_call_not_signed_right_is_refused_and_nothing_is_stored(server, campaign, change, code):
    fields = status_fields()
    change(fields)
    answer = post(server, form(fields))
    assert answer.status_code == code
    assert "Traceback" not in answer.text
    assert events(campaign) == []


def test_a_replayed_status_is_stored_once_and_applied_once(server, campaign):
    body = form(status_fields())
    assert [post(server, body).status_code for _ in range(3)] == [200, 200, 200]
    apply_all(campaign, server.runtime.settings)
    [event] = events(campaign)
    assert event.deliveries == 3 and event.outcome == "applied"


def test_statuses_never_move_backwards(server, campaign):
    # Given a delivered status, then a late "passed to the operator" one
    post(server, form(status_fields(status="1", ts="1764800100")))
    post(server, form(status_fields(status="0", ts="1764800000")))
    post(server, form(status_fields(status="20", ts="1764800200")))
    apply_all(campaign, server.runtime.settings)
    # Then the recipient stays delivered
    assert final(campaign, 1) == "DELIVRD"
    assert sorted(e.outcome for e in events(campaign)) == ["already final", "applied", "not final"]


def test_a_status_for_an_unknown_message_is_kept_and_answered_200(server, campaign):
    fields = {"id": "c77.zz-3", "phone": "77010000000", "status": "1"}
    fields["md5"] = signature("status", fields, SECRET, "md5")
    assert post(server, form(fields)).status_code == 200
    apply_all(campaign, server.runtime.settings)
    [event] = events(campaign)
    assert event.outcome == "unmatched"


def test_a_body_not_in_the_declared_charset_is_refused(server, campaign):
    # Given windows-1251 bytes declared as UTF-8
    body = b"phone=77011234567&to=1&mes=" + quote_from_bytes("СТОП".encode("cp1251")).encode() + b"&md5=x"
    answer = post(server, body, charset="utf-8")
    assert answer.status_code == 400 and "charset" in answer.text
    assert events(campaign) == []


def test_an_unknown_charset_and_a_broken_json_are_refused(server, campaign):
    assert post(server, form(status_fields()), charset="latin-9").status_code == 400
    assert post(server, b"{not json", fmt="3").status_code == 400
    assert post(server, b'{"id": "a", "id": "b"}', fmt="3").status_code == 400
    assert post(server, b"<!DOCTYPE x [<!ENTITY a 'b'>]><data><id>&a;</id></data>", fmt="2").status_code == 400
    assert events(campaign) == []


def test_a_one_megabyte_body_is_refused(server, campaign):
    fields = status_fields(cmt="x" * (1024 * 1024))
    answer = post(server, form(fields))
    assert answer.status_code == 413
    # and streamed without a length too
    chunks = (b"x" * 65536 for _ in range(16))
    answer = httpx.post(f"{server.url}/callbacks/smsc", content=chunks)
    assert answer.status_code == 413
    assert events(campaign) == []


def test_repeated_form_fields_are_refused(server, campaign):
    body = form(status_fields()) + b"&status=20"
    answer = post(server, body)
    assert answer.status_code == 400 and "repeated" in answer.text
    assert events(campaign) == []


def test_without_a_secret_every_call_is_refused_unless_insecure(sqlite_url, tmp_path):
    fields = {"id": REQUEST, "phone": "77011234567", "status": "1"}
    with pytest.raises(CallbackRefused) as refused:
        read_smsc(form(fields), {}, secret=None)
    assert refused.value.status == 403
    assert read_smsc(form(fields), {}, secret=None, insecure=True).key.startswith("s:")
    settings = Settings(database_url=sqlite_url, data_dir=str(tmp_path / "d"))
    with AppServer(settings) as srv:
        assert httpx.post(f"{srv.url}/callbacks/smsc", content=form(fields)).status_code == 403


def test_the_applier_thread_applies_without_help(server, campaign):
    post(server, form(status_fields(phone="77017654321", status="20")))
    deadline = time.monotonic() + 10
    while final(campaign, 2) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert final(campaign, 2) == "UNDELIV"


KINDS = {
    "status": {"id": REQUEST, "phone": "77011234567", "status": "1", "ts": "1764800000", "sender": "Магазин"},
    "inbound": {"id": "900002", "phone": "77017654321", "mes": "Спасибо, получил", "to": "79001234567"},
    "call": {"waitcall": "1", "phone": "77017654321", "ts": "1764800000"},
}


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("charset", ["utf-8", "koi8-r", "windows-1251"])
@pytest.mark.parametrize("fmt", [None, "3", "2"])
@pytest.mark.parametrize("algorithm", ["md5", "sha1", "crc32"])
def test_every_kind_in_every_charset_format_and_hash_is_read(kind, charset, fmt, algorithm):
    # Given a call of each kind encoded and signed as SMSC would for that handler URL
    effective = "windows-1251" if fmt and charset == "koi8-r" else charset
    codec = {"windows-1251": "cp1251", "koi8-r": "koi8_r"}.get(effective, effective)
    fields = dict(KINDS[kind])
    fields[algorithm] = signature(kind, fields, SECRET, algorithm, codec)
    if fmt == "3":
        body = json.dumps(fields, ensure_ascii=False).encode(codec)
    elif fmt == "2":
        body = ("<data>" + "".join(f"<{k}>{v}</{k}>" for k, v in fields.items()) + "</data>").encode(codec)
    else:
        body = urlencode(fields, encoding=codec).encode()
    query = {"charset": charset, **({"fmt": fmt} if fmt else {})}
    # When it is read, then it is that kind with its text intact and no signature kept
    event = read_smsc(body, query, secret=SECRET)
    assert event.kind == kind
    assert event.payload == {k: v for k, v in KINDS[kind].items()}
    # and the same body with one byte of a signed field changed is refused
    tampered = body.replace(b"77017654321", b"77017654320").replace(b"77011234567", b"77011234560")
    with pytest.raises(CallbackRefused) as refused:
        read_smsc(tampered, query, secret=SECRET)
    assert refused.value.status == 403


def test_a_nul_character_is_refused(server, campaign):
    fields = status_fields()
    assert post(server, form(fields).replace(b"id=c1", b"id=%00c1")).status_code == 400
    assert post(server, b'{"id": "c1\\u0000", "phone": "1", "status": "1", "md5": "x"}', fmt="3").status_code == 400
    assert events(campaign) == []
