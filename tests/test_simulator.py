"""The Mobizon simulator over real HTTP: raw requests for the wire details, the project's
Mobizon client and provider adapter for every method, the simulated clock for the status
progression, the control API for faults, as another process would drive it."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from urllib.parse import parse_qsl

import httpx
import pytest

from campaigns.providers.errors import AuthError, PermanentError, RateLimited, TemporaryError
from campaigns.providers.mobizon import MobizonClient, MobizonProvider
from campaigns.providers.mobizon.codes import ALREADY_ADDED
from campaigns.providers.port import ChunkRecipient
from campaigns.simulator import FaultRule, SimClock, SimConfig, SimulatorControl, SimulatorServer
from campaigns.simulator.forms import as_list, parse_php_form

KEY = "k1" * 20  # 40 characters, like Mobizon's keys
QUERY = {"output": "json", "api": "v1", "apiKey": KEY}


def phones(n: int, start: int = 0) -> list[str]:
    return [f"7701{i:07d}" for i in range(start, start + n)]


class FakeTime:
    """Clock and sleep for the client's TaskQueue pacing: sleeping only moves the clock."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def server():
    # speed 0: simulated time moves only when a test advances it, so every step is exact
    with SimulatorServer(SimConfig(api_key=KEY, speed=0.0)) as srv:
        yield srv


@pytest.fixture
def sim(server):
    server.simulator.reset()
    return server.simulator


@pytest.fixture
def raw(server, sim):
    with httpx.Client(base_url=server.base_url, timeout=5.0) as http:
        yield http


def call(http: httpx.Client, name: str, data=None, *, key: str | None = KEY, **kw) -> dict:
    params = dict(QUERY)
    if key is None:
        params.pop("apiKey")
    else:
        params["apiKey"] = key
    response = http.post(f"/service/{name}", params=params, data=data, **kw)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def fake_time():
    return FakeTime()


@pytest.fixture
def client(server, sim, fake_time):
    http = httpx.Client(timeout=httpx.Timeout(5.0))
    with MobizonClient(http, api_key=KEY, api_url=server.base_url, clock=fake_time.clock, sleep=fake_time.sleep) as c:
        yield c


def status_of(client: MobizonClient, campaign_id: str) -> str:
    page = client.list_campaigns(criteria={"ids": [campaign_id]})
    assert [item.id for item in page.items] == [campaign_id]
    return page.items[0].status


def inspect(raw: httpx.Client, campaign_id) -> dict:
    response = raw.get(f"/_sim/campaigns/{campaign_id}")
    assert response.status_code == 200
    return response.json()


# -- wire ---------------------------------------------------------------------------------


def test_php_brackets_are_read_as_php_reads_them():
    # the AddRecipients document's own template example, as the wire carries it
    body = ("recipients%5B0%5D%5Brecipient%5D=380971112233&recipients%5B0%5D%5Bname%5D=%D0%92%D0%B0%D1%81"
            "&recipients%5B1%5D%5Brecipient%5D=380971112255&ids[]=1&ids[]=2&data[text]=Hi+%7Bname%7D")
    form = parse_php_form(parse_qsl(body, keep_blank_values=True))
    assert form["recipients"] == {"0": {"recipient": "380971112233", "name": "Вас"}, "1": {"recipient": "380971112255"}}
    assert as_list(form["ids"]) == ["1", "2"]
    assert form["data"] == {"text": "Hi {name}"}
    assert as_list("380971112233,79101112233\n77071112233") == ["380971112233", "79101112233", "77071112233"]
    # "[]" appends after the largest integer key, as in PHP
    assert parse_php_form([("a[]", "x"), ("a[5]", "y"), ("a[]", "z")]) == {"a": {"0": "x", "5": "y", "6": "z"}}


def test_envelope_key_and_method_names(raw):
    # Given the documents' URL form, any case, POST or GET
    created = call(raw, "Campaign/Create", {"data[text]": "Hello"})
    assert created["code"] == 0 and isinstance(created["data"], str)  # the id as a bare string
    got = raw.get("/service/campaign/get", params={**QUERY, "id": created["data"]}).json()
    assert got["code"] == 0 and got["data"]["id"] == created["data"] and got["data"]["text"] == "Hello"
    # wrong or missing key: code 8 inside HTTP 200
    assert call(raw, "campaign/get", {"id": created["data"]}, key="x" * 40)["code"] == 8
    assert call(raw, "campaign/get", {"id": created["data"]}, key=None)["code"] == 8
    assert call(raw, "nosuch/get")["code"] == 4
    assert call(raw, "campaign/nosuch")["code"] == 5
    assert call(raw, "campaign/get", {"id": "999999"})["code"] == 2


def test_create_refuses_invalid_fields_naming_each(raw, sim):
    soon = datetime.fromtimestamp(sim.clock.now() + 600).strftime("%Y-%m-%d %H:%M:%S")
    answer = call(raw, "campaign/create", {
        "data[text]": "Hi", "data[type]": "4", "data[ratePeriod]": "30", "data[validity]": "10",
        "data[mclass]": "2", "data[name]": "n" * 256, "data[deferredToTs]": soon,
    })
    assert answer["code"] == 1
    assert set(answer["data"]) == {"type", "ratePeriod", "validity", "mclass", "name", "deferredToTs"}
    too_fast = call(raw, "campaign/create", {"data[text]": "Hi", "data[rateLimit]": "7000", "data[ratePeriod]": "60"})
    assert too_fast["code"] == 1 and set(too_fast["data"]) == {"rateLimit"}
    assert set(call(raw, "campaign/create", {"data[type]": "2"})["data"]) == {"text"}
    assert set(call(raw, "campaign/create", {"data[text]": "no placeholders", "data[type]": "3"})["data"]) == {"text"}
    assert call(raw, "campaign/create", {"data[text]": "Hi", "data[deferredToTs]": "tomorrow"})["data"].keys() == {
        "deferredToTs"}


# -- AddRecipients -------------------------------------------------------------------------


def test_add_recipients_codes_for_each_recipient(client, raw, sim):
    sim.configure(stop_list=["77010000005"])
    cid = client.create_campaign(text="Hi {name}, {code}", type=3)
    # the raw form, so that empty values and a row without a number reach the simulator
    body = {
        "id": cid, "params[placeholdersFlag]": "3",
        "recipients[0][recipient]": "+7 (701) 000-00-01", "recipients[0][name]": "Ann", "recipients[0][code]": "1",
        "recipients[1][recipient]": "", "recipients[1][name]": "Empty",
        "recipients[2][name]": "No number",
        "recipients[3][recipient]": "12345", "recipients[3][name]": "Short", "recipients[3][code]": "3",
        "recipients[4][recipient]": "77010000001", "recipients[4][name]": "Again", "recipients[4][code]": "4",
        "recipients[5][recipient]": "77010000005", "recipients[5][name]": "Stop", "recipients[5][code]": "5",
        "recipients[6][recipient]": "77010000006", "recipients[6][name]": "No code",
    }
    answer = call(raw, "campaign/addRecipients", body)
    assert answer["code"] == 98
    assert [r["code"] for r in answer["data"]] == [0, 1, 2, 3, 4, 5, 20]
    first = answer["data"][0]
    assert first["recipient"] == "77010000001" and first["messageId"] and first["number"] == "+7 (701) 000-00-01"
    assert all(r["messageId"] is None for r in answer["data"][1:])
    # nobody added: 99, with each recipient's code
    none_added = client.add_recipients(cid, [{"recipient": "77010000001", "name": "A", "code": "x"}])
    assert none_added.code == 99 and [i.code for i in none_added.items] == [4]
    info = client.get_campaign_info(cid, filled_template_text=True)
    assert info.text == "Hi Ann, 1" and info.counters["totalMsgNum"] == 1 and info.counters["recipientsRejected"] == 7
    assert client.get_campaign_info(cid).text == "Hi {name}, {code}"
    # placeholdersFlag 2 strips a missing placeholder, 1 (default) keeps it
    client.add_recipients(cid, [{"recipient": "77010000007", "name": "B"}], placeholders_flag=2)
    client.add_recipients(cid, [{"recipient": "77010000008", "name": "C"}])
    texts = {m.to: m.text for m in client.iter_messages(criteria={"campaignIds": [cid]})}
    assert texts == {"77010000001": "Hi Ann, 1", "77010000007": "Hi B, ", "77010000008": "Hi C, {code}"}


def test_a_mass_request_checks_its_numbers_in_one_batch_with_each_recipients_own_code(client, raw, sim):
    # Given a mass campaign and a stop-listed number
    sim.configure(stop_list=["77010000005"])
    cid = client.create_campaign(text="Sale today", type=2)
    # When one request mixes formats, invalid numbers, other scripts' digits and a number
    # sent twice (the numbers are checked together, the duplicates in order)
    numbers = ["+7 701 000-00-01", "", "12345", "77010000001", "77010000005", "٧٧٠١٠٠٠٠٠٠٢", "0077010000003",
               "77010000004"]
    answer = call(raw, "campaign/addRecipients", {"id": cid, **{f"recipients[{i}]": n for i, n in enumerate(numbers)}})
    # Then each recipient gets the code the Campaign module gives it, in order
    assert answer["code"] == 98
    assert [r["code"] for r in answer["data"]] == [0, 1, 3, 4, 5, 0, 3, 0]
    assert [r["recipient"] for r in answer["data"]] == [
        "77010000001", None, "12345", "77010000001", "77010000005", "٧٧٠١٠٠٠٠٠٠٢", "0077010000003", "77010000004"]
    assert [r["number"] for r in answer["data"]] == numbers
    info = client.get_campaign_info(cid)
    assert info.counters["totalMsgNum"] == 3 and info.counters["recipientsRejected"] == 5


def test_at_most_500_recipients_and_one_source_a_call(client, raw):
    cid = client.create_campaign(text="Hello")
    over = call(raw, "campaign/addRecipients", {"id": cid, "recipients": ",".join(phones(501))})
    assert over["code"] == 12
    two_sources = call(raw, "campaign/addRecipients", {"id": cid, "recipients[]": "77010000001",
                                                        "recipientContacts[]": "12"})
    assert two_sources["code"] == 12
    assert call(raw, "campaign/addRecipients", {"id": cid})["code"] == 12
    assert inspect(raw, cid)["recipients"] == 0  # nothing was added by any of them
    # exactly 500 is fine, as a comma-separated string too
    fine = call(raw, "campaign/addRecipients", {"id": cid, "recipients": ",".join(phones(500))})
    assert fine["code"] == 0 and len(fine["data"]) == 500
    contacts = call(raw, "campaign/addRecipients", {"id": cid, "recipientContacts[]": "12"})
    assert contacts["code"] == 99 and contacts["data"][0]["code"] == 32  # no contact book in the simulator
    assert call(raw, "campaign/addRecipients", {"id": "424242", "recipients[]": "77010000001"})["code"] == 2


def test_code_10_while_another_add_to_the_campaign_runs(server, client, sim):
    # Given adds that take a while, and a second client
    sim.configure(add_latency=1.0)
    cid = client.create_campaign(text="Hello")
    other = client.create_campaign(text="Other")
    results: dict[str, object] = {}

    def first_add():
        with httpx.Client(timeout=10) as http:
            c = MobizonClient(http, api_key=KEY, api_url=server.base_url)
            results["first"] = c.add_recipients(cid, phones(3))

    worker = threading.Thread(target=first_add)
    worker.start()
    deadline = time.monotonic() + 5
    while not sim.account.campaigns[int(cid)].adding and time.monotonic() < deadline:
        time.sleep(0.01)
    # When another add to the same campaign arrives meanwhile
    with pytest.raises(TemporaryError) as refused:
        client.add_recipients(cid, phones(2, start=100))
    # Then it is refused with code 10, while an add to another campaign goes through
    assert refused.value.code == 10
    assert client.add_recipients(other, phones(1, start=200)).code == 0
    worker.join()
    assert results["first"].code == 0 and results["first"].added_count == 3
    sim.configure(add_latency=0.0)
    assert client.add_recipients(cid, phones(2, start=100)).code == 0


def test_code_10_when_the_status_does_not_allow(client, sim):
    sim.configure(moderation=False)
    cid = client.create_campaign(text="Hello")
    with pytest.raises(TemporaryError) as empty:
        client.send_campaign(cid)  # nothing to send yet
    assert empty.value.code == 10
    client.add_recipients(cid, phones(2))
    assert client.send_campaign(cid) == 2
    with pytest.raises(TemporaryError) as late:
        client.add_recipients(cid, phones(1, start=50))
    assert late.value.code == 10
    with pytest.raises(TemporaryError) as again:
        client.send_campaign(cid)
    assert again.value.code == 10


# -- the status progression on the simulated clock ----------------------------------------


def test_status_progression_with_moderation_rate_and_final_statuses(client, raw, sim):
    # Given moderation, a campaign sending 600 a minute (packets of 10 every second)
    sim.configure(moderation=True, moderation_seconds=100, start_delay_seconds=5, counters_delay_seconds=0,
                  delivery_seconds=20, final_mix={"UNDELIV": 0.2, "EXPIRED": 0.1, "REJECTD": 0.1})
    cid = client.create_campaign(text="Hello", rate_limit=600, rate_period=60)
    client.add_recipients(cid, phones(25))
    assert status_of(client, cid) == "NEW"
    # When it is sent
    assert client.send_campaign(cid) == 1  # 1: moderation
    assert status_of(client, cid) == "MODERATION"
    sim.clock.advance(100)
    assert status_of(client, cid) == "READY_FOR_SEND"
    sim.clock.advance(5)
    # Then packets of 10 leave at equal intervals
    assert status_of(client, cid) == "RUNNING"
    assert inspect(raw, cid)["sent"] == 10
    sim.clock.advance(1)
    assert inspect(raw, cid)["sent"] == 20
    sim.clock.advance(1)
    assert inspect(raw, cid)["sent"] == 25
    counters = client.get_campaign_info(cid).counters
    assert counters["totalNewMsgNum"] == 0 and counters["totalMsgNum"] == 25
    sim.clock.advance(1)
    assert status_of(client, cid) == "SENT"
    # and final statuses arrive later, after which the campaign is DONE with frozen counters
    sim.clock.advance(60)
    assert status_of(client, cid) == "DONE"
    done = client.list_campaigns(criteria={"ids": [cid]}).items[0].counters
    statuses = [m.status for m in client.iter_messages(criteria={"campaignIds": [cid]}, page_size=25)]
    assert len(statuses) == 25 and all(s in ("DELIVRD", "UNDELIV", "EXPIRED", "REJECTD") for s in statuses)
    for status in ("DELIVRD", "UNDELIV", "EXPIRED", "REJECTD"):
        assert done[f"total{status.capitalize()}MsgNum"] == statuses.count(status)
    assert done["totalAcceptdMsgNum"] == 0 and done.total_cost == pytest.approx(25 * 16.2)
    sim.clock.advance(3600)
    assert client.list_campaigns(criteria={"ids": [cid]}).items[0].counters == done


def test_counters_lag_and_are_strings_on_the_wire(client, raw, sim):
    sim.configure(moderation=False, start_delay_seconds=0, counters_delay_seconds=30, delivery_seconds=10)
    cid = client.create_campaign(text="Hello")
    client.add_recipients(cid, phones(5))
    client.send_campaign(cid)
    sim.clock.advance(20)  # every message is final by now, the counters still show the sending
    item = call(raw, "campaign/list", {"criteria[ids][]": cid})["data"]
    assert item["totalItemCount"] == "1"
    counters = item["items"][0]["counters"]
    assert counters["totalNewMsgNum"] == "5" and counters["totalDelivrdMsgNum"] == "0"
    assert counters["totalCost"] == "81.0000"
    assert all(s.final for s in client.get_sms_status([m.id for m in client.iter_messages(
        criteria={"campaignIds": [cid]})]))
    sim.clock.advance(40)
    done = client.get_campaign_info(cid).counters
    finals = sum(done[f"total{s}MsgNum"] for s in ("Delivrd", "Undeliv", "Expired", "Rejectd"))
    assert finals == 5


def test_auto_ready_declined_and_seeded_final_statuses(client, sim):
    sim.configure(moderation=False, final_mix={"UNDELIV": 0.3, "EXPIRED": 0.2, "REJECTD": 0.1}, seed=7)
    cid = client.create_campaign(text="Hello")
    client.add_recipients(cid, phones(200))
    assert client.send_campaign(cid) == 2  # 2: sending without moderation
    assert status_of(client, cid) == "AUTO_READY_FOR_SEND"
    sim.clock.advance(3600)
    first = [(m.to, m.status) for m in client.iter_messages(criteria={"campaignIds": [cid]})]
    assert {s for _, s in first} == {"DELIVRD", "UNDELIV", "EXPIRED", "REJECTD"}
    # the same seed draws the same fates
    sim.reset(moderation=False, final_mix={"UNDELIV": 0.3, "EXPIRED": 0.2, "REJECTD": 0.1}, seed=7)
    again = client.create_campaign(text="Hello")
    client.add_recipients(again, phones(200))
    client.send_campaign(again)
    sim.clock.advance(3600)
    assert [(m.to, m.status) for m in client.iter_messages(criteria={"campaignIds": [again]})] == first
    # a declining moderator
    sim.configure(moderation=True, decline=True, moderation_seconds=60)
    declined = client.create_campaign(text="Hello")
    client.add_recipients(declined, phones(2))
    assert client.send_campaign(declined) == 1
    sim.clock.advance(61)
    assert status_of(client, declined) == "DECLINED"
    assert {m.status for m in client.iter_messages(criteria={"campaignIds": [declined]})} == {"NEW"}


def test_deferred_campaign_and_delete_rules(client, sim):
    sim.configure(moderation=False)
    start = datetime.fromtimestamp(sim.clock.now()).replace(microsecond=0) + timedelta(hours=2)
    cid = client.create_campaign(text="Later", deferred_to=start, rate_limit=60, rate_period=3600)
    assert client.get_campaign(cid).deferred_to == start.strftime("%Y-%m-%d %H:%M:%S")
    client.add_recipients(cid, phones(3))
    client.send_campaign(cid)
    assert status_of(client, cid) == "DEFERRED"
    sim.clock.advance(2 * 3600 - 240)  # four minutes before the start: too late to delete
    with pytest.raises(TemporaryError) as refused:
        client.delete_campaign(cid)
    assert refused.value.code == 10
    sim.clock.advance(241)
    assert status_of(client, cid) == "RUNNING"
    # a deferred campaign with more than five minutes to go, and a NEW one, can be deleted
    early = client.create_campaign(text="Much later", deferred_to=start + timedelta(hours=5))
    client.add_recipients(early, phones(1))
    client.send_campaign(early)
    assert client.delete_campaign(early) is True
    fresh = client.create_campaign(text="Never")
    assert client.delete_campaign(fresh) is True
    with pytest.raises(PermanentError) as gone:
        client.get_campaign(fresh)
    assert gone.value.code == 2
    sim.clock.advance(3600)
    with pytest.raises(TemporaryError):
        client.delete_campaign(cid)  # DONE: no longer


# -- reads ----------------------------------------------------------------------------------


def test_get_info_links_and_campaign_list_criteria(client, raw, sim):
    cid = client.create_campaign(text="Sale at https://shop.example/x today", name="Black Friday", sender="Shop",
                                 rate_limit=3600, rate_period=3600, validity=120, mclass=0)
    data = client.get_campaign(cid)
    assert (data.name, data.sender, data.rate_limit, data.rate_period, data.mclass, data.validity, data.ttl) == (
        "Black Friday", "Shop", 3600, 3600, 0, 120, 120)
    info = client.get_campaign_info(cid)
    assert info.extra["validity"] == "120" and info.counters.total_msg_num == 0
    links = client.get_links(cid)
    assert [link.full_link for link in links] == ["https://shop.example/x"] and links[0].click_count == 0
    more = [client.create_campaign(text=f"Campaign {i}", sender="Other") for i in range(11)]
    every = [cid, *more]
    # criteria[ids]: only the first 10 are searched
    answer = call(raw, "campaign/list", {f"criteria[ids][{i}]": x for i, x in enumerate(every)})["data"]
    assert answer["totalItemCount"] == "10" and {i["id"] for i in answer["items"]} == set(every[:10])
    # text, from, pagination and sort
    assert [i.id for i in client.list_campaigns(criteria={"text": "sale at"}).items] == [cid]
    page = client.list_campaigns(criteria={"from": "Other"}, page=1, page_size=5, sort={"id": "ASC"})
    assert page.total == 11 and [i.id for i in page.items] == more[5:10]
    assert client.list_campaigns(criteria={"status": "NOT_YET_SENT"}).total == 12
    # without ids or dates only the last 24 hours (from 00:00 of the day before) are seen
    sim.clock.advance(3 * 86400)
    assert client.list_campaigns().total == 0
    assert client.list_campaigns(criteria={"id": cid}).items[0].id == cid
    today = datetime.fromtimestamp(sim.clock.now()).strftime("%Y-%m-%d")
    week_ago = (datetime.fromtimestamp(sim.clock.now()) - timedelta(days=7)).strftime("%Y-%m-%d")
    assert client.list_campaigns(criteria={"createDateFrom": week_ago, "createDateTo": today}).total == 12


def test_message_module(client, raw, sim):
    sim.configure(moderation=False)
    sent = client.send_sms_message("77010000001", "Your code is 1234", sender="Alpha", validity=60)
    assert sent.status == 2 and sent.campaign_id and sent.message_id
    bad = call(raw, "message/sendSmsMessage", {"recipient": "123", "text": ""})
    assert bad["code"] == 1 and set(bad["data"]) == {"recipient", "text"}
    cid = client.create_campaign(text="Hello")
    client.add_recipients(cid, phones(120, start=10))
    client.add_recipients(cid, phones(30, start=200))
    client.send_campaign(cid)
    sim.clock.advance(3600)
    # Message/List: pages of 25/50/100 from 0, to the end
    messages = list(client.iter_messages(criteria={"campaignIds": [cid]}, page_size=50))
    assert len(messages) == 150 and len({m.id for m in messages}) == 150
    assert messages[0].campaign_id == cid and messages[0].sender is None and messages[0].seg_num == 1
    assert call(raw, "message/list", {"pagination[pageSize]": "30"})["code"] == 12
    third = call(raw, "message/list", {"criteria[campaignIds]": cid, "pagination[pageSize]": "50",
                                       "pagination[currentPage]": "2"})["data"]
    assert third["totalItemCount"] == "150" and len(third["items"]) == 50
    # criteria[campaignIds]: only the first 100 are searched
    others = ",".join(str(n) for n in range(1, 101))
    assert call(raw, "message/list", {"criteria[campaignIds]": f"{others},{cid}"})["data"]["totalItemCount"] == "0"
    assert call(raw, "message/list", {"criteria[campaignIds]": f"{cid},{others}"})["data"]["totalItemCount"] == "150"
    with_info = client.list_messages(criteria={"campaignIds": [cid], "to": "7701000011"}, page_size=25,
                                     with_number_info=True)
    assert with_info.total == 10 and with_info.items[0].country_a2 == "KZ"
    everything = client.list_messages(criteria={}, page_size=100)
    assert everything.total == 151
    # GetSMSStatus: 100 ids a call; the client splits 150 into two calls
    before = sim.calls["message/getsmsstatus"]
    statuses = client.get_sms_status([m.id for m in messages] + ["1"])
    assert sim.calls["message/getsmsstatus"] - before == 2
    assert len(statuses) == 150 and all(s.final and s.start_send_ts for s in statuses)  # unknown id left out
    assert call(raw, "message/getSMSStatus", {"ids": ",".join(m.id for m in messages[:101])})["code"] == 12
    assert call(raw, "message/getSMSStatus", {})["code"] == 2
    assert client.get_sms_status([sent.message_id])[0].id == sent.message_id


def test_recipients_file_runs_as_a_background_task(client, fake_time, sim, raw):
    sim.configure(task_seconds=30)
    cid = client.create_campaign(text="Hello")
    task = client.add_recipients_file(cid, b"77010000001\n77010000002\n123\n77010000001\n", "numbers.csv")
    first = client.task_status(task)
    assert (first.status, first.progress) == (0, 0)
    with pytest.raises(TemporaryError) as locked:
        client.add_recipients(cid, phones(1, start=9))
    assert locked.value.code == 10  # the import holds the campaign
    sim.clock.advance(15)
    middle = client.task_status(task)
    assert middle.status == 1 and 0 < middle.progress < 100
    assert fake_time.now >= 1.0  # the client kept its calls a second apart
    sim.clock.advance(15)
    assert client.task_status(task).done
    state = inspect(raw, cid)
    assert state["recipients"] == 2 and state["rejected"] == 2
    # a template campaign's file has a header naming recipient and the placeholders
    tpl = client.create_campaign(text="Hi {name}", type=3)
    client.add_recipients_file(tpl, "recipient;name\n77010000003;Ann\n".encode("cp1251"), "t.csv",
                               delimiter=";", encoding="WINDOWS-1251")
    sim.clock.advance(30)
    assert [m.text for m in client.iter_messages(criteria={"campaignIds": [tpl]})] == ["Hi Ann"]
    with pytest.raises(PermanentError):
        client.task_status(999999)


def test_account_balance(raw, client, sim):
    sim.configure(moderation=False)
    before = call(raw, "user/getOwnBalance")["data"]
    client.send_sms_message("77010000001", "Hello")
    after = call(raw, "user/getOwnBalance")["data"]
    assert float(before["balance"]) - float(after["balance"]) == pytest.approx(16.2)
    assert after["currency"] == "KZT"


# -- code 30, code 13 -----------------------------------------------------------------------


def test_code_30_when_one_method_is_called_too_often(client, sim):
    sim.configure(rate_limits={"campaign/get": 0.001})  # one call per 1000 s
    cid = client.create_campaign(text="Hello")
    client.get_campaign(cid)
    with pytest.raises(RateLimited) as limited:
        client.get_campaign(cid)
    assert limited.value.code == 30
    client.get_campaign_info(cid)  # other methods are not limited
    client.get_campaign_info(cid)


def test_wrong_domain_answers_13_and_the_client_follows(server, sim):
    right = f"127.0.0.1:{server.port}"
    sim.configure(home_domain=right)
    wrong = f"http://localhost:{server.port}"
    answer = httpx.post(f"{wrong}/service/campaign/create", params=QUERY, data={"data[text]": "Hi"}).json()
    assert answer["code"] == 13 and answer["data"] == right
    assert sim.account.campaigns == {}  # nothing done at the wrong domain
    moved = []
    with MobizonClient(httpx.Client(timeout=5), api_key=KEY, api_url=wrong, on_domain_change=moved.append) as c:
        cid = c.create_campaign(text="Hi")
        assert c.api_url == f"http://{right}" and moved == [f"http://{right}"]
        assert c.get_campaign(cid).text == "Hi"
    assert len(sim.account.campaigns) == 1


# -- faults -------------------------------------------------------------------------------


def test_http_errors_and_envelope_codes_by_rule(raw, client, sim):
    # set through the control API, as a test in another process would
    rules = [{"kind": "http_error", "method": "campaign/create", "next": 2},
             {"kind": "code", "code": 999, "method": "campaign/get", "every": 3}]
    assert raw.post("/_sim/faults", json={"rules": rules}).status_code == 200
    for _ in range(2):
        with pytest.raises(TemporaryError):
            client.create_campaign(text="Hello")
    cid = client.create_campaign(text="Hello")
    assert len(sim.account.campaigns) == 1  # the 503s did nothing
    outcomes = []
    for _ in range(6):
        try:
            client.get_campaign(cid)
            outcomes.append("ok")
        except TemporaryError as exc:
            outcomes.append(exc.code)
    assert outcomes == ["ok", "ok", 999, "ok", "ok", 999]
    remaining = raw.get("/_sim/faults").json()["rules"]
    assert [r["kind"] for r in remaining] == ["code"]  # the spent http_error rule is gone
    raw.delete("/_sim/faults")
    sim.faults.add(FaultRule(kind="code", code=3, method="campaign/*"))
    with pytest.raises(TemporaryError) as unknown:
        client.get_campaign(cid)
    assert unknown.value.code == 3
    assert raw.post("/_sim/faults", json={"kind": "explode"}).status_code == 400


def test_seeded_probability_repeats_after_reset(raw, sim):
    def pattern() -> list[int]:
        sim.faults.add(FaultRule(kind="http_error", method="campaign/list", probability=0.5))
        return [raw.post("/service/campaign/list", params=QUERY).status_code for _ in range(20)]

    first = pattern()
    assert set(first) == {200, 503}
    sim.reset()
    assert pattern() == first


def test_malformed_bodies_and_dropped_connections(raw, client, sim):
    sim.faults.add(FaultRule(kind="malformed", body="html", method="campaign/create"),
                   FaultRule(kind="malformed", body="truncated", method="campaign/create"),
                   FaultRule(kind="drop", method="campaign/create"))
    html = raw.post("/service/campaign/create", params=QUERY, data={"data[text]": "x"})
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    with pytest.raises(ValueError):
        raw.post("/service/campaign/create", params=QUERY, data={"data[text]": "x"}).json()
    with pytest.raises(httpx.RemoteProtocolError):
        raw.post("/service/campaign/create", params=QUERY, data={"data[text]": "x"})
    assert sim.account.campaigns == {}
    sim.faults.add(FaultRule(kind="malformed", body="truncated"), FaultRule(kind="drop"))
    for _ in range(2):
        with pytest.raises(TemporaryError) as failed:
            client.create_campaign(text="x")
        assert failed.value.maybe_done


def test_hang_longer_than_the_client_timeout(server, sim):
    sim.faults.add(FaultRule(kind="hang", seconds=1.0, method="campaign/create"))
    with MobizonClient(httpx.Client(timeout=httpx.Timeout(0.2)), api_key=KEY, api_url=server.base_url) as c:
        with pytest.raises(TemporaryError) as timed_out:
            c.create_campaign(text="Slow")
        assert timed_out.value.maybe_done
    # the simulator answers after the hang, having done the work the client gave up on
    deadline = time.monotonic() + 5
    while not sim.account.campaigns and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [c.text for c in sim.account.campaigns.values()] == ["Slow"]


def test_lost_response_after_the_add_and_the_resend(server, client, raw, sim):
    # Given a chunk whose answer is lost after the simulator added it
    provider = MobizonProvider(client, name="mobizon")
    cid = provider.client.create_campaign(text="Hello")
    chunk = [ChunkRecipient(phone=p) for p in phones(5)]
    raw.post("/_sim/faults", json={"kind": "lost", "method": "campaign/addRecipients"})
    with pytest.raises(TemporaryError) as lost:
        provider.add_chunk(cid, "c1", chunk)
    assert lost.value.maybe_done
    assert [row["added"] for row in inspect(raw, cid)["phones"]] == [1] * 5  # the work was done
    # When the chunk is resent
    outcomes = provider.add_chunk(cid, "c1", chunk, resend=True)
    # Then every recipient is "already added" (code 4), and still in the campaign once
    assert [(o.code, o.added, o.meaning) for o in outcomes] == [(4, True, ALREADY_ADDED)] * 5
    state = inspect(raw, cid)
    assert state["recipients"] == 5 and all(row["added"] == 1 for row in state["phones"])
    # a lost answer by a dropped connection behaves the same
    sim.faults.add(FaultRule(kind="lost", drop=True, method="campaign/addRecipients"))
    with pytest.raises(TemporaryError):
        provider.add_chunk(cid, "c2", [ChunkRecipient(phone="77019999999")])
    assert inspect(raw, cid)["recipients"] == 6


# -- the provider adapter end to end -------------------------------------------------------


def test_provider_adapter_end_to_end(client, raw, sim):
    from campaigns.providers.port import CampaignSpec

    sim.configure(moderation=False, stop_list=["77010000003"])
    provider = MobizonProvider(client, name="sandbox")
    spec = CampaignSpec(local_id=1, name="Spring", text="Hi {name}", type=3)
    cid = provider.create_campaign(spec)
    assert provider.find_campaign(spec) == cid and provider.find_campaign(spec, exclude=[cid]) is None
    chunk = [ChunkRecipient(phone=p, fields={"name": f"N{i}"}) for i, p in enumerate(phones(5))]
    outcomes = provider.add_chunk(cid, "c1", chunk, spec=spec)
    assert [o.code for o in outcomes] == [0, 0, 0, 5, 0]
    assert provider.launch(cid) in ("RUNNING", "AUTO_READY_FOR_SEND")
    sim.clock.advance(3600)
    status = provider.campaign_statuses([cid])[cid]
    assert status.status == "DONE" and status.counters["totalMsgNum"] == 4
    finals = list(provider.message_statuses(cid))
    assert len(finals) == 4 and all(m.final for m in finals)
    with pytest.raises(PermanentError):
        provider.cancel(cid)  # started campaigns cannot be deleted


# -- control API, clock, server -------------------------------------------------------------


def test_control_api(server, raw, sim, client):
    cid = client.create_campaign(text="Hello")
    client.add_recipients(cid, phones(2))
    with SimulatorControl(server.base_url) as control:
        state = control.state()
        assert [c["id"] for c in state["campaigns"]] == [int(cid)] and state["calls"]["campaign/create"] == 1
        assert state["campaigns"][0]["recipients"] == 2 and state["campaigns"][0]["counters"]["totalNewMsgNum"] == 2
        assert state["config"]["api_key"] == "(set)"
        assert KEY not in raw.get("/_sim/state").text
        assert [(p["phone"], p["added"], p["sent"]) for p in control.campaign(cid)["phones"]] == [
            (phones(2)[0], 1, 0), (phones(2)[1], 1, 0)]
        before = raw.post("/_sim/clock", json={}).json()["now"]
        assert control.advance(100) == pytest.approx(before + 100)
        assert control.set_speed(0) == 0
        assert control.configure(moderation=False, stop_list=["+7 701 000 0001"])["stop_list"] == ["77010000001"]
        assert control.faults([{"kind": "code", "code": 14}])[0]["remaining"] == 1
        control.clear_faults()
        for bad in ({"no_such": 1}, {"final_mix": {"DELIVRD": 2}}, {"moderation": "yes"}):
            with pytest.raises(httpx.HTTPStatusError):
                control.configure(**bad)
        assert raw.get("/_sim/campaigns/999").status_code == 404
        control.reset(moderation=False)
        assert control.state()["campaigns"] == [] and sim.config.moderation is False
        control.reset()
    assert sim.config.moderation is True  # reset brings back the starting configuration


def test_clock_speed_and_advance():
    real = [100.0]
    clock = SimClock(60.0, start=1000.0, monotonic=lambda: real[0])
    real[0] += 2
    assert clock.now() == pytest.approx(1120.0)
    clock.set_speed(600)
    real[0] += 1
    assert clock.now() == pytest.approx(1720.0)
    assert clock.advance(80) == pytest.approx(1800.0)
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_server_lifecycle_and_release_of_hanging_calls():
    server = SimulatorServer(SimConfig.sandbox(), faults=[FaultRule(kind="hang", seconds=60)])
    url = server.start()
    assert url.startswith("http://127.0.0.1:") and server.port > 0
    thread = server._thread
    result = {}

    def hanging_call():
        try:
            result["code"] = httpx.post(f"{url}/service/campaign/list", params=QUERY, timeout=30).json()["code"]
        except httpx.HTTPError as exc:
            result["error"] = exc

    caller = threading.Thread(target=hanging_call)
    caller.start()
    while server.simulator.calls["campaign/list"] == 0:
        time.sleep(0.01)
    server.stop()  # a 60 s hang must not hold the shutdown
    assert not thread.is_alive()
    caller.join()
    assert result  # the hanging call ended one way or the other
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/_sim/health")
    with pytest.raises(AuthError):
        # a sandbox takes any key; a mobizon-like simulator only its own
        with SimulatorServer(SimConfig(api_key=KEY)) as other:
            with MobizonClient(httpx.Client(), api_key="w" * 40, api_url=other.base_url) as c:
                c.list_campaigns()


def test_simulate_command_serves_until_interrupted():
    import signal
    import subprocess
    import sys

    command = [sys.executable, "-c", "from campaigns.cli import main; main()", "simulate", "sandbox", "--port", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            first = process.stdout.readline()
            assert first.startswith("Mobizon simulator (sandbox) listening on http://127.0.0.1:"), first
            url = first.rsplit(" ", 1)[1].strip()
            assert "CAMPAIGNS_SANDBOX_URL=" + url in process.stdout.readline()
            answer = httpx.post(f"{url}/service/campaign/list", params={**QUERY, "apiKey": "sandbox"}).json()
            assert answer["code"] == 0  # the sandbox takes any key
        finally:
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert "simulator stopped" in out and "Traceback" not in err
