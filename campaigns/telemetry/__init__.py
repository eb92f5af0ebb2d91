"""The process's Prometheus instruments (prometheus_client) and the calls that record them.

Two kinds of figures, chosen so that every number is right however many processes run:

* **Per-process events** (provider calls and their latency, pacing waits): counters and
  histograms here, made on first use. With
  ``PROMETHEUS_MULTIPROC_DIR`` set (read by prometheus_client itself), every process of a
  host writes them to files in that folder and any one of them exposes the sum
  (prometheus_client's multiprocess mode: uvicorn's ``--workers``, Celery's prefork
  children, ``campaigns metrics``). Without it, each process exposes its own.
* **States and counts** (campaigns by state, chunks, recipients by outcome, the oldest
  chunk waiting; callback events, bucket drops and schedule fires, which those features
  store): read from the database at scrape time (``aggregates``), the source of truth,
  so they agree with ``campaigns status`` and never double up across processes.

Nothing is built at import time: ``instruments()`` makes the metrics once per process.
Recording never raises: a metric must not break a campaign.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

PROVIDER_OUTCOMES = ("ok", "temporary", "rate_limited", "permanent", "auth", "error")
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
WAIT_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)


@dataclass(frozen=True)
class Instruments:
    provider_calls: Any
    provider_seconds: Any
    pacing_waits: Any
    pacing_wait_seconds: Any


_lock = threading.Lock()
_made: list[Instruments] = []


def instruments() -> Instruments:
    """The process's instruments, registered on prometheus_client's default registry the
    first time they are asked for."""
    if _made:
        return _made[0]
    with _lock:
        if not _made:
            from campaigns.telemetry.exposition import multiprocess_dir

            multiprocess_dir()  # made before the first value file is written in it
            from prometheus_client import Counter, Histogram

            _made.append(Instruments(
                provider_calls=Counter("campaigns_provider_calls", "Provider API calls by provider, method and outcome",
                                       ["provider", "method", "outcome"]),
                provider_seconds=Histogram("campaigns_provider_call_seconds", "Provider API call latency",
                                           ["provider", "method"], buckets=LATENCY_BUCKETS),
                pacing_waits=Counter("campaigns_pacing_waits", "Chunk adds put off because the campaign's pace had no "
                                     "free slot", ["provider"]),
                pacing_wait_seconds=Histogram("campaigns_pacing_wait_seconds", "How long a paced add was put off",
                                              ["provider"], buckets=WAIT_BUCKETS),
            ))
    return _made[0]


def _safely(record) -> None:
    try:
        record(instruments())
    except Exception as exc:  # noqa: BLE001 - a metric never breaks the work it counts
        log.debug("metric not recorded: %s: %s", type(exc).__name__, exc)


def provider_call(provider: str, method: str, outcome: str, seconds: float) -> None:
    """One provider API call (``outcome`` one of PROVIDER_OUTCOMES) and how long it took."""
    def record(m: Instruments) -> None:
        m.provider_calls.labels(provider, method, outcome).inc()
        m.provider_seconds.labels(provider, method).observe(seconds)

    _safely(record)


def pacing_wait(provider: str, seconds: float) -> None:
    """A chunk add put off ``seconds`` by its campaign's pace."""
    def record(m: Instruments) -> None:
        m.pacing_waits.labels(provider).inc()
        m.pacing_wait_seconds.labels(provider).observe(seconds)

    _safely(record)
