"""A cascade campaign through the HTTP API: a real `campaigns serve` process on the
embedded default, the gateway simulator over HTTP in this process. The channel fields of
the request reach the gateway; the status says per channel what was delivered and cost;
the fields are refused for another provider."""

from __future__ import annotations

import httpx
import pytest

from campaigns.simulator.cascade import create_cascade_app
from campaigns.simulator.cascade_gateway import CascadeConfig, CascadeGateway
from campaigns.simulator.server import SimulatorServer
from tests.serve import Server, auth, embedded_env, make_token, wait_state

pytestmark = [pytest.mark.integration]

PASSWORD = "Cascade-api-pw-7310"
NUMBERS = [f"7701{i:07d}" for i in range(12)]
NO_VIBER = frozenset(NUMBERS[::4])


@pytest.fixture(scope="module")
def gateway():
    sim = CascadeGateway(CascadeConfig(login="shop", password=PASSWORD, no_viber=NO_VIBER))
    with SimulatorServer(create_cascade_app(sim)) as server:
        yield server


@pytest.fixture(scope="module")
def client(tmp_path_factory, gateway):
    tmp = tmp_path_factory.mktemp("cascade-api")
    env = embedded_env(tmp, CASCADE_API_URL=gateway.base_url, CASCADE_LOGIN="shop", CASCADE_PASSWORD=PASSWORD,
                       CAMPAIGNS_POLL_SECONDS="0.2")
    token = make_token(env, "app", "submit")
    with Server(env, tmp) as srv:
        with httpx.Client(base_url=srv.url, headers=auth(token), timeout=60) as c:
            yield c, srv


def test_a_json_campaign_with_channel_fields_is_sent_channel_by_channel(client, gateway):
    c, srv = client
    sim: CascadeGateway = gateway.simulator
    # Given recipients as JSON and the channel fields
    body = {"text": "Hi {name}", "provider": "cascade", "country": "KZ", "channels": "viber,sms",
            "sms_text": "SMS for {name}", "viber_sender": "Shop", "button_text": "Open",
            "button_url": "https://shop.example", "rate_limit": 600, "rate_period": 60,
            "recipients": [{"recipient": f"+{p}", "name": f"N{i}"} for i, p in enumerate(NUMBERS)]}
    # When it is posted
    answer = c.post("/v1/campaigns", json=body)
    assert answer.status_code == 201, answer.text
    # Then it is done, each recipient once, on Viber or (without Viber) by SMS, with its texts
    status = wait_state(c, answer.json()["id"], {"done", "failed", "paused"})
    assert status["state"] == "done", status
    assert sim.sent_counts() == {p: 1 for p in NUMBERS}
    assert {m.phone: m.channel for m in sim.messages} == {p: "sms" if p in NO_VIBER else "viber" for p in NUMBERS}
    assert {m.phone: m.texts["sms"] for m in sim.messages} == {p: f"SMS for N{i}" for i, p in enumerate(NUMBERS)}
    assert status["channels"] == {"viber": {"delivered": 9, "cost": 4.05}, "vk": {"delivered": 0, "cost": 0},
                                  "sms": {"delivered": 3, "cost": 3.6}}
    assert PASSWORD not in srv.text()


def test_channel_fields_are_refused_for_another_provider(client):
    c, _ = client
    answer = c.post("/v1/campaigns", json={"text": "Hi", "provider": "smsc", "channels": "viber",
                                           "recipients": [{"recipient": "+77010000001"}]})
    assert answer.status_code == 422
    assert "cascade" in answer.text
