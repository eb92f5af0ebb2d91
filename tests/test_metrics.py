"""Metrics (campaigns.telemetry): provider calls counted by outcome through the one
wrapper, database aggregates equal to the campaigns' statuses on SQLite and PostgreSQL,
and the multiprocess mode summing the events of several processes."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
import subprocess
import sys
import uuid

import pytest
from prometheus_client import REGISTRY

from campaigns.providers.errors import ProviderError
from campaigns.providers.fake import FakeProvider
from campaigns.providers.port import CampaignSpec, ChunkRecipient, prepare_chunk
from campaigns.services.status import list_campaigns
from campaigns.telemetry.aggregates import read_aggregates
from campaigns.telemetry.provider import instrumented
from tests.pipeline_data import Driver, fast_settings, make_campaign


def _calls(provider: str, method: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("campaigns_provider_calls_total",
                                     {"provider": provider, "method": method, "outcome": outcome}) or 0.0


def _latencies(provider: str, method: str) -> float:
    return REGISTRY.get_sample_value("campaigns_provider_call_seconds_count",
                                     {"provider": provider, "method": method}) or 0.0


def test_each_provider_call_counts_once_with_its_outcome():
    # Given a fake provider measured under the name 'metered'
    fake = FakeProvider()
    provider = instrumented(fake, "metered")
    before = {(m, o): _calls("metered", m, o) for m in ("create_campaign", "add_chunk", "message_statuses", "launch")
              for o in ("ok", "temporary", "rate_limited", "permanent", "auth")}
    latencies = _latencies("metered", "add_chunk")

    # When calls succeed and fail in each way
    campaign = provider.create_campaign(CampaignSpec(local_id=1, name="m", text="hi"))
    recipients = [ChunkRecipient("77011234567")]
    fake.fail("add_chunk", "temporary").fail("add_chunk", "rate_limited").fail("add_chunk", "permanent")
    fake.fail("launch", "auth")
    for _ in range(3):
        with pytest.raises(ProviderError):
            provider.add_chunk(campaign, "k", recipients)
    prepare_chunk(provider, campaign, "k", recipients).send()  # the split add counts as add_chunk
    with pytest.raises(ProviderError):
        provider.launch(campaign)
    provider.launch(campaign)
    assert list(provider.message_statuses(campaign)) is not None

    # Then each counts once under its outcome, with its latency, and the rest is the provider's own
    def delta(method, outcome):
        return _calls("metered", method, outcome) - before[(method, outcome)]

    assert delta("create_campaign", "ok") == 1
    assert (delta("add_chunk", "temporary"), delta("add_chunk", "rate_limited"), delta("add_chunk", "permanent"),
            delta("add_chunk", "ok")) == (1, 1, 1, 1)
    assert (delta("launch", "auth"), delta("launch", "ok")) == (1, 1)
    assert delta("message_statuses", "ok") == 1
    assert _latencies("metered", "add_chunk") - latencies == 4
    assert provider.server_side_campaigns is True and provider.name == "fake"
    assert instrumented(provider, "metered") is provider


def test_the_aggregates_equal_the_sum_of_every_campaign_status(uow_factory):
    # Given a campaign run to done at a fake provider (some undelivered), and one still queued
    fake = FakeProvider(final_statuses={"77010000001": "UNDELIV", "77010000002": "EXPIRED"})
    settings = fast_settings()
    done = make_campaign(uow_factory, count=9, chunk_size=4, invalid=["nope"], provider="fake-metrics")
    Driver(uow_factory, fake, settings).run(done)
    make_campaign(uow_factory, count=5, chunk_size=4, provider="fake-metrics",
                  now=datetime.now(timezone.utc) - timedelta(minutes=5))

    # When the aggregates are read
    figures = read_aggregates(uow_factory)

    # Then they are the sums of what `campaigns status --json` shows for every campaign
    statuses = list_campaigns(uow_factory)
    states = {}
    for s in statuses:
        states[s["state"]] = states.get(s["state"], 0) + 1
    assert {k: v for k, v in figures["campaigns"].items() if v} == states
    for key in ("rows", "valid", "invalid", "duplicates", "added", "rejected_by_provider"):
        assert figures["recipients"][key] == sum(s["recipients"][key] for s in statuses), key
    for key, counter in (("delivered", "totalDelivrdMsgNum"), ("undelivered", "totalUndelivMsgNum"),
                         ("messages", "totalMsgNum")):
        assert figures["recipients"][key] == sum(int(s["counters"].get(counter, 0)) for s in statuses), key
    for key in ("total", "added", "pending"):
        total = sum(s["chunks"][key] for s in statuses)
        assert (sum(figures["chunks"].values()) if key == "total" else figures["chunks"][key]) == total, key
    assert figures["recipients"]["delivered"] >= 7 and figures["chunks"]["pending"] >= 2
    assert figures["oldest_waiting_chunk_seconds"] >= 300


def test_the_other_features_are_counted_from_what_they_store(uow_factory):
    from campaigns.store.callbacks import CallbackEvent
    from campaigns.store.drops import Drop

    # Given what the callbacks and the watched bucket stored
    before = read_aggregates(uow_factory)
    tag = uuid.uuid4().hex
    with uow_factory() as uow:
        uow.session.add_all([
            CallbackEvent(provider="smsc", kind="status", event_key=f"{tag}-1", payload={}, outcome="applied"),
            CallbackEvent(provider="smsc", kind="status", event_key=f"{tag}-2", payload={}, outcome="applied"),
            CallbackEvent(provider="smsc", kind="inbound", event_key=f"{tag}-3", payload={}),
            Drop(claim_key=tag, location="/in", path="a.csv", identity="1", state="rejected"),
        ])
        uow.commit()

    # When the aggregates are read, Then each stored row counts once by kind and result
    after = read_aggregates(uow_factory)

    def grew(group, key):
        return after[group].get(key, 0) - before[group].get(key, 0)

    assert grew("callback_events", ("status", "applied")) == 2
    assert grew("callback_events", ("inbound", "pending")) == 1
    assert grew("bucket_drops", "rejected") == 1 and grew("bucket_drops", "done") == 0
    assert set(after["schedule_fires"]) >= {"fired", "skipped"}


_RECORD = """
import sys
from campaigns import telemetry
telemetry.provider_call("sandbox", "add_chunk", "ok", 0.05)
telemetry.pacing_wait("smsc", 2.0)
"""
_RENDER = """
import sys
from campaigns.telemetry.exposition import render
sys.stdout.write(render(None)[0].decode())
"""


def test_the_multiprocess_mode_sums_every_process(tmp_path):
    # Given PROMETHEUS_MULTIPROC_DIR shared by processes (uvicorn workers, Celery children)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    # When two processes each record a provider call and a pacing wait, then exit
    for _ in range(2):
        subprocess.run([sys.executable, "-c", _RECORD], env=env, check=True, timeout=60)
    text = subprocess.run([sys.executable, "-c", _RENDER], env=env, check=True, timeout=60, capture_output=True,
                          text=True).stdout

    # Then a third process exposes their sum
    from prometheus_client.parser import text_string_to_metric_families

    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    key = ("campaigns_provider_calls_total", (("method", "add_chunk"), ("outcome", "ok"), ("provider", "sandbox")))
    assert samples[key] == 2
    assert samples[("campaigns_pacing_waits_total", (("provider", "smsc"),))] == 2
    assert samples[("campaigns_provider_call_seconds_count", (("method", "add_chunk"), ("provider", "sandbox")))] == 2


def test_the_grafana_board_asks_only_for_metrics_that_exist(sqlite_uow, monkeypatch):
    import json
    import re
    from pathlib import Path

    from campaigns import telemetry
    from campaigns.telemetry.exposition import render

    # Given every family exposed: the database's and the per-process ones (recorded once)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    telemetry.provider_call("sandbox", "launch", "ok", 0.1)
    telemetry.pacing_wait("smsc", 1.0)
    from campaigns.store.callbacks import CallbackEvent

    with sqlite_uow() as uow:
        uow.session.add(CallbackEvent(provider="smsc", kind="status", event_key="k", payload={}))
        uow.commit()
    text = render(sqlite_uow)[0].decode()
    exposed = set(re.findall(r"^(campaigns_[a-z_]+)", text, re.M))

    # When the board's queries are read, Then each metric they name is exposed
    board = json.loads((Path(__file__).parent.parent / "deploy/grafana/dashboards/campaigns.json").read_text())
    asked = {name for panel in board["panels"] for target in panel["targets"]
             for name in re.findall(r"campaigns_[a-z_]+", target["expr"])}
    assert asked and asked <= exposed, asked - exposed
