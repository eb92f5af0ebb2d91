"""The cascade gateway simulator over real HTTP: what seed 001 says the gateway does, in
its three interfaces (channel fallback, client_id_message de-duplication, the once-a-minute
refusal of identical requests, states in time, error texts)."""

from __future__ import annotations

import httpx
import pytest

from campaigns.providers.cascade.client import CascadeClient
from campaigns.providers.cascade.wire import Abonent, Message
from campaigns.providers.cascade import codes
from campaigns.providers.errors import AuthError
from campaigns.simulator.cascade import create_cascade_app
from campaigns.simulator.cascade_gateway import CascadeConfig, CascadeGateway
from campaigns.simulator.server import SimulatorServer

NO_VIBER, NO_BOTH, GONE, LATE, PARTLY, FINE = ("77010000001", "77010000002", "77010000003", "77010000004",
                                               "77010000005", "77010000006")


@pytest.fixture
def gateway():
    return CascadeGateway(CascadeConfig(
        login="shop", password="pw-123456", no_viber=frozenset({NO_VIBER, NO_BOTH}), no_vk=frozenset({NO_BOTH}),
        unreachable=frozenset({GONE}), expired=frozenset({LATE}), partly=frozenset({PARTLY}), delivery_seconds=10,
        speed=0,
    ))


OPEN: list[CascadeClient] = []


@pytest.fixture
def url(gateway):
    with SimulatorServer(create_cascade_app(gateway)) as server:
        yield server.base_url
        while OPEN:
            OPEN.pop().close()


def client(url, protocol="json", password="pw-123456"):
    made = CascadeClient(httpx.Client(timeout=5), api_url=url, login="shop", password=password, protocol=protocol)
    OPEN.append(made)
    return made


def message(*phones, start=1):
    return Message(phones=tuple(Abonent(p, start + i) for i, p in enumerate(phones)),
                   order={"viber": 1, "vk": 2, "sms": 3}, text_viber="V", text_sms="S", template_id=7)


@pytest.mark.parametrize("protocol", ["json", "get", "xml"])
def test_each_phone_falls_to_the_next_channel_and_states_move_with_time(gateway, url, protocol):
    c = client(url, protocol)
    (answers,) = c.send([message(FINE, NO_VIBER, NO_BOTH, GONE, LATE, PARTLY)])
    ids = [a.id_message for a in answers]
    assert all(a.accepted for a in answers)
    # at first every message is pending
    assert {s.state for s in c.state(ids)} == {"send"}
    gateway.clock.advance(61)  # three channels' worth of tries, and the same request may be made again
    states = dict(zip([FINE, NO_VIBER, NO_BOTH, GONE, LATE, PARTLY], c.state(ids)))
    assert {p: s.state for p, s in states.items()} == {
        FINE: "deliver", NO_VIBER: "deliver", NO_BOTH: "deliver", GONE: "not_deliver", LATE: "expired",
        PARTLY: "partly_deliver"}
    if protocol == "get":
        return  # the GET state is the overall word only
    assert states[NO_BOTH].channels == {"viber": "not_deliver", "vk": "not_deliver", "sms": "deliver"}
    assert states[NO_BOTH].prices == {"viber": 0.0, "vk": 0.0, "sms": 1.2}
    assert states[NO_VIBER].channels["vk"] == "deliver" and states[FINE].prices["viber"] == 0.45
    assert gateway.state()["by_channel"] == {"viber": 1, "vk": 1, "sms": 1, "none": 3}


def test_a_client_id_already_sent_is_refused_and_an_identical_request_waits_a_minute(gateway, url):
    c = client(url)
    (first,) = c.send([message(FINE)])
    with pytest.raises(codes.Repeated):
        c.send([message(FINE)])
    gateway.clock.advance(61)
    (again,) = c.send([message(FINE)])
    assert again[0].id_message == first[0].id_message and codes.is_duplicate(again[0].error)
    assert gateway.sent_to(FINE) == 1 and gateway.state()["duplicates_refused"] == 1
    # a new client id is a new message
    (other,) = c.send([message(FINE, start=99)])
    assert other[0].id_message != first[0].id_message and gateway.sent_to(FINE) == 2


def test_error_texts_of_the_document(gateway, url):
    with pytest.raises(AuthError):
        client(url, password="wrong-pass").send([message(FINE)])
    c = client(url, "xml")
    no_text = Message(phones=(Abonent(FINE, 5),), order={"viber": 1})
    bad_button = Message(phones=(Abonent(FINE, 6),), order={"sms": 1}, text_sms="S", button_text="x" * 20,
                         button_url="https://x")
    bad_phone = Message(phones=(Abonent("123", 7),), order={"sms": 1}, text_sms="S")
    one, two, three = c.send([no_text, bad_button, bad_phone])
    assert one == "Не указан текст VIBER сообщения" and "19" in two
    assert three[0].error == "Неверный формат номера телефона" and not three[0].accepted
    (unknown,) = c.state(["424242"])
    assert unknown.state == "Сообщение с таким ID не принималось"
