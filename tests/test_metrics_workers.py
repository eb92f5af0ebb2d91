"""Metrics of the distributed deployment: a prefork `campaigns worker` serving its own
port (CAMPAIGNS_WORKER_METRICS_PORT) over PROMETHEUS_MULTIPROC_DIR counts the provider
calls its children made; `campaigns serve --workers 2` in multiprocess mode serves the
database aggregates, equal to the campaign's status."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from campaigns.services.status import campaign_status
from campaigns.simulator import SimConfig, SimulatorServer
from campaigns.store.engine import make_engine, upgrade
from campaigns.store.uow import UnitOfWork
from tests import services
from tests.cluster import Cluster, clean_env, free_port
from tests.serve import Server, auth, make_token, wait_state

pytestmark = [pytest.mark.integration, pytest.mark.redis, pytest.mark.postgres]
REDIS_DB = 13  # a database of the shared Redis only this module uses (flushed)


def _samples(text: str) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_prefork_worker_serves_its_childrens_provider_calls(tmp_path):
    import redis

    # Given PostgreSQL, Redis, the sandbox, one prefork worker (2 children) with a metrics
    # port and its multiprocess folder, a beat, and the API with two processes and its own folder
    url = services.create_pg_database()
    upgrade(url)
    broker = services.redis_url().rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis_client = redis.Redis.from_url(broker)
    redis_client.flushdb()
    simulator = SimulatorServer(SimConfig.sandbox())
    sandbox_url = simulator.start()
    port = free_port()
    base = dict(CAMPAIGNS_DATABASE_URL=url, CAMPAIGNS_BROKER_URL=broker, CAMPAIGNS_SANDBOX_URL=sandbox_url,
                CAMPAIGNS_POLL_SECONDS="0.5", CAMPAIGNS_DATA_DIR=str(tmp_path / "data"), CAMPAIGNS_CHUNK_SIZE="20")
    (tmp_path / "worker-metrics").mkdir()
    (tmp_path / "api-metrics").mkdir()
    worker_env = clean_env(**base, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "worker-metrics"),
                           CAMPAIGNS_WORKER_METRICS_PORT=str(port))
    api_env = clean_env(**base, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "api-metrics"))
    cluster = Cluster(worker_env, tmp_path / "logs")
    server = Server(api_env, tmp_path / "logs", workers=2)
    engine = make_engine(url)
    try:
        cluster.start(workers=1, concurrency=2)
        server.start()
        token = make_token(api_env, "metrics-cluster", "submit")
        body = "phone\n" + "".join(f"7705{4000000 + i}\n" for i in range(90))

        # When a campaign of 90 recipients (5 chunks) runs to done
        with httpx.Client(base_url=server.url, headers=auth(token), timeout=30) as client:
            made = client.post("/v1/campaigns", files={"file": ("w.csv", body.encode())}, data={"text": "Hi"})
            assert made.status_code == 201, made.text
            wait_state(client, made.json()["id"], {"done"}, timeout=120)
        status = campaign_status(made.json()["id"], lambda: UnitOfWork(engine))
        worker = _samples(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text)
        api = _samples(httpx.get(f"{server.url}/metrics", timeout=10).text)
    finally:
        server.stop()
        cluster.stop()
        simulator.stop()
        redis_client.flushdb()
        redis_client.close()
        engine.dispose()
        services.drop_pg_database(url)

    # Then the worker's port counts the children's calls, one add per chunk
    def calls(samples, method):
        key = ("campaigns_provider_calls_total", (("method", method), ("outcome", "ok"), ("provider", "sandbox")))
        return samples.get(key, 0)

    assert status["chunks"]["added"] == 5
    assert calls(worker, "create_campaign") == 1 and calls(worker, "launch") == 1
    assert calls(worker, "add_chunk") == 5
    # and the API serves the database's figures, equal to the status, once (not per process)
    assert api[("campaigns_campaigns", (("state", "done"),))] == 1
    assert api[("campaigns_recipients", (("outcome", "added"),))] == status["recipients"]["added"] == 90
    assert api[("campaigns_recipients", (("outcome", "delivered"),))] == status["counters"]["totalDelivrdMsgNum"]
    assert calls(api, "create_campaign") == 0  # the API only enqueues
