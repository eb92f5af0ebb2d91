"""An SMSC campaign end to end with real processes: two `campaigns worker` processes and
`campaigns beat` on real Redis and PostgreSQL, the SMSC simulator over HTTP (in this
process, so the test can fault it and count what it sent), `campaigns submit` as a user
runs it; faults injected and a worker SIGKILLed mid-campaign. Every recipient is sent
exactly once, at no more than the campaign's pace, and followed to its final status."""

from __future__ import annotations

import signal

import pytest
from sqlalchemy import select

from campaigns.simulator.faults import FaultRule
from campaigns.simulator.server import SimulatorServer
from campaigns.simulator.smsc import SmscConfig, SmscSimulator, create_smsc_app
from campaigns.store.engine import make_engine, upgrade
from campaigns.store.models import Recipient
from tests import services
from tests.cluster import FAST_PIPELINE, Cluster, busiest, clean_env, submit, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.redis, pytest.mark.postgres]

LOGIN, PASSWORD = "itest-shop", "Itest-smsc-pw-7f3a9c"
REDIS_DB = 14  # a database of the shared Redis only this module uses (flushed; see tests/services.py)
RATE = 3000  # a minute: packets of 10 every 0.2 s


@pytest.fixture(scope="module")
def database():
    url = services.create_pg_database()
    upgrade(url)
    engine = make_engine(url)
    yield url, engine
    engine.dispose()
    services.drop_pg_database(url)


@pytest.fixture(scope="module")
def smsc():
    sim = SmscSimulator(SmscConfig(login=LOGIN, password=PASSWORD, delivery_seconds=2.0))
    server = SimulatorServer(create_smsc_app(sim))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, database, smsc):
    import redis

    broker = services.redis_url().rsplit("/", 1)[0] + f"/{REDIS_DB}"
    client = redis.Redis.from_url(broker)
    client.flushdb()
    env = clean_env(
        CAMPAIGNS_DATABASE_URL=database[0], CAMPAIGNS_BROKER_URL=broker,
        SMSC_LOGIN=LOGIN, SMSC_PASSWORD=PASSWORD, SMSC_API_URL=smsc.base_url, **FAST_PIPELINE,
    )
    cluster = Cluster(env, tmp_path_factory.mktemp("smsc-logs"))
    try:
        cluster.start(workers=2, concurrency=2)
        yield cluster
    finally:
        cluster.stop()
        client.flushdb()
        client.close()


def test_an_smsc_campaign_survives_faults_and_a_killed_worker_and_sends_each_once(cluster, database, smsc, tmp_path):
    sim: SmscSimulator = smsc.simulator
    engine = database[1]
    # Given an SMSC that loses answers after sending, fails, hangs, floods and answers slowly
    sim.configure(latency=0.05)
    sim.faults.add(
        FaultRule("lost", method="send", every=6),
        FaultRule("lost", method="send", every=11, drop=True),
        FaultRule("http_error", method="send", every=7, status=502),
        FaultRule("hang", method="send", next=1, seconds=3.0),
        FaultRule("code", method="send", next=1, code=9),
        FaultRule("http_error", method="status", every=4, status=503),
    )
    numbers = [f"7701{i:07d}" for i in range(500)]
    source = tmp_path / "smsc.csv"
    source.write_text("Телефон;name\n" + "".join(f"+{p};N{i}\n" for i, p in enumerate(numbers)), encoding="utf-8")
    # When a user submits it to the workers at 3000 a minute
    printed = submit(cluster.env, source, "--text", "Привет, {name}!", "--provider", "smsc", "--country", "KZ",
                     "--rate-limit", str(RATE), "--rate-period", "60")
    wait_for(engine, printed["id"], lambda s: len(sim.messages) >= 200, 60, "200 messages sent")
    # and the worker that last received an add is SIGKILLed with its pool, and a new one starts
    workers = [p for p in cluster.procs if p.name.startswith("worker") and p.alive()]
    victim = max(workers, key=lambda p: max((ln[:40] for ln in p.text().splitlines() if "campaigns.add[" in ln), default=""))
    cluster.kill(victim, signal.SIGKILL)
    replacement = cluster.start_worker("worker3")
    cluster.wait_ready(replacement, " ready.")
    # Then the campaign reaches done
    status = wait_for(engine, printed["id"], lambda s: s["state"] == "done", 120, "done")
    # with every recipient sent exactly once, its own text, and its final status known
    assert sim.sent_counts() == {p: 1 for p in numbers}
    assert {m.phone: m.text for m in sim.messages} == {p: f"Привет, N{i}!" for i, p in enumerate(numbers)}
    with engine.connect() as conn:
        rows = conn.execute(
            select(Recipient.phone, Recipient.message_id, Recipient.final_status).where(Recipient.campaign_id == printed["id"])
        ).all()
    assert len(rows) == 500 and all(r.message_id and r.final_status == "DELIVRD" for r in rows)
    assert status["counters"] == {"sent": 500, "final": 500, "delivered": 500, "failed": 0, "waiting": 0}
    # never faster than the pace, whoever sent: one second holds at most 50 and one packet
    assert busiest([m.sent_at for m in sim.messages], 1.0) <= RATE / 60 + 10
    # the faults fired, and the password is in no log
    assert all(rule["fired"] >= 1 for rule in sim.faults.rules() if rule["kind"] in ("lost", "http_error"))
    logs = cluster.logs()
    assert any("campaigns.add[" in text for text in logs.values())
    assert [name for name, text in logs.items() if PASSWORD in text] == []
