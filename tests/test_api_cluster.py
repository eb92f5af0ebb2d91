"""The doors for other applications with a broker: `campaigns serve` only enqueueing, two
`campaigns worker` processes and a beat running the campaigns on PostgreSQL and Redis, the
named Celery task `campaigns.submit` sent by a foreign Celery app (file and S3 sources),
and the in-process `submit_campaign` call."""

from __future__ import annotations

import concurrent.futures
import time

import boto3
import httpx
import pytest
from celery import Celery
from moto.server import ThreadedMotoServer
from sqlalchemy import func, select

from campaigns.settings import Settings
from campaigns.simulator import SimConfig, SimulatorServer
from campaigns.store.engine import make_engine, upgrade
from campaigns.store.models import Campaign
from tests import services
from tests.cluster import Cluster, clean_env
from tests.serve import Server, auth, make_token, wait_state

pytestmark = [pytest.mark.integration, pytest.mark.redis, pytest.mark.postgres]

REDIS_DB = 12  # a database of the shared Redis only this module uses (flushed)
FINAL = {"done", "failed", "paused", "cancelled"}
AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def write_file(path, rows: int, first: int = 0) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("phone,name\n")
        for i in range(first, first + rows):
            fh.write(f"+7 705 {3000000 + i:07d},N{i}\n")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    import redis

    tmp = tmp_path_factory.mktemp("api-cluster")
    url = services.create_pg_database()
    upgrade(url)
    engine = make_engine(url)
    broker = services.redis_url().rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis_client = redis.Redis.from_url(broker)
    redis_client.flushdb()
    simulator = SimulatorServer(SimConfig.sandbox())
    sandbox_url = simulator.start()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    s3_url = f"http://{host}:{port}"
    env = clean_env(CAMPAIGNS_DATABASE_URL=url, CAMPAIGNS_BROKER_URL=broker, CAMPAIGNS_SANDBOX_URL=sandbox_url,
                    CAMPAIGNS_POLL_SECONDS="0.5", CAMPAIGNS_STALL_SECONDS="5", CAMPAIGNS_DATA_DIR=str(tmp / "data"),
                    AWS_ENDPOINT_URL=s3_url, AWS_CONFIG_FILE=str(tmp / "none"),
                    AWS_SHARED_CREDENTIALS_FILE=str(tmp / "none"), **AWS)
    cluster = Cluster(env, tmp / "logs")
    server = Server(env, tmp / "logs")
    try:
        cluster.start(workers=2, concurrency=2)
        server.start()
        yield {"env": env, "engine": engine, "server": server, "cluster": cluster, "broker": broker,
               "s3": s3_url, "tmp": tmp, "url": url, "sandbox_url": sandbox_url}
    finally:
        server.stop()
        cluster.stop()
        moto.stop()
        simulator.stop()
        redis_client.flushdb()
        redis_client.close()
        engine.dispose()
        services.drop_pg_database(url)


def test_serve_with_a_broker_enqueues_and_the_workers_finish(stack, tmp_path):
    server = stack["server"]
    token = make_token(stack["env"], "crm", "submit")
    health = httpx.get(server.url + "/healthz").json()
    assert health == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}
    source = tmp_path / "clients.csv"
    write_file(source, 1100)
    with httpx.Client(base_url=server.url, headers=auth(token), timeout=60) as client:
        with source.open("rb") as fh:
            answer = client.post("/v1/campaigns", files={"file": ("clients.csv", fh)},
                                 data={"text": "Hi {name}", "country": "KZ"})
        assert answer.status_code == 201, answer.text
        assert answer.json()["state"] == "queued"
        status = wait_state(client, answer.json()["id"], FINAL, timeout=120)
        assert status["state"] == "done", status
        assert status["recipients"]["added"] == 1100
        # 50 requests at once sharing 10 keys make exactly 10 campaigns (PostgreSQL decides)
        bodies = {k: {"text": "offer", "name": f"offer {k}", "recipients": [{"recipient": f"+7 707 {4000000 + k:07d}"}]}
                  for k in range(10)}

        def post(i: int) -> tuple[int, int]:
            key = i % 10
            with httpx.Client(base_url=server.url, headers=auth(token), timeout=120) as c:
                r = c.post("/v1/campaigns", json=bodies[key], headers={"Idempotency-Key": f"key-{key}"})
            assert r.status_code in (200, 201), r.text
            return key, r.json()["id"]

        with concurrent.futures.ThreadPoolExecutor(50) as pool:
            results = list(pool.map(post, range(50)))
    by_key: dict[int, set[int]] = {}
    for key, campaign_id in results:
        by_key.setdefault(key, set()).add(campaign_id)
    assert all(len(ids) == 1 for ids in by_key.values()), by_key
    ids = {next(iter(ids)) for ids in by_key.values()}
    assert len(ids) == 10
    with stack["engine"].connect() as conn:
        names = conn.execute(select(Campaign.name).where(Campaign.name.like("offer %"))).scalars().all()
    assert sorted(names) == sorted(f"offer {k}" for k in range(10))


def _foreign_app(broker: str) -> Celery:
    """A Celery app as another application has it: only the broker URL in common."""
    return Celery("crm", broker=broker, set_as_current=False)


def test_the_named_task_makes_one_campaign_per_key_from_a_file_and_from_s3(stack, tmp_path):
    engine = stack["engine"]
    shared = stack["tmp"] / "shared.csv"  # a path the workers can read
    write_file(shared, 600, first=10_000)
    s3 = boto3.client("s3", endpoint_url=stack["s3"], region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    s3.create_bucket(Bucket="crm")
    local = tmp_path / "export.csv"
    write_file(local, 300, first=20_000)
    s3.upload_file(str(local), "crm", "exports/2026-12-04/export.csv")
    app = _foreign_app(stack["broker"])
    try:
        for _ in range(3):  # a sender that repeats itself: one campaign per key
            app.send_task("campaigns.submit", kwargs={"source": f"file://{shared}", "text": "Hello {name}",
                                                       "country": "KZ", "idempotency_key": "file-1"},
                          queue="campaigns.work")
            app.send_task("campaigns.submit", kwargs={"source": "s3://crm/exports/", "text": "Sale, {name}",
                                                       "country": "KZ", "idempotency_key": "s3-1",
                                                       "name": "from s3"}, queue="campaigns.work")
    finally:
        app.close()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            rows = conn.execute(select(Campaign.name, Campaign.state, Campaign.valid)
                                .where(Campaign.name.in_(["shared.csv", "from s3"]))).all()
        if len(rows) == 2 and all(r.state in FINAL for r in rows):
            break
        time.sleep(0.5)
    assert sorted((r.name, r.state, r.valid) for r in rows) == [("from s3", "done", 300), ("shared.csv", "done", 600)]
    time.sleep(2)  # the repeated messages have been taken by now: still one campaign each
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(Campaign)
                             .where(Campaign.name.in_(["shared.csv", "from s3"]))).scalar()
    assert count == 2
    logs = "\n".join(stack["cluster"].logs().values())
    assert "already made for this key" in logs


def test_the_named_task_logs_a_refused_source_and_stores_nothing(stack):
    # Given a bucket without the object the task names
    s3 = boto3.client("s3", endpoint_url=stack["s3"], region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    try:
        s3.create_bucket(Bucket="crm")
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    app = _foreign_app(stack["broker"])
    try:
        app.send_task("campaigns.submit", kwargs={"source": "s3://crm/missing.csv", "text": "x",
                                                   "idempotency_key": "missing-1"}, queue="campaigns.work")
    finally:
        app.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        logs = "\n".join(stack["cluster"].logs().values())
        if "missing-1" in logs:
            break
        time.sleep(0.3)
    assert "campaigns.submit s3://crm/missing.csv (key missing-1) refused" in logs


def test_the_python_call_queues_for_the_workers_and_waits(stack, tmp_path):
    from campaigns import submit_campaign

    source = tmp_path / "python.csv"
    write_file(source, 50, first=30_000)
    settings = Settings.from_env(stack["env"])
    status = submit_campaign(source, text="Hi {name}", country="KZ", settings=settings, wait=True, timeout=120,
                             idempotency_key="py-1")
    assert status["state"] == "done" and status["recipients"]["added"] == 50
    again = submit_campaign(source, text="Hi {name}", country="KZ", settings=settings, idempotency_key="py-1")
    assert again["id"] == status["id"]
