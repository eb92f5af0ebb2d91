"""A worker's own ``/metrics`` port (CAMPAIGNS_WORKER_METRICS_PORT): started in the Celery
worker's main process, it serves what every process of the worker recorded.

With the prefork pool the tasks run in child processes, so the events reach the main
process only through prometheus_client's multiprocess files: set PROMETHEUS_MULTIPROC_DIR
(an empty folder, e.g. a tmpfs, wiped at each start) for the worker. The database
aggregates are not served here (the API's /metrics has them; one source avoids counting
them twice).
"""

from __future__ import annotations

import logging

from campaigns.telemetry.exposition import multiprocess_dir

log = logging.getLogger(__name__)


def start_worker_exporter(port: int, *, host: str = "0.0.0.0"):
    """Serve Prometheus's text on ``host:port`` from a background thread; returns the
    server (``.shutdown()``). Raises OSError when the port cannot be bound."""
    from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

    from campaigns import telemetry

    telemetry.instruments()
    if multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        log.warning("worker metrics on port %d show this process only: set PROMETHEUS_MULTIPROC_DIR so that the "
                    "prefork children's provider calls and pacing waits are counted", port)
        registry = REGISTRY
    server, _thread = start_http_server(port, addr=host, registry=registry)
    log.info("worker metrics on http://%s:%d/metrics", host, port)
    return server
