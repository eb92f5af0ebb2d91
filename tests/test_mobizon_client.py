"""MobizonClient against a scripted Mobizon on httpx.MockTransport: every method, every
envelope code, transport failures, the code 13 domain switch, key redaction, lenient
parsing, request splitting and paging, the TaskQueue throttle, and Create's checks."""

from __future__ import annotations

import io
import logging
from datetime import datetime, timedelta

import httpx
import pytest

from campaigns.providers.errors import AuthError, PermanentError, ProviderError, RateLimited, TemporaryError
from campaigns.providers.mobizon import InvalidCampaign, MobizonClient, checks
from campaigns.providers.mobizon.types import Counters, to_float, to_id, to_int, to_list
from tests.mobizon_fake import KEY, FakeMobizon, Seen, make_client, ok

NOW = datetime(2025, 3, 1, 12, 0, 0)


@pytest.fixture
def fake():
    return FakeMobizon()


@pytest.fixture
def client(fake):
    client = make_client(fake)
    yield client
    client.close()


def assert_no_key(*texts: object) -> None:
    for text in texts:
        assert KEY not in str(text)


# --- Campaign module ------------------------------------------------------------------


@pytest.mark.parametrize("data", ["4567", 4567, {"id": "4567"}, {"campaignId": 4567}])
def test_create_returns_the_id_however_it_arrives(fake, client, data):
    fake.reply("campaign/create", ok(data))
    assert client.create_campaign(text="Hi") == "4567"


def test_create_sends_every_data_field(fake, client):
    fake.reply("campaign/create", ok("1"))
    client.create_campaign(
        name="Black Friday",
        text="Hi {name}",
        type=3,
        sender="Shop",
        rate_limit=600,
        rate_period=60,
        deferred_to=NOW + timedelta(days=2),
        mclass=0,
        validity=720,
        track_short_link_recipients=True,
        now=NOW,
    )
    assert fake.seen[0].form == [
        ("data[type]", "3"),
        ("data[from]", "Shop"),
        ("data[text]", "Hi {name}"),
        ("data[name]", "Black Friday"),
        ("data[rateLimit]", "600"),
        ("data[ratePeriod]", "60"),
        ("data[deferredToTs]", "2025-03-03 12:00:00"),
        ("data[mclass]", "0"),
        ("data[validity]", "720"),
        ("data[trackShortLinkRecipients]", "1"),
    ]


def test_create_without_an_id_in_the_answer_may_have_created_it(fake, client):
    fake.reply("campaign/create", ok(None))
    with pytest.raises(TemporaryError) as caught:
        client.create_campaign(text="Hi")
    assert caught.value.maybe_done


def test_create_checks_every_rule_before_any_call(fake, client):
    with pytest.raises(InvalidCampaign) as caught:
        client.create_campaign(
            name="n" * 256, text="Hi {recipient}", type=3, rate_limit=10, validity=30, mclass=2, now=NOW
        )
    assert fake.seen == []
    problems = caught.value.problems
    assert any("256 characters" in p for p in problems)
    assert any("{recipient}" in p for p in problems)
    assert any("rate limit and rate period go together" in p for p in problems)
    assert any("validity" in p and "30" in p for p in problems)
    assert any("message class" in p for p in problems)
    assert isinstance(caught.value, ValueError)


def test_add_recipients_returns_partial_and_failed_results_as_data(fake, client):
    # Given Mobizon adds one of three (98), then none (99), sending a PHP array as an object
    fake.reply(
        "campaign/addRecipients",
        ok(
            [
                {"recipient": "77011111111", "code": "0", "messageId": "901", "number": "77011111111"},
                {"recipient": "77022222222", "code": 5, "messageId": None, "number": "77022222222"},
                {"recipient": None, "code": 3, "number": "12"},
            ],
            code=98,
        ),
        ok({"0": {"recipient": "1", "code": 3, "number": "1"}, "1": {"recipient": "2", "code": 1}}, code=99),
    )
    first = client.add_recipients("55", ["77011111111", "77022222222", "12"])
    assert first.code == 98 and first.added_count == 1
    assert [(i.code, i.message_id, i.added) for i in first.items] == [
        (0, "901", True), (5, None, False), (3, None, False)
    ]
    assert first.items[1].meaning == "the number is in a stop-list"
    second = client.add_recipients("55", ["1", "2"])
    assert second.code == 99 and [i.code for i in second.items] == [3, 1]


def test_add_recipients_sends_params(fake, client):
    fake.reply("campaign/addRecipients", ok([]))
    client.add_recipients(7, [{"recipient": "770", "name": "A", "city": None}], replace=True, placeholders_flag=3)
    assert fake.seen[0].form == [
        ("id", "7"),
        ("recipients[0][recipient]", "770"),
        ("recipients[0][name]", "A"),
        ("params[replace]", "1"),
        ("params[placeholdersFlag]", "3"),
    ]


@pytest.mark.parametrize(
    "recipients, flag, message",
    [
        ([], None, "at least one"),
        (["7"] * 501, None, "at most 500"),
        (["7", {"recipient": "8"}], None, "all phone numbers or all mappings"),
        ([{"name": "A"}], None, "no 'recipient'"),
        (["7"], 4, "placeholders_flag"),
    ],
)
def test_add_recipients_refuses_bad_calls_before_sending(fake, client, recipients, flag, message):
    with pytest.raises(ValueError, match=message):
        client.add_recipients(1, recipients, placeholders_flag=flag)
    assert fake.seen == []


def test_add_recipients_while_another_add_runs_is_temporary(fake, client):
    fake.reply("campaign/addRecipients", ok(None, code=10, message="Campaign is locked"))
    with pytest.raises(TemporaryError) as caught:
        client.add_recipients(1, ["77011111111"])
    assert caught.value.code == 10 and not caught.value.maybe_done
    assert caught.value.method == "campaign/addRecipients"


@pytest.mark.parametrize("file", [b"phone\n77011111111\n", io.BytesIO(b"phone\n77011111111\n")])
def test_add_recipients_file_uploads_and_returns_the_task(fake, client, file):
    fake.reply("campaign/addRecipients", ok("4242", code=100))
    task = client.add_recipients_file(9, file, "list.csv", encoding="WINDOWS-1251", skip_header=True, delimiter=";")
    assert task == 4242
    request = fake.seen[0].request
    assert request.headers["content-type"].startswith("multipart/form-data")
    body = request.content
    for part in (b'name="id"', b'name="params[recipientsFileEncoding]"', b"WINDOWS-1251", b'name="recipientsFile"',
                 b'filename="list.csv"', b"77011111111", b'name="params[recipientsFileSkipHeader]"'):
        assert part in body


@pytest.mark.parametrize("data, status", [(1, 1), ("2", 2)])
def test_send_returns_the_launch_status(fake, client, data, status):
    fake.reply("campaign/send", ok(data))
    assert client.send_campaign(3) == status


def test_send_without_a_status_may_have_sent(fake, client):
    fake.reply("campaign/send", ok({"weird": True}))
    with pytest.raises(TemporaryError) as caught:
        client.send_campaign(3)
    assert caught.value.maybe_done


def test_get_campaign_reads_extra_leniently(fake, client):
    fake.reply(
        "campaign/get",
        ok(
            {
                "name": "N",
                "text": "T",
                "msgType": "SMS",
                "from": "Alpha",
                "rateLimit": "600",
                "ratePeriod": "60",
                "deferredToTs": None,
                "extra": '{"validity": "720", "mclass": "0", "trackShortLinkRecipients": 1}',
            }
        ),
    )
    data = client.get_campaign(77)
    assert (data.id, data.sender, data.rate_limit, data.rate_period) == ("77", "Alpha", 600, 60)
    assert (data.validity, data.mclass, data.track_short_link_recipients) == (720, 0, 1)


def test_get_info_counters_are_numbers(fake, client):
    fake.reply(
        "campaign/getInfo",
        ok(
            {
                "id": "77",
                "name": "N",
                "mclass": 1,
                "extra": {"validity": 60},
                "counters": {
                    "updateTs": "2025-03-01 12:00:00",
                    "totalMsgNum": "400145",
                    "totalDelivrdMsgNum": 12,
                    "totalCost": "16.2000",
                    "recipientsRejected": "3",
                    "junk": "n/a",
                },
            }
        ),
    )
    info = client.get_campaign_info(77, filled_template_text=True)
    assert fake.seen[0].form == [("id", "77"), ("getFilledTplCampaignText", "1")]
    assert info.counters.total_msg_num == 400145
    assert info.counters.total_cost == pytest.approx(16.2)
    assert info.counters["recipientsRejected"] == 3
    assert info.counters.update_ts == "2025-03-01 12:00:00"
    assert "junk" not in info.counters.as_dict()
    assert (info.mclass, info.validity) == (1, 60)


def test_get_links(fake, client):
    fake.reply(
        "campaign/getLinks",
        ok([{"id": "5", "code": "abc", "fullLink": "https://x.kz", "shortLink": "https://mbz.kz/abc",
             "clickCnt": "7", "redirectCnt": 9, "comment": None}]),
    )
    [link] = client.get_links(3)
    assert (link.id, link.code, link.click_count, link.redirect_count, link.comment) == ("5", "abc", 7, 9, None)


def test_list_campaigns_items_have_status_counters_and_total(fake, client):
    fake.reply(
        "campaign/list",
        ok({"items": [{"id": "8", "status": "running", "name": "N", "text": "T", "createTs": "2025-03-01 10:00:00",
                       "counters": {"totalMsgNum": "5"}}], "totalItemCount": "400145"}),
    )
    page = client.list_campaigns(criteria={"ids": ["8"]})
    assert page.total == 400145
    assert (page.items[0].id, page.items[0].status, page.items[0].counters.total_msg_num) == ("8", "RUNNING", 5)
    assert fake.seen[0].form == [("criteria[ids][0]", "8"), ("pagination[currentPage]", "0")]


def test_list_campaigns_refuses_more_than_ten_ids(fake, client):
    with pytest.raises(ValueError, match="at most 10"):
        client.list_campaigns(criteria={"ids": list(range(11))})
    assert fake.seen == []


@pytest.mark.parametrize("data, expected", [(True, True), ("true", True), (1, True), (False, False), ("0", False)])
def test_delete(fake, client, data, expected):
    fake.reply("campaign/delete", ok(data))
    assert client.delete_campaign(5) is expected


# --- Message module -------------------------------------------------------------------


def test_send_sms_message_returns_ids_and_checks_params(fake, client):
    fake.reply("message/sendSmsMessage", ok({"campaignId": "10", "messageId": 11, "status": "2"}))
    sent = client.send_sms_message(
        "77011111111", "Hello", name="One", deferred_to="2025-03-02 09:00:00", mclass=1, validity=60, now=NOW
    )
    assert (sent.campaign_id, sent.message_id, sent.status) == ("10", "11", 2)
    assert fake.seen[0].fields["params[deferredToTs]"] == "2025-03-02 09:00:00"
    with pytest.raises(InvalidCampaign, match="validity"):
        client.send_sms_message("77011111111", "Hello", validity=2000)
    assert len(fake.seen) == 1


def test_sms_status_splits_more_than_100_ids(fake, client):
    fake.reply("message/getSMSStatus", lambda r: httpx.Response(200, json=ok(
        [{"id": v, "status": "DELIVRD", "segNum": "1"} for k, v in Seen(r).form])))
    statuses = client.get_sms_status([str(i) for i in range(250)])
    assert [len(s.form) for s in fake.seen] == [100, 100, 50]
    assert fake.seen[2].form[0] == ("ids[0]", "200")
    assert len(statuses) == 250 and all(s.final and s.seg_num == 1 for s in statuses)


def test_sms_status_of_no_ids_calls_nothing(fake, client):
    assert client.get_sms_status([]) == []
    assert fake.seen == []


def test_iter_messages_pages_from_zero_to_the_end(fake, client):
    pages = {0: 100, 1: 100, 2: 30}
    fake.reply("message/list", lambda r: httpx.Response(200, json=ok({
        "items": [{"id": f"{Seen(r).fields['pagination[currentPage]']}-{i}", "to": "7701", "status": "DELIVRD",
                   "segUserBuy": "16.2000"}
                  for i in range(pages[int(Seen(r).fields["pagination[currentPage]"])])],
        "totalItemCount": "230"})))
    items = list(client.iter_messages(criteria={"campaignIds": ["5"]}, with_number_info=True))
    assert len(items) == 230 and items[0].seg_user_buy == pytest.approx(16.2)
    assert [s.fields["pagination[currentPage]"] for s in fake.seen] == ["0", "1", "2"]
    assert fake.seen[0].fields["criteria[campaignIds][0]"] == "5"
    assert fake.seen[0].fields["withNumberInfo"] == "1"


def test_iter_messages_stops_on_an_empty_page_and_refuses_a_repeated_one(fake, client):
    full = ok({"items": [{"id": str(i)} for i in range(25)]})
    fake.reply("message/list", full, ok({"items": []}))
    assert len(list(client.iter_messages(criteria={}, page_size=25))) == 25
    repeating = FakeMobizon().reply("message/list", full)
    with make_client(repeating) as other:
        with pytest.raises(TemporaryError, match="repeats"):
            list(other.iter_messages(criteria={}, page_size=25))


@pytest.mark.parametrize("size", [10, 30, 200])
def test_iter_messages_page_sizes_are_25_50_100(client, size):
    with pytest.raises(ValueError, match="25, 50 or 100"):
        client.iter_messages(criteria={}, page_size=size)


# --- TaskQueue ------------------------------------------------------------------------


class FakeTime:
    def __init__(self):
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def test_task_status_is_called_at_most_once_a_second(fake):
    time_ = FakeTime()
    fake.reply("taskqueue/getStatus", ok({"progress": "40", "status": "1"}), ok({"progress": 100, "status": 2}))
    with make_client(fake, clock=time_.clock, sleep=time_.sleep) as client:
        first = client.task_status(42)
        assert (first.progress, first.status, first.done) == (40, 1, False)
        client.task_status(42)  # at once: waits a whole second
        time_.now += 0.4
        client.task_status(42)  # 0.4 s later: waits the rest
        time_.now += 5
        last = client.task_status(42)  # long after: no wait
    assert time_.sleeps == [1.0, 0.6]
    assert last.done and last.finished and fake.seen[0].form == [("id", "42")]


# --- envelope codes -------------------------------------------------------------------

ENVELOPE_ERRORS = [
    (1, PermanentError, None),
    (2, PermanentError, None),
    (3, TemporaryError, True),
    (4, PermanentError, None),
    (5, PermanentError, None),
    (6, PermanentError, None),
    (8, AuthError, None),
    (9, AuthError, None),
    (10, TemporaryError, False),
    (11, PermanentError, None),
    (12, PermanentError, None),
    (14, AuthError, None),
    (30, RateLimited, False),
    (999, TemporaryError, True),
    (77, PermanentError, None),
]


@pytest.mark.parametrize("code, kind, maybe_done", ENVELOPE_ERRORS)
def test_every_envelope_code_maps_onto_the_hierarchy(fake, client, code, kind, maybe_done):
    fake.reply("campaign/send", ok(None, code=code, message="text from Mobizon"))
    with pytest.raises(ProviderError) as caught:
        client.send_campaign(1)
    error = caught.value
    assert type(error) is kind
    assert (error.code, error.method) == (code, "campaign/send")
    assert "text from Mobizon" in str(error)
    if maybe_done is not None:
        assert error.maybe_done is maybe_done
    if kind is not TemporaryError and kind is not RateLimited:
        assert not isinstance(error, TemporaryError)


def test_validation_error_names_the_fields(fake, client):
    fake.reply("campaign/create", ok({"data[text]": "Text is too long", "data[from]": ["Unknown sender"]}, code=1))
    with pytest.raises(PermanentError) as caught:
        client.create_campaign(text="Hi")
    assert "data[text]: Text is too long" in str(caught.value)
    assert "data[from]: Unknown sender" in str(caught.value)


def test_rate_limited_carries_the_method_and_retry_after(fake, client):
    fake.reply("campaign/list", httpx.Response(200, json=ok(None, code=30), headers={"Retry-After": "4"}))
    with pytest.raises(RateLimited) as caught:
        client.list_campaigns()
    assert caught.value.method == "campaign/list" and caught.value.retry_after == 4


def test_code_given_as_a_string_is_read(fake, client):
    fake.reply("campaign/delete", {"code": "0", "data": True, "message": ""})
    assert client.delete_campaign(1) is True


# --- transport failures ---------------------------------------------------------------

TRANSPORT_FAILURES = [
    (httpx.ConnectError("[Errno 111] Connection refused"), TemporaryError, False),
    (httpx.ConnectTimeout("timed out"), TemporaryError, False),
    (httpx.PoolTimeout("timed out"), TemporaryError, False),
    (httpx.ReadTimeout("timed out"), TemporaryError, True),
    (httpx.WriteTimeout("timed out"), TemporaryError, True),
    (httpx.ReadError("connection reset"), TemporaryError, True),
    (httpx.RemoteProtocolError("server disconnected"), TemporaryError, True),
    (httpx.Response(500, text="oops"), TemporaryError, True),
    (httpx.Response(502, text="<html>Bad gateway</html>"), TemporaryError, True),
    (httpx.Response(503), TemporaryError, True),
    (httpx.Response(429, headers={"Retry-After": "12"}), RateLimited, False),
    (httpx.Response(200, text="<html>maintenance</html>"), TemporaryError, True),
    (httpx.Response(200, json=["not", "an", "envelope"]), TemporaryError, True),
    (httpx.Response(200, json={"data": 1}), TemporaryError, True),
    (httpx.Response(200, content=b""), TemporaryError, True),
    (httpx.Response(401, text="no"), AuthError, None),
    (httpx.Response(403, text="no"), AuthError, None),
    (httpx.Response(404, text="<html>Not found</html>"), PermanentError, None),
    (httpx.Response(301, headers={"location": "https://elsewhere"}), PermanentError, None),
]


@pytest.mark.parametrize("failure, kind, maybe_done", TRANSPORT_FAILURES)
def test_transport_failures_are_mapped(fake, client, failure, kind, maybe_done):
    fake.reply("campaign/send", failure)
    with pytest.raises(ProviderError) as caught:
        client.send_campaign(1)
    error = caught.value
    assert type(error) is kind
    assert error.method == "campaign/send"
    if maybe_done is not None:
        assert error.maybe_done is maybe_done
    if kind is RateLimited:
        assert error.retry_after == 12
    assert_no_key(error, repr(error), error.args)
    assert "://" not in str(error)  # no URL in any message


def test_an_envelope_inside_an_http_error_is_read(fake, client):
    fake.reply("campaign/send", httpx.Response(400, json=ok(None, code=8, message="Invalid key")))
    with pytest.raises(AuthError):
        client.send_campaign(1)


def test_per_call_timeout_is_passed_to_httpx(fake):
    seen = {}

    def handler(request):
        seen.update(request.extensions["timeout"])
        return httpx.Response(200, json=ok(True))

    with make_client(handler, timeout=httpx.Timeout(3.0, connect=1.5)) as client:
        client.delete_campaign(1)
    assert seen["read"] == 3.0 and seen["connect"] == 1.5


# --- code 13: the domain switch -------------------------------------------------------


def test_wrong_domain_switches_once_and_remembers(fake):
    changes = []
    fake.reply("campaign/send", ok("api.mobizon.uz", code=13, message="Wrong API server"), ok(2))
    with make_client(fake, on_domain_change=changes.append) as client:
        assert client.send_campaign(1) == 2
        fake.reply("campaign/get", ok({"name": "N"}))
        client.get_campaign(1)
        assert client.api_url == "https://api.mobizon.uz"
    assert [s.request.url.host for s in fake.seen] == ["api.mobizon.kz", "api.mobizon.uz", "api.mobizon.uz"]
    assert fake.seen[1].body == fake.seen[0].body == b"id=1"
    assert changes == ["https://api.mobizon.uz"]


def test_wrong_domain_keeps_the_scheme_and_accepts_a_url_or_object(fake):
    fake.reply("campaign/delete", ok({"domain": "http://127.0.0.1:8011/"}, code=13), ok(True))
    with make_client(fake, api_url="http://127.0.0.1:8010") as client:
        assert client.delete_campaign(1)
        assert client.api_url == "http://127.0.0.1:8011"
    assert str(fake.seen[1].request.url).startswith("http://127.0.0.1:8011/service/campaign/delete?")


def test_wrong_domain_twice_is_permanent(fake, client):
    fake.reply("campaign/send", ok("api.mobizon.uz", code=13), ok("api.mobizon.com.br", code=13))
    with pytest.raises(PermanentError, match="still wrong") as caught:
        client.send_campaign(1)
    assert caught.value.code == 13 and len(fake.seen) == 2


@pytest.mark.parametrize("data", ["evil.example.com", "api.mobizon.kz.evil.example/x", None, "", {"x": 1}, "a b"])
def test_wrong_domain_never_sends_the_key_to_a_host_that_is_not_mobizon(fake, client, data):
    fake.reply("campaign/send", ok(data, code=13))
    with pytest.raises(PermanentError) as caught:
        client.send_campaign(1)
    assert caught.value.code == 13
    assert len(fake.seen) == 1
    assert client.api_url == "https://api.mobizon.kz"


def test_wrong_domain_sends_an_upload_again(fake):
    fake.reply("campaign/addRecipients", ok("api.mobizon.uz", code=13), ok(5, code=100))
    with make_client(fake) as client:
        assert client.add_recipients_file(1, io.BytesIO(b"77011111111\n"), "a.csv") == 5
    assert all(b"77011111111" in s.request.content for s in fake.seen)


# --- the key stays secret -------------------------------------------------------------


def test_the_key_never_reaches_logs_reprs_or_messages(fake, caplog):
    caplog.set_level(logging.DEBUG)
    fake.reply("campaign/send", ok(2), httpx.ReadTimeout("timed out"), httpx.Response(502, text=f"proxy: apiKey={KEY}"),
               ok(None, code=8, message=f"Key {KEY} is invalid"), httpx.ConnectError("refused"))
    errors = []
    with make_client(fake) as client:
        assert_no_key(repr(client), client.api_url)
        client.send_campaign(1)
        for _ in range(4):
            with pytest.raises(ProviderError) as caught:
                client.send_campaign(1)
            errors.append(caught.value)
    assert [type(e) for e in errors] == [TemporaryError, TemporaryError, AuthError, TemporaryError]
    http_records = [r for r in caplog.records if r.name == "httpx"]
    assert http_records and "apiKey=***" in http_records[0].getMessage()
    for record in caplog.records:
        assert_no_key(record.getMessage(), record.msg, record.args)
    for error in errors:
        assert_no_key(error, repr(error), error.args, error.data)


def test_api_url_must_be_scheme_and_host():
    http = httpx.Client()
    try:
        for bad in ("https://api.mobizon.kz/service", "https://x@api.mobizon.kz", "ftp://api.mobizon.kz", ""):
            with pytest.raises(ValueError, match="API URL"):
                MobizonClient(http, api_key=KEY, api_url=bad)
        with pytest.raises(ValueError, match="API key"):
            MobizonClient(http, api_key="  ")
        assert MobizonClient(http, api_key=KEY, api_url="api.mobizon.uz/").api_url == "https://api.mobizon.uz"
    finally:
        http.close()


# --- Create's checks ------------------------------------------------------------------


def problems(**params):
    params.setdefault("name", "Campaign")
    params.setdefault("text", "Hello")
    params.setdefault("now", NOW)
    return checks.campaign_problems(**params)


@pytest.mark.parametrize(
    "params, fragment",
    [
        (dict(name="n" * 256), "at most 255"),
        (dict(text="   "), "text is empty"),
        (dict(type=4), "type must be 1"),
        (dict(type="2"), "type must be 1"),
        (dict(rate_limit=100, rate_period=120), "rate period must be 60"),
        (dict(rate_limit=6001, rate_period=60), "at most 100 a second"),
        (dict(rate_limit=0, rate_period=60), "positive"),
        (dict(rate_period=60), "give both or neither"),
        (dict(deferred_to="2025-03-01T15:00:00"), "YYYY-MM-DD HH:MM:SS"),
        (dict(deferred_to="2025-02-30 15:00:00"), "not a real date"),
        (dict(deferred_to="2025-03-01 12:59:59"), "at least one hour ahead"),
        (dict(deferred_to="2025-03-15 12:00:01"), "at most 14 days ahead"),
        (dict(validity=59), "validity"),
        (dict(validity=1441), "validity"),
        (dict(mclass=2), "message class"),
        (dict(track_short_link_recipients=2), "short-link tracking"),
        (dict(text="Hi {Recipient}", type=3), "reserves 'recipient'"),
        (dict(text="Hi {a[b]} {name}", type=3), "collide"),
        (dict(text="Hi {имя}", type=3), "only Latin letters"),
        (dict(text="Hi there", type=3), "needs at least one placeholder"),
    ],
)
def test_each_create_rule_has_a_message(params, fragment):
    found = problems(**params)
    assert len(found) == 1 and fragment in found[0], found


@pytest.mark.parametrize(
    "params",
    [
        dict(),
        dict(name="n" * 255, type=1),
        dict(text="Hi {name}, {balance-1} {x_y}", type=3),
        dict(rate_limit=6000, rate_period=60),
        dict(rate_limit=360000, rate_period=3600),
        dict(rate_limit=1, rate_period=86400),
        dict(deferred_to="2025-03-01 13:00:00"),
        dict(deferred_to="2025-03-15 12:00:00"),
        dict(deferred_to=NOW + timedelta(days=3)),
        dict(validity=60, mclass=0, track_short_link_recipients=True),
        dict(validity=1440, mclass=1),
    ],
)
def test_valid_create_parameters_pass(params):
    assert problems(**params) == []


def test_invalid_campaign_lists_every_problem():
    with pytest.raises(InvalidCampaign) as caught:
        checks.check_campaign(name=None, text="", type=9, validity=1, now=NOW)
    assert len(caught.value.problems) == 3
    assert str(caught.value).startswith("the campaign cannot be created: ")


def test_placeholders_in_order_without_repeats():
    assert checks.placeholders("{a} {b} {a} {c-d} { x }") == ["a", "b", "c-d"]


# --- lenient parsing ------------------------------------------------------------------


def test_lenient_scalars():
    assert [to_int(v) for v in (12, "12", " 12 ", 12.0, "12.0", "x", None, "", 1.5, True)] == [
        12, 12, 12, 12, 12, None, None, None, None, 1]
    assert [to_float(v) for v in ("16.2000", 3, "3", "nan", "", None)] == [16.2, 3.0, 3.0, None, None, None]
    assert [to_id(v) for v in (123, "123", 123.0, " abc ", None, "")] == ["123", "123", "123", "abc", None, None]
    assert to_list({"1": "b", "0": "a", "10": "c"}) == ["a", "b", "c"]
    assert to_list(None) == [] and to_list("x") == []


def test_counters_parse_strings_and_skip_junk():
    counters = Counters.parse(
        '{"campaignId": "5", "totalMsgNum": "7", "totalCost": "1.5000", "updateTs": "2025-01-01 00:00:00"}'
    )
    assert counters.as_dict() == {"totalMsgNum": 7, "totalCost": 1.5}
    assert counters.get("totalDelivrdMsgNum") == 0

