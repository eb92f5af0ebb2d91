"""One scrape: the text Prometheus reads, for this process or, in multiprocess mode,
for every process sharing ``PROMETHEUS_MULTIPROC_DIR``, plus the database aggregates."""

from __future__ import annotations

import os
from typing import Callable

from campaigns.store.uow import UnitOfWork


def multiprocess_dir() -> str | None:
    """prometheus_client's multiprocess folder when configured (it reads the variable
    itself), made when missing: the library refuses a folder that does not exist."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir") or None
    if folder:
        os.makedirs(folder, exist_ok=True)
    return folder


def render(uow_factory: Callable[[], UnitOfWork] | None) -> tuple[bytes, str]:
    """(body, content type) of one scrape. ``uow_factory`` None leaves out the database
    aggregates (an exporter that another process already covers)."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    from campaigns import telemetry
    from campaigns.telemetry.aggregates import AggregatesCollector

    telemetry.instruments()  # the families show (at zero) before the first event
    if multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_Forward(REGISTRY))
    if uow_factory is not None:
        registry.register(AggregatesCollector(uow_factory))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Forward:
    """The default registry's metrics inside a registry of one scrape."""

    def __init__(self, registry):
        self.registry = registry

    def describe(self) -> list:
        return []

    def collect(self):
        return self.registry.collect()
