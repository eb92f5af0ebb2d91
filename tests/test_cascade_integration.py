"""A cascade campaign end to end with real processes: two `campaigns worker` processes and
`campaigns beat` on Redis and PostgreSQL, the gateway simulator over HTTP (in this
process, so the test can fault it and see what it sent), `campaigns submit` as a user
runs it; answers lost after sending, failures, a hang, and a worker SIGKILLed
mid-campaign. Every recipient gets exactly one message, on the channel it can receive,
at no more than the campaign's pace, and the campaign is done with its cost per channel."""

from __future__ import annotations

import signal

import pytest
from sqlalchemy import select

from campaigns.simulator.cascade import create_cascade_app
from campaigns.simulator.cascade_gateway import CascadeConfig, CascadeGateway
from campaigns.simulator.faults import FaultRule
from campaigns.simulator.server import SimulatorServer
from campaigns.store.engine import make_engine, upgrade
from campaigns.store.models import Recipient
from tests import services
from tests.cluster import FAST_PIPELINE, Cluster, RedisServer, busiest, clean_env, submit, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.redis, pytest.mark.postgres]

LOGIN, PASSWORD = "itest-shop", "Itest-cascade-pw-4e1b"
RATE = 3000  # a minute: packets of 10 every 0.2 s
NUMBERS = [f"7702{i:07d}" for i in range(200)]
NO_VIBER = frozenset(NUMBERS[1::3])
NO_VK = frozenset(NUMBERS[1::6])  # of those without Viber, these have no VK either: SMS
UNREACHABLE = frozenset(NUMBERS[-3:])  # no channel reaches them


def expected_channel(phone: str) -> str | None:
    if phone in UNREACHABLE:
        return None
    if phone in NO_VIBER:
        return "sms" if phone in NO_VK else "vk"
    return "viber"


@pytest.fixture(scope="module")
def database():
    url = services.create_pg_database()
    upgrade(url)
    engine = make_engine(url)
    yield url, engine
    engine.dispose()
    services.drop_pg_database(url)


@pytest.fixture(scope="module")
def gateway():
    sim = CascadeGateway(CascadeConfig(login=LOGIN, password=PASSWORD, no_viber=NO_VIBER, no_vk=NO_VK,
                                       unreachable=UNREACHABLE, delivery_seconds=0.3, repeat_seconds=2.0))
    server = SimulatorServer(create_cascade_app(sim))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, database, gateway):
    services.redis_url()  # Redis is required (fails under CI=true when missing)
    redis = RedisServer(tmp_path_factory.mktemp("cascade-redis"))
    redis.start()
    env = clean_env(
        CAMPAIGNS_DATABASE_URL=database[0], CAMPAIGNS_BROKER_URL=redis.url,
        CASCADE_API_URL=gateway.base_url, CASCADE_LOGIN=LOGIN, CASCADE_PASSWORD=PASSWORD, CASCADE_PROTOCOL="json",
        CASCADE_REPEAT_SECONDS="2", **FAST_PIPELINE,
    )
    cluster = Cluster(env, tmp_path_factory.mktemp("cascade-logs"))
    try:
        cluster.start(workers=2, concurrency=2)
        yield cluster
    finally:
        cluster.stop()
        redis.kill()


def test_a_cascade_campaign_survives_faults_and_a_killed_worker_and_sends_each_once(cluster, database, gateway, tmp_path):
    sim: CascadeGateway = gateway.simulator
    engine = database[1]
    # Given a gateway that loses answers after sending, fails, hangs and asks to try later
    sim.configure(latency=0.03)
    sim.faults.add(
        FaultRule("lost", method="send", every=5),
        FaultRule("lost", method="send", every=9, drop=True),
        FaultRule("http_error", method="send", every=7, status=502),
        FaultRule("hang", method="send", next=1, seconds=3.0),
        FaultRule("code", method="send", next=1, data="Сервис временно недоступен, попробуйте позже"),
        FaultRule("http_error", method="state", every=2, status=503),
    )
    source = tmp_path / "cascade.csv"
    source.write_text("Телефон;name\n" + "".join(f"+{p};N{i}\n" for i, p in enumerate(NUMBERS)), encoding="utf-8")
    # When a user submits it to the workers: Viber, then VK, then SMS, at 3000 a minute
    printed = submit(cluster.env, source, "--text", "Привет, {name}!", "--provider", "cascade", "--country", "KZ",
                     "--channels", "viber,vk,sms", "--sms-text", "SMS {name}", "--vk-template-id", "100",
                     "--vk-template-data", '{"Name": "{name}"}', "--button-text", "Open",
                     "--button-url", "https://shop.example", "--rate-limit", str(RATE), "--rate-period", "60")
    wait_for(engine, printed["id"], lambda s: len(sim.messages) >= 70, 60, "70 messages sent")
    # and the worker that last received an add is SIGKILLed with its pool, and a new one starts
    workers = [p for p in cluster.procs if p.name.startswith("worker") and p.alive()]
    victim = max(workers, key=lambda p: max((ln[:40] for ln in p.text().splitlines() if "campaigns.add[" in ln), default=""))
    cluster.kill(victim, signal.SIGKILL)
    replacement = cluster.start_worker("worker3")
    cluster.wait_ready(replacement, " ready.")
    # Then the campaign reaches done
    status = wait_for(engine, printed["id"], lambda s: s["state"] == "done", 120, "done")
    # with every recipient sent exactly one message, on the channel it can receive
    assert sim.sent_counts() == {p: 1 for p in NUMBERS}
    assert {m.phone: m.channel for m in sim.messages} == {p: expected_channel(p) for p in NUMBERS}
    assert {m.phone: m.texts["viber"] for m in sim.messages} == {p: f"Привет, N{i}!" for i, p in enumerate(NUMBERS)}
    assert sim.duplicates >= 1  # resends happened, and the gateway refused them as duplicates
    with engine.connect() as conn:
        rows = conn.execute(
            select(Recipient.phone, Recipient.message_id, Recipient.final_status, Recipient.channel)
            .where(Recipient.campaign_id == printed["id"])
        ).all()
    assert len(rows) == len(NUMBERS) and all(r.message_id for r in rows)
    assert {r.phone: (r.channel, r.final_status) for r in rows} == {
        p: (expected_channel(p), "DELIVRD" if expected_channel(p) else "UNDELIV") for p in NUMBERS
    }
    counts = {ch: sum(1 for p in NUMBERS if expected_channel(p) == ch) for ch in ("viber", "vk", "sms")}
    assert status["channels"] == {
        "viber": {"delivered": counts["viber"], "cost": round(counts["viber"] * 0.45, 4)},
        "vk": {"delivered": counts["vk"], "cost": round(counts["vk"] * 0.3, 4)},
        "sms": {"delivered": counts["sms"], "cost": round(counts["sms"] * 1.2, 4)},
    }
    assert status["counters"]["sent"] == len(NUMBERS) and status["counters"]["waiting"] == 0
    assert status["counters"]["undelivered"] == len(UNREACHABLE)
    # never faster than the pace, whoever sent: one second holds at most 50 and one packet
    assert busiest([m.sent_at for m in sim.messages], 1.0) <= RATE / 60 + 10
    # the faults fired, and the password is in no log
    rules = sim.faults.rules()
    assert all(rule["fired"] >= 1 for rule in rules if rule["kind"] in ("lost", "http_error")), rules
    logs = cluster.logs()
    assert any("campaigns.add[" in text for text in logs.values())
    assert [name for name, text in logs.items() if PASSWORD in text] == []
