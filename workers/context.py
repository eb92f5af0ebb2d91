"""Per-process resources of a worker: settings, the database engine, providers, the dispatcher.

Built once per process, never at import time and never shared across a fork: a Celery
prefork child builds its own at ``worker_process_init`` (``init_process``); the solo and
thread pools, and the embedded runner, build one lazily. A connection pool inherited
through ``fork`` would hand the same socket to two processes.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable

from sqlalchemy import Engine, select

from campaigns.settings import Settings
from campaigns.store.engine import make_engine
from campaigns.store.models import Campaign
from campaigns.store.uow import UnitOfWork
from workers.dispatch import Dispatcher, dispatch_all

if TYPE_CHECKING:
    from campaigns.providers.port import Provider
    from campaigns.services.next import Next

ProviderFactory = Callable[[str, Settings], "Provider"]

log = logging.getLogger(__name__)


class UnknownCampaign(LookupError):
    """A task names a campaign that is not in the database (deleted meanwhile)."""


def _default_provider_factory(name: str, settings: Settings) -> "Provider":
    from campaigns.providers.registry import make_provider

    return make_provider(name, settings)


@dataclass
class WorkerContext:
    """What a task needs: ``uow_factory`` for services, ``provider(name)`` cached per
    process, ``provider_for(campaign_id)``, and ``dispatch(steps)``."""

    settings: Settings
    engine: Engine
    dispatcher: Dispatcher
    provider_factory: ProviderFactory = _default_provider_factory
    owns_engine: bool = True
    # True once the worker shuts down: long tasks hand their work back (workers.shutdown)
    stopping: Callable[[], bool] = lambda: False
    _pacer: object = None
    _providers: dict = field(default_factory=dict)
    _campaign_provider: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def uow_factory(self) -> UnitOfWork:
        return UnitOfWork(self.engine)

    def provider(self, name: str) -> "Provider":
        """The process's provider called ``name`` (built on first use; ValueError when unknown)."""
        with self._lock:
            provider = self._providers.get(name)
            if provider is None:
                from campaigns.telemetry.provider import instrumented

                # every provider call of the process is measured here (campaigns.telemetry)
                provider = self._providers[name] = instrumented(self.provider_factory(name, self.settings), name)
            return provider

    def provider_for(self, campaign_id: int) -> "Provider":
        """The provider a campaign was submitted to; raises UnknownCampaign."""
        name = self._campaign_provider.get(campaign_id)
        if name is None:
            with self.uow_factory() as uow:
                name = uow.session.scalar(select(Campaign.provider).where(Campaign.id == campaign_id))
            if name is None:
                raise UnknownCampaign(f"campaign {campaign_id} does not exist")
            self._campaign_provider[campaign_id] = name  # a campaign never changes provider
        return self.provider(name)

    def pacer(self):
        """The process's campaign pacer for providers sent message by message (SMSC), built
        on first use: Redis when CAMPAIGNS_REDIS_URL (or the broker) is set, memory otherwise."""
        with self._lock:
            if self._pacer is None:
                from campaigns.pacing.pacer import CampaignPacer

                self._pacer = CampaignPacer.from_settings(self.settings)
            return self._pacer

    def warm(self, names: Iterable[str]) -> None:
        """Open one database connection and build the providers called ``names`` that are
        configured, so that this process's first task does not pay for them (importing and
        building an HTTP client took ~250 ms, the connection a few ms: measured in a
        pool child's first add). Never raises: what fails here fails again, and is
        reported, in the first task that needs it."""
        try:
            with self.engine.connect():
                pass
        except Exception as exc:  # noqa: BLE001 - the database may be starting
            log.info("warm-up: no database connection yet (%s)", type(exc).__name__)
        for name in names:
            try:
                self.provider(name)
            except ValueError:  # not configured here (no key, no sandbox URL)
                pass
            except Exception as exc:  # noqa: BLE001
                log.info("warm-up: provider %s not built (%s)", name, type(exc).__name__)

    def dispatch(self, steps: Iterable["Next"]) -> None:
        dispatch_all(self.dispatcher, steps)

    def close(self) -> None:
        """Close the pacer, the providers' HTTP clients and the engine (when it is ours)."""
        with self._lock:
            providers, self._providers = list(self._providers.values()), {}
            pacer, self._pacer = self._pacer, None
        if pacer is not None:
            pacer.close()
        for provider in providers:
            close = getattr(provider, "close", None)
            if callable(close):
                close()
        if self.owns_engine:
            self.engine.dispose()


def build_context(
    settings: Settings,
    dispatcher: Dispatcher,
    *,
    engine: Engine | None = None,
    provider_factory: ProviderFactory | None = None,
    stopping: Callable[[], bool] | None = None,
) -> WorkerContext:
    """A context over ``engine`` (or a new one for ``settings.database_url``, then owned and disposed by ``close``)."""
    return WorkerContext(
        settings=settings,
        engine=engine if engine is not None else make_engine(settings.database_url),
        dispatcher=dispatcher,
        provider_factory=provider_factory or _default_provider_factory,
        owns_engine=engine is None,
        **({"stopping": stopping} if stopping is not None else {}),
    )


# The Celery worker's process-local context. Set by init_process in each prefork child;
# a pool that forks nothing (solo, threads) builds it lazily on the first task.
_process: dict = {}


def init_process(
    settings: Settings, dispatcher_factory: Callable[[], Dispatcher], stopping: Callable[[], bool] | None = None
) -> WorkerContext:
    """Build this process's context (replacing one inherited through fork, whose engine
    is abandoned without closing the parent's connections)."""
    with _process_lock:
        inherited = _process.get("context")
        if inherited is not None and _process.get("pid") != os.getpid():
            inherited.engine.dispose(close=False)
        context = build_context(settings, dispatcher_factory(), stopping=stopping)
        _process.update(context=context, pid=os.getpid())
        return context


def current(
    settings: Settings, dispatcher_factory: Callable[[], Dispatcher], stopping: Callable[[], bool] | None = None
) -> WorkerContext:
    """This process's context, built on first use."""
    context = _process.get("context")
    if context is not None and _process.get("pid") == os.getpid():
        return context
    return init_process(settings, dispatcher_factory, stopping)


def close_process() -> None:
    """Close this process's context, if it built one."""
    with _process_lock:
        context = _process.pop("context", None)
        pid = _process.pop("pid", None)
    if context is not None and pid == os.getpid():
        context.close()


_process_lock = threading.Lock()
