"""A real S3-compatible server for the tests: moto's standalone server on localhost, started
once per module, and boto3's standard configuration pointed at it through the environment
(isolated from the host's files and credentials). Import the fixtures into a test module:

    from tests.s3 import aws_env, bucket, moto_endpoint  # noqa: F401 (fixtures)
"""

from __future__ import annotations

import uuid

import boto3
import pytest
from moto.server import ThreadedMotoServer


@pytest.fixture(scope="module")
def moto_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_endpoint, monkeypatch, tmp_path):
    """boto3's standard configuration pointed at the local server, isolated from the host's."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-key")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return monkeypatch


@pytest.fixture
def bucket(aws_env):
    """A fresh bucket and a client to fill it (the server lives for the module)."""
    name = f"in-{uuid.uuid4().hex[:12]}"
    client = boto3.session.Session().client("s3")
    client.create_bucket(Bucket=name)
    yield name, client
    client.close()
