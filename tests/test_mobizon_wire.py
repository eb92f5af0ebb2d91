"""Mobizon's wire format: the client's request bodies, byte for byte, against the
documents' own curl ``-d`` examples (seed 002 Campaign module, seed 000 Message module),
the URL and headers, and the PHP-bracket encoder itself."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from campaigns.providers.mobizon import wire
from tests.mobizon_fake import KEY, FakeMobizon, make_client, ok

# The documents' examples, copied verbatim.
DOC_CREATE = (
    "data%5Btype%5D=3&data%5Bfrom%5D=Alpha&data%5Btext%5D=Hello+%7Bname%7D%21+Your+balance+by+"
    "%7Bdate%7D+is+%7Bbalance%7D%7Bcurrency%7D."
)
DOC_CAMPAIGN_LIST = (
    "criteria%5Bfrom%5D=Alpha&pagination%5BcurrentPage%5D=2&pagination%5BpageSize%5D=50&sort%5Btype%5D=ASC"
)
DOC_ID = "id=123"
DOC_GET_LINKS = "campaignId=123"
DOC_SMS_STATUS = "ids%5B0%5D=123&ids%5B1%5D=556&ids%5B2%5D=988"
DOC_MESSAGE_LIST = (
    "criteria%5Bfrom%5D=Alpha&pagination%5BcurrentPage%5D=2&pagination%5BpageSize%5D=50&sort%5BcampaignId%5D=ASC"
)
DOC_SEND_SMS = "recipient=77273573423&text=Test+sms+message&from=YourAlpha&params%5Bvalidity%5D=1440"
# AddRecipients writes its examples with literal brackets, one parameter a line.
DOC_ADD_PLAIN = "recipients[]=380971112233&recipients[]=79101112233&recipients[]=77071112233"
DOC_ADD_TEMPLATE = """recipients[0][recipient]=380971112233
&recipients[0][name]=%D0%92%D0%B0%D1%81%D0%B8%D0%BB%D0%B8%D0%B9
&recipients[0][date]=26.10.17
&recipients[0][balance]=123.45
&recipients[0][currency]=%D0%B3%D1%80%D0%BD
&recipients[1][recipient]=380971112255
&recipients[1][name]=%D0%9E%D0%BB%D1%8C%D0%B3%D0%B0
&recipients[1][date]=26.10.17
&recipients[1][balance]=3222.99
&recipients[1][currency]=%D1%80%D1%83%D0%B1
&recipients[2][recipient]=4901122211112
&recipients[2][name]=Markus
&recipients[2][date]=26.10.17
&recipients[2][balance]=555.45
&recipients[2][currency]=eur"""


def _brackets_encoded(doc: str) -> bytes:
    return doc.replace("\n", "").replace("[", "%5B").replace("]", "%5D").encode()


@pytest.fixture
def fake():
    return FakeMobizon()


@pytest.fixture
def client(fake):
    client = make_client(fake)
    yield client
    client.close()


def test_create_body_is_the_documents_example(fake, client):
    fake.reply("campaign/create", ok("123"))
    client.create_campaign(type=3, sender="Alpha", text="Hello {name}! Your balance by {date} is {balance}{currency}.")
    assert fake.seen[0].body == DOC_CREATE.encode()


def test_url_method_headers_follow_the_transport_rules(fake, client):
    fake.reply("campaign/create", ok("123"))
    client.create_campaign(text="Hi")
    request = fake.seen[0].request
    assert request.method == "POST"
    assert str(request.url) == f"https://api.mobizon.kz/service/campaign/create?output=json&api=v1&apiKey={KEY}"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    "method, call",
    [
        ("campaign/send", lambda c: c.send_campaign(123)),
        ("campaign/get", lambda c: c.get_campaign(123)),
        ("campaign/getInfo", lambda c: c.get_campaign_info(123)),
        ("campaign/delete", lambda c: c.delete_campaign(123)),
    ],
)
def test_id_bodies_are_the_documents_example(fake, client, method, call):
    fake.reply(method, ok(2 if method == "campaign/send" else (True if method == "campaign/delete" else {})))
    call(client)
    assert fake.seen[0].method == method
    assert fake.seen[0].body == DOC_ID.encode()


def test_get_links_body_is_the_documents_example(fake, client):
    fake.reply("campaign/getLinks", ok([]))
    client.get_links(123)
    assert fake.seen[0].body == DOC_GET_LINKS.encode()


def test_campaign_list_body_is_the_documents_example(fake, client):
    fake.reply("campaign/list", ok({"items": [], "totalItemCount": "0"}))
    client.list_campaigns(criteria={"from": "Alpha"}, page=2, page_size=50, sort={"type": "ASC"})
    assert fake.seen[0].body == DOC_CAMPAIGN_LIST.encode()


def test_sms_status_body_is_the_documents_example(fake, client):
    fake.reply("message/getSMSStatus", ok([]))
    client.get_sms_status(["123", "556", "988"])
    assert fake.seen[0].body == DOC_SMS_STATUS.encode()


def test_message_list_third_page_is_the_documents_example(fake, client):
    # Given two full pages of 50 and a last one: the third request asks for page 2.
    def page(n):
        return ok({"items": [{"id": str(n * 50 + i)} for i in range(50 if n < 2 else 7)], "totalItemCount": "107"})

    fake.reply("message/list", page(0), page(1), page(2))
    items = list(client.iter_messages(criteria={"from": "Alpha"}, page_size=50, sort={"campaignId": "ASC"}))
    assert len(items) == 107
    assert fake.seen[2].body == DOC_MESSAGE_LIST.encode()


def test_send_sms_body_is_the_documents_example(fake, client):
    fake.reply("message/sendSmsMessage", ok({"campaignId": "1", "messageId": "2", "status": 2}))
    client.send_sms_message("77273573423", "Test sms message", sender="YourAlpha", validity=1440)
    assert fake.seen[0].body == DOC_SEND_SMS.encode()


def test_add_template_recipients_body_is_the_documents_example(fake, client):
    recipients = [
        {"recipient": "380971112233", "name": "Василий", "date": "26.10.17", "balance": "123.45", "currency": "грн"},
        {"recipient": "380971112255", "name": "Ольга", "date": "26.10.17", "balance": "3222.99", "currency": "руб"},
        {"recipient": "4901122211112", "name": "Markus", "date": "26.10.17", "balance": "555.45", "currency": "eur"},
    ]
    fake.reply("campaign/addRecipients", ok([]))
    client.add_recipients(123, recipients)
    assert fake.seen[0].body == b"id=123&" + _brackets_encoded(DOC_ADD_TEMPLATE)


def test_add_plain_numbers_body_is_the_documents_example(fake, client):
    fake.reply("campaign/addRecipients", ok([]))
    client.add_recipients(123, ["380971112233", "79101112233", "77071112233"])
    assert fake.seen[0].body == b"id=123&" + _brackets_encoded(DOC_ADD_PLAIN)


# --- the encoder ----------------------------------------------------------------------


def test_flatten_nests_mappings_lists_and_appended_lists_in_order():
    pairs = wire.flatten(
        {"a": {"b": 1, "c": [True, False]}, "d": wire.Appended(["x", "y"]), "skip": None, "e": {"f": None}}
    )
    assert pairs == [("a[b]", "1"), ("a[c][0]", "1"), ("a[c][1]", "0"), ("d[]", "x"), ("d[]", "y")]


def test_encode_percent_encodes_like_php():
    assert wire.encode({"t": "a b+c&d=é/?"}) == ("t=" + quote("a b+c&d=é/?", safe="").replace("%20", "+")).encode()
    assert wire.encode({"t": "a b"}) == b"t=a+b"


@pytest.mark.parametrize("bad", ["a[b]", "x]", "", "[0]"])
def test_keys_with_brackets_are_refused(bad):
    with pytest.raises(ValueError, match="cannot be sent"):
        wire.flatten({"recipients": [{"recipient": "1", bad: "v"}]})


def test_bytes_are_not_form_values():
    with pytest.raises(TypeError):
        wire.flatten({"f": b"raw"})
