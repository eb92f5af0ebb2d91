"""Cascade campaigns through the pipeline in one process (the embedded runner, SQLite)
against the gateway simulator over HTTP, in each of the three interfaces: channel by
channel (a phone without Viber falls to VK, without both to SMS), every recipient sent
exactly once on the right channel, followed to done with the price per channel in the
status and the report. The same with real worker processes is in
test_cascade_integration.py."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import select

from campaigns.services.report import export_report
from campaigns.services.status import campaign_status
from campaigns.services.submit import InvalidCampaign, SubmitRequest, submit_campaign
from campaigns.simulator.cascade import create_cascade_app
from campaigns.simulator.cascade_gateway import CascadeConfig, CascadeGateway
from campaigns.simulator.faults import FaultRule
from campaigns.simulator.server import SimulatorServer
from campaigns.store.models import Recipient
from campaigns.store.uow import UnitOfWork
from tests.pipeline_data import fast_settings
from workers.embedded import EmbeddedRunner

LOGIN, PASSWORD = "shop", "Cascade-pipeline-pw1"
NUMBERS = [f"7701{i:07d}" for i in range(60)]
NO_VIBER = frozenset(NUMBERS[::3])  # every third: no Viber
NO_VK = frozenset(NUMBERS[::6])  # every sixth: neither Viber nor VK
CHANNELS = {"viber": "1", "vk": "2", "sms": "3"}


@pytest.fixture
def gateway():
    return CascadeGateway(CascadeConfig(login=LOGIN, password=PASSWORD, no_viber=NO_VIBER, no_vk=NO_VK,
                                        repeat_seconds=1.0))


@pytest.fixture
def gateway_url(gateway):
    with SimulatorServer(create_cascade_app(gateway)) as server:
        yield server.base_url


def expected_channel(phone: str) -> str:
    return "sms" if phone in NO_VK else "vk" if phone in NO_VIBER else "viber"


def write_csv(path: Path, numbers: list[str]) -> Path:
    path.write_text("phone;name\n" + "".join(f"+{p};Name{i}\n" for i, p in enumerate(numbers)), encoding="utf-8")
    return path


def settings_for(sqlite_url: str, url: str, protocol: str = "json"):
    return fast_settings(
        database_url=sqlite_url, cascade_login=LOGIN, cascade_password=PASSWORD, cascade_api_url=url,
        cascade_protocol=protocol, cascade_repeat_seconds=1.0, poll_seconds=0.1, stall_seconds=3.0,
        retry_base_seconds=0.05, retry_cap_seconds=0.3, http_timeout=1.0, max_transport_retries=20,
    )


def run(settings, engine, path: Path, request: SubmitRequest, timeout: float = 60) -> dict:
    result = submit_campaign(path, request, settings, engine)
    with EmbeddedRunner(settings, engine, threads=4) as runner:
        for step in result.next:
            runner.schedule(step)
        return runner.run([result.campaign_id], timeout=timeout)[result.campaign_id]


def cascade_request(**changes) -> SubmitRequest:
    values = dict(text="Hi {name}", provider="cascade", country="KZ", rate_limit=6000, rate_period=60,
                  cascade={"channels": "viber,vk,sms", "sms_text": "SMS {name}", "vk_template_id": 100,
                           "vk_template_data": '{"Name": "{name}"}', "button_text": "Shop",
                           "button_url": "https://shop.example"})
    values.update(changes)
    return SubmitRequest(**values)


@pytest.mark.parametrize("protocol", ["json", "get", "xml"])
def test_a_cascade_campaign_reaches_each_recipient_once_on_the_right_channel(
    protocol, gateway, gateway_url, sqlite_url, sqlite_engine, tmp_path
):
    # Given a gateway that loses an answer after sending and fails once, in one interface
    gateway.faults.add(FaultRule("lost", method="send", next=1), FaultRule("http_error", method="state", next=1))
    settings = settings_for(sqlite_url, gateway_url, protocol)
    # When a template campaign with the three channels runs to its end
    status = run(settings, sqlite_engine, write_csv(tmp_path / "people.csv", NUMBERS), cascade_request())
    # Then it is done, and the gateway sent each recipient one message, on the expected channel
    assert status["state"] == "done", status
    assert gateway.sent_counts() == {p: 1 for p in NUMBERS}
    assert {m.phone: m.channel for m in gateway.messages} == {p: expected_channel(p) for p in NUMBERS}
    first = next(m for m in gateway.messages if m.phone == NUMBERS[1])
    assert first.texts == {"viber": "Hi Name1", "vk": "100", "sms": "SMS Name1"}
    with sqlite_engine.connect() as conn:
        rows = conn.execute(select(Recipient.phone, Recipient.final_status, Recipient.channel, Recipient.price_sms,
                                   Recipient.channel_states)
                            .where(Recipient.campaign_id == status["id"])).all()
    assert all(r.final_status == "DELIVRD" for r in rows)
    delivered = {"viber": 0, "vk": 0, "sms": 0}
    for p in NUMBERS:
        delivered[expected_channel(p)] += 1
    if protocol == "get":
        # GET reads the overall state only: no channel, no prices
        assert all(r.channel is None for r in rows)
        return
    assert {r.phone: r.channel for r in rows} == {p: expected_channel(p) for p in NUMBERS}
    assert status["channels"] == {
        "viber": {"delivered": delivered["viber"], "cost": round(delivered["viber"] * 0.45, 4)},
        "vk": {"delivered": delivered["vk"], "cost": round(delivered["vk"] * 0.3, 4)},
        "sms": {"delivered": delivered["sms"], "cost": round(delivered["sms"] * 1.2, 4)},
    }
    # and the report has the channel and the prices of each recipient
    report = tmp_path / "report.csv"
    export_report(status["id"], lambda: UnitOfWork(sqlite_engine), report)
    with open(report, encoding="utf-8-sig") as fh:
        lines = list(csv.DictReader(fh))
    sms_line = next(line for line in lines if line["phone"] == NUMBERS[0])
    assert sms_line["channel"] == "sms" and float(sms_line["price sms"]) == 1.2
    assert sms_line["channel states"] == "viber not_deliver, vk not_deliver, sms deliver"


def test_the_status_says_per_channel_what_was_delivered_and_cost(gateway, gateway_url, sqlite_url, sqlite_engine,
                                                                  tmp_path):
    settings = settings_for(sqlite_url, gateway_url)
    numbers = NUMBERS[:6]
    status = run(settings, sqlite_engine, write_csv(tmp_path / "few.csv", numbers),
                 cascade_request(text="Sale", cascade={"channels": "viber,sms"}))
    assert status["state"] == "done"
    # no VK: those without Viber get an SMS
    assert {m.phone: m.channel for m in gateway.messages} == {p: "sms" if p in NO_VIBER else "viber" for p in numbers}
    assert status["counters"]["sent"] == 6 and status["counters"]["cost"] == round(2 * 1.2 + 4 * 0.45, 4)
    assert campaign_status(status["id"], lambda: UnitOfWork(sqlite_engine))["channels"]["vk"] == {"delivered": 0,
                                                                                                  "cost": 0}


@pytest.mark.parametrize(
    "cascade, problem",
    [
        ({"channels": "viber,fax"}, "unknown channel"),
        ({"channels": "viber,viber"}, "twice"),
        ({"channels": "vk"}, "--vk-template-id"),
        ({"channels": "viber", "button_text": "x" * 20, "button_url": "https://x"}, "19"),
        ({"channels": "viber", "image_url": "https://x/i.png"}, "image needs a button"),
        ({"channels": "sms", "sms_text": "Hi {surname}"}, "--text does not"),
        ({"channels": "vk", "vk_template_id": 1, "vk_template_data": "{bad"}, "not JSON"),
        ({"channels": "sms", "viber_text": "V"}, "viber is not in --channels"),
    ],
)
def test_bad_channel_options_are_refused_before_the_file_is_read(cascade, problem, sqlite_url, sqlite_engine, tmp_path):
    settings = settings_for(sqlite_url, "https://gw.example")
    with pytest.raises(InvalidCampaign) as caught:
        submit_campaign(tmp_path / "missing.csv", cascade_request(cascade=cascade), settings, sqlite_engine)
    assert any(problem in p for p in caught.value.problems), caught.value.problems


def test_a_bucket_manifest_carries_the_channel_fields():
    import json

    from campaigns.intake.manifest import ManifestError, drop_settings

    manifest = {"text": "Hi {name}", "provider": "cascade", "channels": "viber,sms", "sms_text": "S {name}",
                "viber_read_final": True}
    settings = drop_settings({"file": {"path": "in/spring.json", "text": json.dumps(manifest)}}, "in/spring.csv")
    assert settings.request.cascade == {"channels": "viber,sms", "sms_text": "S {name}", "viber_read_final": True}
    with pytest.raises(ManifestError, match="cascade"):
        drop_settings({"file": {"path": "in/x.json", "text": json.dumps({"text": "Hi", "channels": "sms"})}}, "in/x.csv")
