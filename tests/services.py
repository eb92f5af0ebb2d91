"""Real services for the tests: PostgreSQL and Redis on 127.0.0.1.

Under ``CI=true`` a test whose service is missing fails; elsewhere it is skipped with
the reason. ``.ci/run`` starts or installs the services before the suite.
"""

from __future__ import annotations

import os
import socket
import uuid

import pytest

PG_HOST = os.environ.get("CAMPAIGNS_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("CAMPAIGNS_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("CAMPAIGNS_TEST_PG_USER", "postgres")
PG_ADMIN_DB = os.environ.get("CAMPAIGNS_TEST_PG_DB", "test")
REDIS_URL = os.environ.get("CAMPAIGNS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require(service: str, available: bool) -> None:
    """Skip (or, under CI=true, fail) when ``service`` is not reachable."""
    if available:
        return
    message = f"{service} is not reachable on this machine"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI must provide it (.ci/run starts it)")
    pytest.skip(message)


def pg_admin_url(db: str = PG_ADMIN_DB) -> str:
    return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{db}"


def create_pg_database() -> str:
    """Create a fresh, uniquely named database and return its URL."""
    from sqlalchemy import create_engine, text

    require("PostgreSQL", port_open(PG_HOST, PG_PORT))
    name = f"campaigns_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return pg_admin_url(name)


def drop_pg_database(url: str) -> None:
    from sqlalchemy import create_engine, text

    name = url.rsplit("/", 1)[1]
    admin = create_engine(pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def scratch_database(admin_url: str, prefix: str = "campaigns_scratch"):
    """Create a uniquely named database on the server of ``admin_url`` (benchmarks); returns
    its URL and a function that drops it."""
    from sqlalchemy import create_engine, text

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin_url.rsplit("/", 1)[0] + "/" + name, drop


# Databases of the shared Redis, one per test module that runs Celery on it (each flushes
# its own; two modules on one database steal each other's tasks when pytest-xdist runs
# them at once): 7 test_pipeline_integration (warm shutdown), 8 test_watch_cluster,
# 9 test_cli_pipeline, 10 test_workers_app, 11 test_pipeline_integration, 12
# test_api_cluster, 13 test_metrics_workers, 14 test_smsc_integration, 15 benchmarks.
# Others start a private redis-server (tests.cluster.RedisServer).


def redis_url() -> str:
    """The test Redis URL (a database of its own is the caller's business)."""
    host_port = REDIS_URL.split("://", 1)[1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    require("Redis", port_open(host, int(port or 6379)))
    return REDIS_URL
