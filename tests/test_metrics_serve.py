"""/metrics of a real ``campaigns serve`` after campaigns ran on the sandbox: every figure
equals what ``campaigns status --json`` says for the same campaigns."""

from __future__ import annotations

import json

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.cluster import run_cli
from tests.serve import Server, auth, embedded_env, make_token, wait_state

pytestmark = pytest.mark.integration


def _samples(text: str) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_equal_the_statuses_after_a_run(tmp_path):
    # Given a server on the embedded default, and two campaigns run to done on the sandbox
    env = embedded_env(tmp_path)
    token = make_token(env, "metrics-test", "submit")
    files = {
        "a.csv": "phone,name\n" + "".join(f"7701{2000000 + i},N{i}\n" for i in range(40)) + "oops,x\n",
        "b.csv": "phone\n" + "".join(f"7702{3000000 + i}\n" for i in range(25)) + "77023000000\n",
    }
    with Server(env, tmp_path) as server, httpx.Client(base_url=server.url, headers=auth(token), timeout=30) as client:
        ids = []
        for name, body in files.items():
            answer = client.post("/v1/campaigns", files={"file": (name, body.encode())},
                                 data={"text": "Hello {name}" if name == "a.csv" else "Hello"})
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["id"])
        for campaign_id in ids:
            wait_state(client, campaign_id, {"done"})

        # When Prometheus scrapes, and the CLI tells each campaign's status
        scrape = httpx.get(f"{server.url}/metrics", timeout=30)
        statuses = [json.loads(run_cli(env, "status", str(i), "--json").stdout) for i in ids]

    # Then the figures are the statuses' sums
    assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
    samples = _samples(scrape.text)

    def metric(name, **labels):
        return samples[(name, tuple(sorted(labels.items())))]

    assert metric("campaigns_campaigns", state="done") == 2
    for key in ("rows", "valid", "invalid", "duplicates", "added", "rejected_by_provider"):
        assert metric("campaigns_recipients", outcome=key) == sum(s["recipients"][key] for s in statuses), key
    for key, counter in (("messages", "totalMsgNum"), ("delivered", "totalDelivrdMsgNum"),
                         ("undelivered", "totalUndelivMsgNum"), ("expired", "totalExpiredMsgNum")):
        assert metric("campaigns_recipients", outcome=key) == sum(s["counters"].get(counter, 0) for s in statuses), key
    assert metric("campaigns_chunks", state="added") == sum(s["chunks"]["added"] for s in statuses)
    assert metric("campaigns_oldest_waiting_chunk_age_seconds") == 0
    # the provider calls of the run, measured in the one wrapper of the embedded runner's providers
    assert metric("campaigns_provider_calls_total", provider="sandbox", method="create_campaign", outcome="ok") == 2
    assert metric("campaigns_provider_calls_total", provider="sandbox", method="add_chunk", outcome="ok") == \
        sum(s["chunks"]["added"] for s in statuses)
    assert metric("campaigns_provider_call_seconds_count", provider="sandbox", method="launch") == 2
    # counts only: no names, phones or texts
    assert "a.csv" not in scrape.text and "7701" not in scrape.text


def test_metrics_need_their_token_when_one_is_set(tmp_path):
    env = embedded_env(tmp_path, CAMPAIGNS_METRICS_TOKEN="scrape-secret-123")
    api_token = make_token(env, "not-for-metrics", "admin")
    with Server(env, tmp_path) as server:
        assert httpx.get(f"{server.url}/metrics").status_code == 401
        assert httpx.get(f"{server.url}/metrics", headers=auth(api_token)).status_code == 401
        ok = httpx.get(f"{server.url}/metrics", headers={"Authorization": "Bearer scrape-secret-123"})
        assert ok.status_code == 200 and "campaigns_campaigns" in ok.text
