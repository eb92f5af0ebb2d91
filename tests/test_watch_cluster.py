"""The watched bucket in the distributed mode: beat's tick scans a folder and an S3 prefix
(moto's server), two `campaigns worker` processes take the drops (the campaigns.drop task)
and run their campaigns, on PostgreSQL and Redis."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from moto.server import ThreadedMotoServer
from sqlalchemy import func, select

from campaigns.simulator import SimConfig, SimulatorServer
from campaigns.store.engine import make_engine, upgrade
from campaigns.store.models import Campaign
from tests import services
from tests.cluster import Cluster, clean_env
from tests.watch_helpers import write_csv, write_json

pytestmark = [pytest.mark.integration, pytest.mark.redis, pytest.mark.postgres]

REDIS_DB = 8  # a database of the shared Redis only this module uses (flushed; see tests/services.py)
AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def test_beat_scans_a_folder_and_a_bucket_and_the_workers_take_the_drops(tmp_path):
    import redis

    # Given workers and beat watching a folder and an S3 prefix
    url = services.create_pg_database()
    upgrade(url)
    engine = make_engine(url)
    broker = services.redis_url().rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis_client = redis.Redis.from_url(broker)
    redis_client.flushdb()
    simulator = SimulatorServer(SimConfig.sandbox())
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    env = clean_env(CAMPAIGNS_DATABASE_URL=url, CAMPAIGNS_BROKER_URL=broker, CAMPAIGNS_SANDBOX_URL=simulator.start(),
                    CAMPAIGNS_POLL_SECONDS="0.5", CAMPAIGNS_DATA_DIR=str(tmp_path / "data"),
                    CAMPAIGNS_WATCH=f"{inbox.as_uri()},s3://drops/in/", CAMPAIGNS_WATCH_SECONDS="0.5",
                    CAMPAIGNS_WATCH_SETTLE_SECONDS="0.5", AWS_ENDPOINT_URL=f"http://{host}:{port}",
                    AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), **AWS)
    client = boto3.session.Session().client("s3", endpoint_url=f"http://{host}:{port}", **{
        "aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"})
    client.create_bucket(Bucket="drops")
    cluster = Cluster(env, tmp_path / "logs")
    try:
        cluster.start(workers=2, concurrency=2)
        # When a file is dropped in each
        write_csv(inbox / "local.csv", 20)
        write_json(inbox / "local.json", {"text": "From the folder"})
        source = write_csv(tmp_path / "remote.csv", 15, first=500)
        client.put_object(Bucket="drops", Key="in/team/_campaign.json", Body=b'{"text": "From the bucket"}')
        client.upload_file(str(source), "drops", "in/team/remote.csv")
        deadline = time.monotonic() + 180
        remote_done = False
        while time.monotonic() < deadline:
            keys = {item["Key"] for item in client.list_objects_v2(Bucket="drops", Prefix="in/").get("Contents", ())}
            remote_done = "in/reports/team/remote.report.csv" in keys
            if remote_done and (inbox / "reports" / "local.report.csv").exists():
                break
            time.sleep(0.5)
        logs = cluster.logs()
    finally:
        cluster.stop()
        moto.stop()
        simulator.stop()
        redis_client.flushdb()
        redis_client.close()
    # Then each became one campaign, run to the end, with its results beside it
    try:
        assert remote_done and (inbox / "reports" / "local.report.csv").exists(), \
            "\n".join(text[-2000:] for text in logs.values())
        local = json.loads((inbox / "processed" / "local.result.json").read_text())
        assert (local["state"], local["recipients"]["valid"]) == ("done", 20)
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(Campaign)) == 2
            assert set(conn.scalars(select(Campaign.text))) == {"From the folder", "From the bucket"}
    finally:
        engine.dispose()
        services.drop_pg_database(url)
