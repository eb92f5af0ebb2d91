"""SMSC campaigns through the pipeline in one process (the embedded runner, SQLite) against
the SMSC simulator over HTTP: submitted in packets, sent at the campaign's pace by several
lanes, followed through status.php to done, every recipient sent exactly once, faults
included. The same with real worker processes is in test_smsc_integration.py."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from sqlalchemy import select

from campaigns.services.status import campaign_status
from campaigns.services.submit import InvalidCampaign, SubmitRequest, submit_campaign
from campaigns.simulator.faults import FaultRule
from campaigns.simulator.server import SimulatorServer
from campaigns.simulator.smsc import SmscConfig, SmscSimulator, create_smsc_app
from campaigns.store.models import Chunk, Recipient
from campaigns.store.uow import UnitOfWork
from tests.cluster import busiest
from tests.pipeline_data import fast_settings
from workers.embedded import EmbeddedRunner

LOGIN, PASSWORD = "shop", "Smsc-pipeline-pw1"


@pytest.fixture
def sim():
    return SmscSimulator(SmscConfig(login=LOGIN, password=PASSWORD))


@pytest.fixture
def smsc_url(sim):
    with SimulatorServer(create_smsc_app(sim)) as server:
        yield server.base_url


def phones(n: int) -> list[str]:
    return [f"7701{i:07d}" for i in range(n)]


def write_csv(path: Path, numbers: list[str], *, bad: int = 0) -> Path:
    lines = ["phone;name"] + [f"+{p};Name{i}" for i, p in enumerate(numbers)] + ["12345;x"] * bad
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def settings_for(sqlite_url: str, smsc_url: str, **changes):
    return fast_settings(
        database_url=sqlite_url, smsc_login=LOGIN, smsc_password=PASSWORD, smsc_api_url=smsc_url,
        poll_seconds=0.1, stall_seconds=3.0, retry_base_seconds=0.05, retry_cap_seconds=0.3, http_timeout=1.0,
        max_transport_retries=20, **changes,
    )


def run_campaign(settings, engine, path: Path, *, text: str = "Sale today", timeout: float = 60, **request) -> dict:
    request.setdefault("rate_limit", 6000)
    request.setdefault("rate_period", 60)
    result = submit_campaign(path, SubmitRequest(text=text, provider="smsc", country="KZ", **request), settings, engine)
    with EmbeddedRunner(settings, engine, threads=6) as runner:
        for step in result.next:
            runner.schedule(step)
        return runner.run([result.campaign_id], timeout=timeout)[result.campaign_id]


def recipients(engine, campaign_id: int):
    with engine.connect() as conn:
        return conn.execute(
            select(Recipient.phone, Recipient.message_id, Recipient.provider_code, Recipient.final_status)
            .where(Recipient.campaign_id == campaign_id, Recipient.verdict == "valid")
        ).all()


def test_an_smsc_campaign_is_sent_in_paced_packets_and_followed_to_done(sqlite_url, sqlite_engine, smsc_url, sim, tmp_path):
    # Given 250 recipients (and two bad rows) for SMSC at 6000 a minute (packets of 10 every 0.1 s)
    numbers = phones(250)
    sim.configure(delivery_seconds=0.5, fail_delivery=frozenset(numbers[:5]))
    settings = settings_for(sqlite_url, smsc_url)
    # When the campaign is submitted and run
    status = run_campaign(settings, sqlite_engine, write_csv(tmp_path / "r.csv", numbers, bad=2))
    # Then it is done, each valid recipient sent exactly once, one packet per request
    assert status["state"] == "done", status
    assert status["provider"] == "smsc" and status["provider_status"] == "DONE" and status["error"] is None
    assert status["recipients"]["added"] == 250 and status["recipients"]["invalid"] == 2
    assert status["chunks"]["total"] == status["chunks"]["added"] == 25
    assert sim.sent_counts() == {p: 1 for p in numbers}
    assert sim.calls["send"] == 25
    assert {len({m.phone for m in sim.messages if m.id == rid}) for rid in {m.id for m in sim.messages}} == {10}
    # never faster than the pace: 25 packets granted 0.1 s apart take at least 2.4 s, and
    # no second of arrivals holds more than 100 messages and two packets (a packet that
    # reaches the simulator late, on a busy machine, arrives next to the one after it)
    sent = sorted(m.sent_at for m in sim.messages)
    assert sent[-1] - sent[0] >= 2.3
    assert busiest(sent, 1.0) <= 120
    # and every message was followed through status.php to its final status
    rows = recipients(sqlite_engine, status["id"])
    assert all(r.provider_code == 0 and r.message_id.endswith(":" + r.phone) for r in rows)
    finals = {r.phone: r.final_status for r in rows}
    assert finals == {p: ("UNDELIV" if p in numbers[:5] else "DELIVRD") for p in numbers}
    assert status["counters"] == {"sent": 250, "final": 250, "delivered": 245, "failed": 5, "waiting": 0}


def test_a_template_campaign_sends_each_recipient_its_text(sqlite_url, sqlite_engine, smsc_url, sim, tmp_path):
    numbers = phones(25)
    settings = settings_for(sqlite_url, smsc_url)
    status = run_campaign(settings, sqlite_engine, write_csv(tmp_path / "t.csv", numbers), text="Hi {name}!")
    assert status["state"] == "done", status
    assert {m.phone: m.text for m in sim.messages} == {p: f"Hi Name{i}!" for i, p in enumerate(numbers)}


def test_faults_delay_the_campaign_and_nothing_is_sent_twice(sqlite_url, sqlite_engine, smsc_url, sim, tmp_path):
    # Given an SMSC that loses answers after sending, fails before sending, hangs and floods
    sim.faults.add(
        FaultRule("lost", method="send", every=4),
        FaultRule("lost", method="send", every=7, drop=True),
        FaultRule("http_error", method="send", every=5, status=502),
        FaultRule("hang", method="send", next=2, seconds=2.0),
        FaultRule("code", method="send", next=2, code=9),
        FaultRule("http_error", method="status", every=3, status=503),
    )
    numbers = phones(200)
    settings = settings_for(sqlite_url, smsc_url)
    # When a campaign runs through it
    status = run_campaign(settings, sqlite_engine, write_csv(tmp_path / "f.csv", numbers), timeout=90)
    # Then the faults fired, and still every recipient got exactly one message
    fired = {(r["kind"], r["every"], r["next"]): r["fired"] for r in sim.faults.rules()}
    assert fired[("lost", 4, None)] >= 3 and fired[("lost", 7, None)] >= 1
    assert status["state"] == "done", status
    assert sim.sent_counts() == {p: 1 for p in numbers}
    rows = recipients(sqlite_engine, status["id"])
    assert len(rows) == 200 and all(r.message_id and r.final_status == "DELIVRD" for r in rows)
    assert sim.calls["status"] > 0


def test_no_funds_stops_the_campaign_with_the_reason(sqlite_url, sqlite_engine, smsc_url, sim, tmp_path):
    sim.configure(balance=35)
    settings = settings_for(sqlite_url, smsc_url)
    status = run_campaign(settings, sqlite_engine, write_csv(tmp_path / "n.csv", phones(100)))
    assert status["state"] == "failed" and "funds" in status["error"]
    assert len(sim.messages) <= 35
    assert PASSWORD not in str(status)


def test_a_slow_pace_is_kept_by_every_lane_together(sqlite_url, sqlite_engine, smsc_url, sim, tmp_path):
    # 40 recipients at 1200 a minute: packets of 10 every half second, four lanes
    numbers = phones(40)
    settings = settings_for(sqlite_url, smsc_url)
    status = run_campaign(settings, sqlite_engine, write_csv(tmp_path / "s.csv", numbers), rate_limit=1200)
    assert status["state"] == "done", status
    sent = sorted(m.sent_at for m in sim.messages)
    assert busiest(sent, 0.5) <= 20  # one packet a half second, at most one extra
    assert sent[-1] - sent[0] >= 1.0  # four packets cannot all go at once
    with sqlite_engine.connect() as conn:
        sizes = conn.execute(select(Chunk.size).where(Chunk.campaign_id == status["id"])).scalars().all()
    assert sizes == [10] * 4


@pytest.mark.parametrize(
    "request_kw, message",
    [
        (dict(rate_limit=100), "both --rate-limit and --rate-period"),
        (dict(rate_limit=0, rate_period=60), "at least 1"),
        (dict(deferred_to="2030-01-01 10:00:00"), "--deferred-to"),
        (dict(mclass=0), "flash"),
    ],
)
def test_submit_refuses_what_an_smsc_campaign_cannot_do(sqlite_url, sqlite_engine, smsc_url, tmp_path, request_kw, message):
    settings = settings_for(sqlite_url, smsc_url)
    with pytest.raises(InvalidCampaign, match=message):
        submit_campaign(write_csv(tmp_path / "x.csv", phones(3)), SubmitRequest(text="x", provider="smsc", **request_kw),
                        settings, sqlite_engine)
    assert campaign_ids(sqlite_engine) == []


def campaign_ids(engine) -> list[int]:
    from campaigns.store.models import Campaign

    with engine.connect() as conn:
        return conn.execute(select(Campaign.id)).scalars().all()


def test_status_json_reports_the_same_keys_as_for_mobizon(sqlite_url, sqlite_engine, smsc_url, sim, tmp_path):
    settings = settings_for(sqlite_url, smsc_url)
    status = run_campaign(settings, sqlite_engine, write_csv(tmp_path / "k.csv", phones(12)))
    again = campaign_status(status["id"], lambda: UnitOfWork(sqlite_engine))
    for key in ("id", "name", "provider", "provider_campaign_id", "state", "provider_status", "recipients",
                "chunks", "counters", "error"):
        assert key in again
    assert math.isclose(again["counters"]["sent"], 12)
