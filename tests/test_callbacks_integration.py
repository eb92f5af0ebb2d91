"""Through real processes: an SMSC campaign sent by ``campaigns serve`` to the SMSC
simulator, whose statuses arrive back as signed callbacks (seed 004) while polling is
kept out of the way; the receiver is restarted mid-campaign and loses nothing because the
simulator retries. Then a STOP reply, and the same file submitted again: opted out."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from campaigns.simulator import SimulatorServer
from campaigns.simulator.smsc import SmscConfig, SmscSimulator, create_smsc_app
from campaigns.simulator.smsc_callbacks import CallbackPoster
from campaigns.services.callbacks import event_counts
from campaigns.store.engine import make_engine
from campaigns.store.uow import UnitOfWork
from tests.cluster import run_cli
from tests.serve import Server, auth, embedded_env, make_token

pytestmark = pytest.mark.integration

LOGIN, PASSWORD, SECRET = "cb-shop", "Cb-smsc-pw-91", "cb_secret-7"
N = 60
UNDELIVERABLE = {f"7705555{i:04d}" for i in range(0, N, 7)}


def wait_for(check, timeout: float = 60.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_statuses_arrive_as_callbacks_survive_a_restart_and_a_stop_reply_opts_out(tmp_path):
    # Given the SMSC simulator (60 messages, every 7th undeliverable) and campaigns serve
    # with SMSC configured, the receiver's secret, and polling too slow to matter
    sim = SmscSimulator(SmscConfig(login=LOGIN, password=PASSWORD, delivery_seconds=4.0,
                                   fail_delivery=frozenset(UNDELIVERABLE)))
    smsc = SimulatorServer(create_smsc_app(sim))
    smsc.start()
    env = embedded_env(tmp_path, SMSC_LOGIN=LOGIN, SMSC_PASSWORD=PASSWORD, SMSC_API_URL=smsc.base_url,
                       SMSC_CALLBACK_SECRET=SECRET, SMSC_RATE_LIMIT="6000", CAMPAIGNS_POLL_SECONDS="3600",
                       # a sandbox URL keeps the embedded runner from polling every second for
                       # its in-process simulator's sake (no sandbox campaign runs here)
                       CAMPAIGNS_SANDBOX_URL="http://127.0.0.1:9")
    token = make_token(env, "cb", "submit")
    server = Server(env, tmp_path / "logs").start()
    poster = CallbackPoster(sim, f"{server.url}/callbacks/smsc", secret=SECRET, algorithm="sha1",
                            retry_seconds=0.3, attempts=200).start()
    source = tmp_path / "list.csv"
    source.write_text("phone\n" + "\n".join(f"+7705555{i:04d}" for i in range(N)) + "\n", encoding="utf-8")
    try:
        with httpx.Client(base_url=server.url, headers=auth(token), timeout=30) as client:
            with source.open("rb") as fh:
                answer = client.post("/v1/campaigns", files={"file": ("list.csv", fh, "text/csv")},
                                     data={"text": "Sale today", "provider": "smsc"})
            assert answer.status_code == 201, answer.text
            cid = answer.json()["id"]
        # When every message is out, the receiver goes down before the statuses come
        wait_for(lambda: len(sim.messages) == N, what="every message sent")
        server.stop()
        wait_for(lambda: poster.state().get("failed_attempts", 0) > 5, what="refused callbacks")
        # and comes back on the same port a little later
        restarted = Server(env, tmp_path / "logs")
        restarted.port, restarted.url = server.port, server.url
        server = restarted.start()
        # Then every final status arrives through the simulator's retries
        wait_for(lambda: poster.state().get("posted_1", 0) + poster.state().get("posted_20", 0) == N
                 and poster.state()["waiting"] == 0, what="every final status posted")

        def delivery():
            done = run_cli(env, "status", str(cid), "--json")
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout)["delivery"]

        counts = wait_for(lambda: (d := delivery())["pending"] == 0 and d, what="no message pending")
        finals = sim.state()["final_statuses"]
        assert counts == {"delivered": finals.get("1", 0), "undelivered": finals.get("20", 0), "expired": 0,
                          "rejected": 0, "pending": 0}
        assert counts["undelivered"] == len(UNDELIVERABLE)
        # every final status was set by its callback (none by polling), each event applied once
        engine = make_engine(env["CAMPAIGNS_DATABASE_URL"])
        try:
            outcomes = event_counts(lambda: UnitOfWork(engine))
        finally:
            engine.dispose()
        assert outcomes.get("applied") == N and outcomes.get("not final") == N, outcomes

        # When a recipient answers STOP to the campaign's message
        message = next(m for m in sim.messages if m.phone == "77055550001")
        poster.incoming("77055550001", "Stop", sms_id=message.id)
        with httpx.Client(base_url=server.url, headers=auth(token), timeout=30) as client:
            inbound = wait_for(lambda: client.get("/v1/inbound", params={"campaign": cid}).json()["items"],
                               what="the reply")
            assert [(i["phone"], i["text"], i["opted_out"]) for i in inbound] == [("77055550001", "Stop", True)]
            assert client.get(f"/v1/campaigns/{cid}/delivery").json() == counts
            assert client.get("/v1/suppressions/77055550001").status_code == 200
            # Then the same file submitted again has that phone opted out
            with source.open("rb") as fh:
                again = client.post("/v1/campaigns", params={"dry_run": "true"},
                                    files={"file": ("list.csv", fh, "text/csv")},
                                    data={"text": "Sale today", "provider": "smsc"})
            assert again.status_code == 200, again.text
            assert again.json()["invalid_by_reason"] == {"opted out": 1}
        inbox = run_cli(env, "inbox", "--campaign", str(cid), "--json")
        assert json.loads(inbox.stdout)[0]["recipient_id"] is not None
        validated = run_cli(env, "validate", str(source), "--text", "Sale today", "--json")
        assert json.loads(validated.stdout)["invalid_by_reason"] == {"opted out": 1}
    finally:
        poster.stop()
        server.stop()
        smsc.stop()
