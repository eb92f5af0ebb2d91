"""Schedules through a real `campaigns serve` in the embedded default: its runner fires
due schedules (on a clock 60 times faster than real time, the test aid
CAMPAIGNS_SCHEDULE_CLOCK_SPEED), runs wait for approval and are approved or cancelled
over the API, --exclude-sent-within leaves out whom an earlier run sent to, and bad
input is a 422 naming what is wrong."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from tests.serve import Server, auth, embedded_env, make_token, wait_state

pytestmark = [pytest.mark.integration]

SPEED = 60  # one schedule minute per real second
PHONES = ["+77051230001", "+77051230002", "+77051230003"]


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("schedules-api")
    epoch = time.time()
    env = embedded_env(tmp, CAMPAIGNS_POLL_SECONDS="0.2", CAMPAIGNS_SCHEDULE_CLOCK_SPEED=str(SPEED),
                       CAMPAIGNS_SCHEDULE_CLOCK_EPOCH=repr(epoch))
    token = make_token(env, "ops", "submit")
    reader = make_token(env, "viewer", "read")
    source = tmp / "crm.csv"
    source.write_text("phone\n" + "\n".join(PHONES) + "\n")
    with Server(env, tmp) as srv, httpx.Client(base_url=srv.url, headers=auth(token), timeout=30) as client:
        yield {"client": client, "reader": reader, "source": source, "srv": srv, "tmp": tmp,
               "now": lambda: datetime.fromtimestamp(epoch + (time.time() - epoch) * SPEED, timezone.utc)}


def wait_runs(client: httpx.Client, schedule_id: int, count: int, timeout: float = 60.0) -> list[dict]:
    """GET runs until ``count`` have a campaign past its draft, oldest first."""
    deadline = time.monotonic() + timeout
    runs: list[dict] = []
    while time.monotonic() < deadline:
        runs = client.get(f"/v1/schedules/{schedule_id}/runs").json()
        if len(runs) >= count and all(r["state"] != "draft" for r in runs[-count:]):
            return list(reversed(runs))
        time.sleep(0.2)
    raise AssertionError(f"schedule {schedule_id} made {len(runs)} runs, not {count}: {runs}")


def test_preview_and_bad_input(api):
    client = api["client"]
    answer = client.get("/v1/schedules/preview", params={"cron": "30 2 * * *", "tz": "Europe/Berlin",
                                                         "from": "2026-03-28T12:00", "count": 2})
    assert answer.json() == ["2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00"]
    bad = client.post("/v1/schedules", json={"name": "x", "cron": "0 25 * * *", "tz": "Moon/Base",
                                             "source": str(api["source"]), "text": "hi"})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert "invalid cron expression '0 25 * * *'" in bad.json()["detail"]
    assert "unknown time zone 'Moon/Base'" in bad.json()["detail"]
    assert client.get("/v1/schedules/999").status_code == 404
    reader = httpx.post(api["srv"].url + "/v1/schedules", headers=auth(api["reader"]), json={})
    assert reader.status_code == 403


def test_runs_fire_await_approval_and_are_approved_or_cancelled(api):
    client = api["client"]
    # Given a schedule every 2 minutes (2 s here) whose runs need approval, ending after 3 fires
    now = api["now"]()
    answer = client.post("/v1/schedules", json={
        "name": "promo", "cron": "*/2 * * * *", "tz": "Asia/Almaty", "source": str(api["source"]),
        "text": "Sale today", "options": {"country": "KZ"}, "require_approval": True,
        "end": (now + timedelta(minutes=6, seconds=30)).isoformat(),
    })
    assert answer.status_code == 201, answer.text
    schedule = answer.json()
    assert answer.headers["location"] == f"/v1/schedules/{schedule['id']}"
    # When the server's runner fires it
    runs = wait_runs(client, schedule["id"], 3)
    # Then each fire time made one campaign, validated and waiting for approval
    times = [datetime.fromisoformat(r["fire_time"]["utc"]) for r in runs]
    assert all(t.minute % 2 == 0 and t.second == 0 for t in times)
    assert len(set(times)) == len(times) and len({r["campaign_id"] for r in runs}) == len(runs)
    first, second = runs[0]["campaign_id"], runs[1]["campaign_id"]
    waiting = client.get(f"/v1/campaigns/{first}").json()
    assert waiting["state"] == "awaiting_approval" and waiting["recipients"]["valid"] == 3
    # approving one sends it; approving again is a conflict; cancelling another drops it
    approved = client.post(f"/v1/campaigns/{first}/approve")
    assert approved.status_code == 200 and approved.json()["state"] != "awaiting_approval"
    assert wait_state(client, first, {"done", "failed"})["state"] == "done"
    again = client.post(f"/v1/campaigns/{first}/approve")
    assert again.status_code == 409 and "only a campaign awaiting approval" in again.json()["detail"]
    assert client.post(f"/v1/campaigns/{second}/cancel").json()["state"] == "cancelled"
    # the schedule ends (6.5 minutes, 6.5 s here, after it began; a fourth fire may still
    # fall before that on a fast machine): then no next fire time, and it lists its runs
    deadline = time.monotonic() + 30
    view = client.get(f"/v1/schedules/{schedule['id']}").json()
    while view["next_fire"] is not None and time.monotonic() < deadline:
        time.sleep(0.2)
        view = client.get(f"/v1/schedules/{schedule['id']}").json()
    assert view["next_fire"] is None and view["runs"] >= 3
    assert client.delete(f"/v1/schedules/{schedule['id']}").status_code == 204
    assert client.get(f"/v1/schedules/{schedule['id']}").status_code == 404
    assert client.get(f"/v1/campaigns/{first}").json()["state"] == "done"  # its campaigns stay


def test_a_second_run_leaves_out_whom_the_first_sent_to(api):
    client = api["client"]
    # Given a schedule every 10 minutes (10 s here) that leaves out whom it sent to within a day
    answer = client.post("/v1/schedules", json={
        "name": "reminder", "cron": "*/10 * * * *", "tz": "UTC", "source": str(api["source"]),
        "text": "Your payment is due", "options": {"country": "KZ"}, "exclude_sent_within": 1,
    })
    assert answer.status_code == 201, answer.text
    sid = answer.json()["id"]
    # When its first run fired, it is paused until that run is done at the provider
    (first,) = wait_runs(client, sid, 1, timeout=30)
    assert client.post(f"/v1/schedules/{sid}/pause").json()["paused"] is True
    assert wait_state(client, first["campaign_id"], {"done", "failed"})["state"] == "done"
    api["source"].write_text("phone\n" + "\n".join([*PHONES, "+77051230004"]) + "\n")
    resumed = client.post(f"/v1/schedules/{sid}/resume").json()
    assert resumed["paused"] is False and resumed["next_fire"] is not None
    runs = wait_runs(client, sid, 2, timeout=30)
    second = runs[-1]["campaign_id"]
    # Then the second run sends only to the new phone; the others say when this schedule sent to them
    status = client.get(f"/v1/campaigns/{second}").json()
    assert status["recipients"]["valid"] == 1 and status["recipients"]["invalid"] == 3
    page = client.get(f"/v1/campaigns/{second}/recipients", params={"status": "invalid"}).json()
    today = datetime.now(timezone.utc).date().isoformat()
    reasons = {item["reason"] for item in page["items"]}
    assert reasons <= {f"sent on {today} by this schedule",
                       f"sent on {(datetime.now(timezone.utc) - timedelta(days=1)).date().isoformat()} by this schedule"}
    assert len(page["items"]) == 3
    client.post(f"/v1/schedules/{sid}/pause")
