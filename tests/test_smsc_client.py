"""The SMSC client against the project's SMSC simulator over real HTTP: every error code,
lost responses, the flood rules, history paging and its limits, and the credentials
kept out of every message."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import date

import httpx
import pytest

from campaigns.pacing import Limiter
from campaigns.pacing.memory import MemoryBackend
from campaigns.providers.errors import AuthError, PermanentError, RateLimited, TemporaryError
from campaigns.providers.smsc import codes
from campaigns.providers.smsc.client import SmscClient, normalize_api_url, valid_request_id
from campaigns.simulator.faults import FaultRule
from campaigns.simulator.server import SimulatorServer
from campaigns.simulator.smsc import SmscConfig, SmscSimulator, create_smsc_app

LOGIN, PASSWORD = "alex", "pa55-Secret-word"
PHONES = ["77011234567", "77021234567", "77031234567"]


@pytest.fixture
def sim():
    return SmscSimulator(SmscConfig(login=LOGIN, password=PASSWORD))


@pytest.fixture
def server(sim):
    with SimulatorServer(create_smsc_app(sim)) as srv:
        yield srv


def make_client(server, **kw) -> SmscClient:
    kw.setdefault("login", LOGIN)
    kw.setdefault("password", PASSWORD)
    return SmscClient(httpx.Client(timeout=kw.pop("timeout", 5.0)), api_url=server.base_url, **kw)


@pytest.fixture
def client(server):
    c = make_client(server)
    yield c
    c.close()


# --- sending --------------------------------------------------------------------------


def test_a_plain_campaign_batches_its_phones_into_one_request(client, sim):
    result = client.send(id="c1.ab12-0", phones=PHONES, text="Привет, мир")
    assert (result.id, result.count, result.error_code) == ("c1.ab12-0", 3, 0)
    assert [p.phone for p in result.phones] == PHONES and all(p.error == 0 for p in result.phones)
    assert sim.calls["send"] == 1
    assert [(m.phone, m.text, m.id) for m in sim.messages] == [(p, "Привет, мир", "c1.ab12-0") for p in PHONES]


def test_a_template_campaign_sends_each_recipient_its_own_text_through_list(client, sim):
    result = client.send(id="c1.ab12-1", messages=[(PHONES[0], "Hi Ann:\nyour code 1"), (PHONES[1], "Hi Bob")])
    assert result.count == 2
    assert {m.phone: m.text for m in sim.messages} == {PHONES[0]: "Hi Ann:\nyour code 1", PHONES[1]: "Hi Bob"}


def test_the_request_is_a_post_with_fmt_3_and_utf8_and_no_secret_in_the_url():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "x-1", "cnt": 1})

    client = SmscClient(httpx.Client(transport=httpx.MockTransport(handler)), api_key="K3y-abcdef", api_url="smsc.kz")
    client.send(id="x-1", phones=["+7 701 123 45 67"], text="тест", sender="Shop", valid_minutes=90)
    client.close()
    request = seen[0]
    assert request.method == "POST" and str(request.url) == "https://smsc.kz/sys/send.php"
    form = dict(httpx.QueryParams(request.content.decode()))
    assert form == {
        "apikey": "K3y-abcdef", "id": "x-1", "op": "1", "phones": "77011234567", "mes": "тест",
        "sender": "Shop", "valid": "01:30", "fmt": "3", "charset": "utf-8",
    }


@pytest.mark.parametrize(
    "value, ok",
    [("c1.ab-0", True), ("a" * 40, True), ("a" * 41, False), ("", False), ("c1:0", False), ("c 1", False)],
)
def test_request_ids_are_up_to_40_of_the_allowed_characters(value, ok):
    assert valid_request_id(value) is ok


def test_the_client_refuses_what_smsc_would(client, sim):
    with pytest.raises(ValueError):
        client.send(id="bad id", phones=PHONES, text="x")
    with pytest.raises(ValueError):
        client.send(id="ok", phones=PHONES, text="x" * 1001)
    with pytest.raises(ValueError):
        client.send(id="ok", phones=PHONES, text="x", messages=[(PHONES[0], "y")])
    assert sim.calls["send"] == 0


def test_credentials_are_required_and_the_url_is_checked():
    with pytest.raises(ValueError, match="SMSC_LOGIN"):
        SmscClient(httpx.Client(), login="alex")
    with pytest.raises(ValueError):
        normalize_api_url("https://smsc.kz/some/path")
    assert normalize_api_url("smsc.kz/") == "https://smsc.kz"


# --- every error code ------------------------------------------------------------------


def test_error_2_wrong_login_is_an_auth_error_that_never_shows_the_password(server, sim, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = make_client(server, password="Wr0ng-password-99")
    with pytest.raises(AuthError) as err:
        wrong.send(id="c1-0", phones=PHONES, text="x")
    wrong.close()
    assert err.value.code == 2
    for text in (str(err.value), repr(err.value), repr(wrong), caplog.text):
        assert "Wr0ng-password-99" not in text and PASSWORD not in text
    assert sim.messages == []


def test_error_3_no_funds(client, sim):
    sim.configure(balance=2)
    with pytest.raises(PermanentError) as err:
        client.send(id="c1-0", phones=PHONES, text="x")
    assert err.value.code == 3 and "funds" in str(err.value)
    assert sim.messages == []


def test_error_6_forbidden_text(client, sim):
    sim.configure(forbidden_words=("casino",))
    with pytest.raises(PermanentError) as err:
        client.send(id="c1-0", phones=PHONES, text="Best casino in town")
    assert err.value.code == 6


def test_errors_7_and_8_are_recipient_outcomes(client, sim):
    sim.configure(undeliverable=frozenset({PHONES[1]}))
    result = client.send(id="c1-0", phones=[PHONES[0], PHONES[1], "12345"], text="x")
    assert [(p.phone, p.error) for p in result.phones] == [(PHONES[0], 0), (PHONES[1], 8), ("12345", 7)]
    assert result.count == 1 and sim.sent_counts() == {PHONES[0]: 1}
    # nobody sendable: the whole request answers the code, with the id
    only_bad = client.send(id="c1-1", phones=["12345"], text="x")
    assert (only_bad.error_code, only_bad.id, only_bad.count) == (7, "c1-1", 0)
    undeliverable = client.send(id="c1-2", phones=[PHONES[1]], text="x")
    assert undeliverable.error_code == 8


def test_error_9_a_repeated_identical_send_within_a_minute(client, sim):
    client.send(id="c1-0", phones=PHONES, text="x")
    with pytest.raises(codes.Flood) as err:
        client.send(id="c1-0", phones=PHONES, text="x")
    assert err.value.maybe_done and err.value.code == 9
    assert len(sim.messages) == 3
    # a minute later SMSC has forgotten it: the same request sends twice (PROVIDERS.md)
    sim.clock.advance(60)
    client.send(id="c1-0", phones=PHONES, text="x")
    assert sim.sent_to(PHONES[0]) == 2


def test_error_9_for_the_fifteenth_concurrent_request(client, sim):
    # Given 14 requests held under way at SMSC
    sim.pause()
    results, threads = [], []
    for i in range(14):
        t = threading.Thread(target=lambda i=i: results.append(client.send(id=f"c1-{i}", phones=[PHONES[0]], text=str(i))))
        t.start()
        threads.append(t)
    deadline = time.monotonic() + 10
    while sim.in_flight < 14 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sim.in_flight == 14
    # When a 15th arrives, Then SMSC refuses it with 9
    with pytest.raises(codes.Flood):
        client.send(id="c1-15", phones=[PHONES[1]], text="15")
    sim.resume()
    for t in threads:
        t.join()
    assert len(results) == 14 and sim.sent_to(PHONES[1]) == 0


@pytest.mark.parametrize(
    "code, kind",
    [(1, PermanentError), (2, AuthError), (3, PermanentError), (4, TemporaryError), (5, PermanentError),
     (6, PermanentError), (9, codes.Flood), (42, TemporaryError)],
)
def test_every_send_error_code_maps_onto_the_hierarchy(client, sim, code, kind):
    sim.faults.add(FaultRule("code", method="send", code=code))
    with pytest.raises(kind) as err:
        client.send(id="c1-0", phones=PHONES, text="x")
    assert type(err.value) is kind and err.value.code == code
    if code == 4:
        assert err.value.maybe_done is False
    assert sim.messages == []


# --- transport failures ----------------------------------------------------------------


def test_a_lost_response_after_sending_is_maybe_done_and_the_message_exists(client, sim):
    sim.faults.add(FaultRule("lost", method="send"))
    with pytest.raises(TemporaryError) as err:
        client.send(id="c1-0", phones=PHONES, text="x")
    assert err.value.maybe_done is True
    assert len(sim.messages) == 3
    assert all(s.found for s in client.status([("c1-0", p) for p in PHONES]))


def test_a_dropped_connection_after_sending(client, sim):
    sim.faults.add(FaultRule("lost", method="send", drop=True))
    with pytest.raises(TemporaryError) as err:
        client.send(id="c1-0", phones=PHONES, text="x")
    assert err.value.maybe_done is True and len(sim.messages) == 3


def test_a_5xx_before_the_work_sends_nothing(client, sim):
    sim.faults.add(FaultRule("http_error", method="send", status=503))
    with pytest.raises(TemporaryError, match="HTTP 503"):
        client.send(id="c1-0", phones=PHONES, text="x")
    assert sim.messages == []


def test_a_hang_past_the_timeout(server, sim):
    sim.faults.add(FaultRule("hang", method="send", seconds=2))
    short = make_client(server, timeout=0.3)
    with pytest.raises(TemporaryError, match="no answer") as err:
        short.send(id="c1-0", phones=PHONES, text="x")
    short.close()
    assert err.value.maybe_done is True


@pytest.mark.parametrize("body", ["html", "truncated"])
def test_a_body_that_is_not_json(client, sim, body):
    sim.faults.add(FaultRule("malformed", method="balance", body=body))
    with pytest.raises(TemporaryError, match="not JSON"):
        client.balance()


def test_an_unreachable_host_is_temporary_and_nothing_was_sent():
    client = SmscClient(httpx.Client(timeout=1), login=LOGIN, password=PASSWORD, api_url="http://127.0.0.1:9")
    with pytest.raises(TemporaryError) as err:
        client.send(id="c1-0", phones=PHONES, text="x")
    client.close()
    assert err.value.maybe_done is False and PASSWORD not in str(err.value)


# --- status.php ------------------------------------------------------------------------


def test_statuses_follow_each_message_to_its_final_state(client, sim):
    sim.configure(delivery_seconds=100, fail_delivery=frozenset({PHONES[2]}))
    client.send(id="c1-0", phones=PHONES, text="x")
    pairs = [("c1-0", p) for p in PHONES] + [("c1-0", "77770000000"), ("c9-9", PHONES[0])]
    assert [s.status for s in client.status(pairs)] == [-1, -1, -1, -3, -3]
    sim.clock.advance(50)
    assert [s.status for s in client.status(pairs[:3])] == [0, 0, 0]
    sim.clock.advance(50)
    states = client.status(pairs[:3])
    assert [s.status for s in states] == [1, 1, 20]
    assert [codes.status_name(s.status)[:2] for s in states] == [("DELIVRD", True), ("DELIVRD", True), ("UNDELIV", True)]


def test_a_single_unknown_message_is_not_found_not_an_error(client):
    [state] = client.status([("c1-0", PHONES[0])])
    assert state.status == -3 and not state.found


def test_status_errors(client, sim):
    sim.faults.add(FaultRule("code", method="status", code=9))
    with pytest.raises(RateLimited):
        client.status([("c1-0", PHONES[0])])
    sim.faults.add(FaultRule("code", method="status", code=2))
    with pytest.raises(AuthError):
        client.status([("c1-0", PHONES[0])])


def test_many_statuses_are_asked_in_batches(client, sim):
    phones = [f"7701{i:07d}" for i in range(250)]
    for start in range(0, 250, 50):
        client.send(id=f"c1-{start}", phones=phones[start : start + 50], text="x")
    before = sim.calls["status"]
    states = client.status([(f"c1-{(i // 50) * 50}", p) for i, p in enumerate(phones)])
    assert len(states) == 250 and all(s.found for s in states)
    assert sim.calls["status"] - before == 3


# --- history (seed 003) ----------------------------------------------------------------


def test_history_pages_with_prev_id_to_the_end(client, sim):
    for i in range(5):
        client.send(id=f"c1-{i}", phones=PHONES[:2], text=f"m{i}")
    items = list(client.iter_history(page=3))
    assert len(items) == 10 and sim.calls["get"] == 4
    assert [i.int_id for i in items] == sorted((i.int_id for i in items), reverse=True)
    assert {i.id for i in items} == {f"c1-{i}" for i in range(5)}
    assert client.history(phones=[PHONES[0]], count=2)[0].phone == PHONES[0]
    assert client.history(phones=["77770000000"]) == []  # error 3: nothing matches
    assert client.history(start=date(2000, 1, 1), end=date(2000, 1, 2)) == []


def test_history_refuses_a_fourth_identical_request_within_a_minute(client, sim):
    for _ in range(3):
        client.history(count=10)
    with pytest.raises(RateLimited) as err:
        client.history(count=10)
    assert err.value.code == 9
    client.history(count=11)  # a different request still passes
    sim.clock.advance(60)
    client.history(count=10)


def test_history_refuses_a_thirty_first_request_within_an_hour(client, sim):
    for i in range(30):
        client.history(count=i + 1)
    with pytest.raises(RateLimited):
        client.history(count=31)
    sim.clock.advance(3600)
    client.history(count=31)


def test_the_limiter_keeps_history_under_its_limits_without_asking(server, sim):
    # Given the shared limiter, the client itself stops before SMSC would refuse
    limiter = Limiter(MemoryBackend(), prefix=f"t-{uuid.uuid4().hex[:6]}:")
    paced = make_client(server, limiter=limiter)
    for _ in range(3):
        paced.history(count=10)
    with pytest.raises(RateLimited) as err:
        paced.history(count=10)
    paced.close()
    assert err.value.code is None and 55 < err.value.retry_after <= 60
    assert sim.calls["get"] == 3


def test_history_error_codes(client, sim):
    with pytest.raises(ValueError):
        client.history(count=1001)
    sim.faults.add(FaultRule("code", method="get", code=1))
    with pytest.raises(PermanentError):
        client.history()
    sim.faults.add(FaultRule("code", method="get", code=4))
    with pytest.raises(TemporaryError):
        client.history()


# --- the shared concurrency limit -------------------------------------------------------


def test_the_limiter_keeps_concurrent_requests_under_the_account_limit(server, sim):
    limiter = Limiter(MemoryBackend(), prefix=f"t-{uuid.uuid4().hex[:6]}:")
    paced = make_client(server, limiter=limiter, max_concurrent=2)
    sim.pause()
    threads = [threading.Thread(target=paced.balance) for _ in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while sim.in_flight < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(RateLimited) as err:
        paced.balance()
    assert 0 < err.value.retry_after <= 1.0
    sim.resume()
    for t in threads:
        t.join()
    assert sim.calls["balance"] == 2
    assert paced.balance() == "1000000.00"  # the places were given back
    paced.close()


def test_balance_proves_the_credentials(client, sim):
    sim.configure(balance=10)
    assert client.balance() == "10.00"
    sim.configure(blocked_ip=True)
    with pytest.raises(TemporaryError) as err:
        client.balance()
    assert err.value.code == 4


def test_the_control_routes_let_another_process_fault_and_inspect_it(server, client, sim):
    with httpx.Client(base_url=server.base_url) as control:
        added = control.post("/_sim/faults", json={"kind": "http_error", "method": "send", "status": 500})
        assert added.status_code == 200 and added.json()["rules"][0]["method"] == "send"
        assert control.post("/_sim/faults", json={"kind": "nonsense"}).status_code == 400
        with pytest.raises(TemporaryError, match="HTTP 500"):
            client.send(id="c1-0", phones=PHONES, text="x")
        client.send(id="c1-1", phones=PHONES, text="x")
        client.send(id="c1-1", phones=PHONES[:1], text="x")
        state = control.get("/_sim/state").json()
        assert state["messages"] == 4 and state["sent_twice"] == [PHONES[0]] and state["calls"]["send"] == 3
        assert control.delete("/_sim/faults").json() == {"rules": []}
