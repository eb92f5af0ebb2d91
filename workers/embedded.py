"""The embedded default: the pipeline's tasks run inside the calling process.

With no CAMPAIGNS_BROKER_URL, ``campaigns submit`` runs the very step functions the Celery
workers run (workers/tasks.py) on a timer heap that honours every countdown and retry, a
small thread pool, and the periodic tick (scanner + poller), until the campaigns it waits
for end. The database stays the source of truth, so a campaign interrupted here (Ctrl-C)
is picked up again by the scanner of the next run or by a Celery worker.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable

from sqlalchemy import Engine

from campaigns.settings import Settings
from workers.constants import DB_MAX_RETRIES
from workers.context import ProviderFactory, WorkerContext, build_context
from workers.dispatch import capped
from workers.tasks import RetryLater, run_step, run_tick

if TYPE_CHECKING:
    from campaigns.providers.port import Provider
    from campaigns.services.next import Next

log = logging.getLogger(__name__)

# Local states in which a campaign needs nothing more from this process.
SETTLED_STATES = frozenset({"done", "failed", "cancelled", "paused"})
TICK = "tick"


@dataclass(order=True)
class _Timer:
    due: float
    seq: int
    action: str = field(compare=False)
    campaign_id: int | None = field(compare=False, default=None)
    retries: int = field(compare=False, default=0)


class SandboxProviders:
    """A provider factory that starts the Mobizon simulator in-process the first time the
    ``sandbox`` provider is asked for while CAMPAIGNS_SANDBOX_URL is unset.

    Given the ``engine``, the simulator keeps its state beside the database
    (workers.sandbox_state): ids unique for the life of the database, and the campaigns
    the database still needs saved on ``close`` for the next process to go on with."""

    def __init__(self, settings: Settings, make: ProviderFactory | None = None, *,
                 simulator_options: dict | None = None, engine: Engine | None = None):
        """``simulator_options`` change the sandbox defaults (``SimConfig.sandbox``)."""
        self.settings = settings
        self._engine = engine
        self._make = make
        self._simulator = None
        self._simulator_options = simulator_options or {}
        self._lock = threading.Lock()

    @property
    def simulator(self):
        """The in-process simulator, once started (None before)."""
        return self._simulator

    def ensure_sandbox(self) -> Settings:
        """Settings whose ``sandbox_url`` points at a running simulator (starting one if needed)."""
        with self._lock:
            if self.settings.sandbox_url is None:
                from campaigns.simulator import SimConfig, SimulatorServer

                self._simulator = SimulatorServer(SimConfig.sandbox(**self._simulator_options))
                self._attach_state(self._simulator.simulator.account)
                url = self._simulator.start()
                self.settings = self.settings.with_(sandbox_url=url)
            return self.settings

    def _attach_state(self, account) -> None:
        from campaigns.simulator.statefile import StateFile
        from workers.sandbox_state import highest_id, state_folder

        folder = state_folder(self.settings.database_url) if self._engine is not None else None
        if folder is not None:
            account.attach(StateFile(folder, floor=highest_id(self._engine)))

    def _save_state(self, simulator) -> None:
        from workers.sandbox_state import live_ids

        account = simulator.simulator.account
        if account.state_file is None or self._engine is None:
            return
        try:
            account.save(keep=live_ids(self._engine))
        except Exception as exc:  # the campaigns are then unknown to the next process: it fails them
            log.error("the sandbox could not save its campaigns: %s: %s", type(exc).__name__, exc)

    def __call__(self, name: str, settings: Settings) -> "Provider":
        if name == "sandbox":
            settings = self.ensure_sandbox()
        else:
            settings = self.settings
        if self._make is not None:
            return self._make(name, settings)
        from campaigns.providers.registry import make_provider

        return make_provider(name, settings)

    def close(self) -> None:
        with self._lock:
            simulator, self._simulator = self._simulator, None
        if simulator is not None:
            try:
                self._save_state(simulator)
            finally:
                simulator.stop()


class EmbeddedRunner:
    """Runs pipeline steps in this process; use as a context manager.

    ``schedule(next)`` makes it a Dispatcher; ``run(campaign_ids)`` drives the timer heap
    until every given campaign is settled (done, failed, cancelled or paused).
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        threads: int = 4,
        provider_factory: ProviderFactory | None = None,
        simulator_options: dict | None = None,
        status_of: Callable[[int], dict] | None = None,
    ):
        self.settings = settings
        self.providers = SandboxProviders(settings, provider_factory, simulator_options=simulator_options,
                                          engine=engine)
        # Set by close(): a step going on with a campaign's chunks hands it back after the
        # chunk in flight, so closing waits for one chunk, not a whole add budget.
        self._closing = threading.Event()
        self._stop_serving = threading.Event()
        self.context: WorkerContext = build_context(
            settings, self, engine=engine, provider_factory=self.providers, stopping=self._closing.is_set
        )
        self._status_of = status_of
        self._heap: list[_Timer] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._pool = ThreadPoolExecutor(max_workers=max(threads, 1), thread_name_prefix="campaigns-step")
        self._tick_running = threading.Event()
        self._queued = 0  # steps handed to the pool that no thread has started yet
        self._holder = f"embedded-{os.getpid()}-{id(self)}"

    # -- Dispatcher ---------------------------------------------------------------
    def schedule(self, next: "Next") -> None:
        """Queue ``next`` to run after its (capped) countdown."""
        self._push(next.action, next.campaign_id, capped(next.countdown), 0)

    def schedule_all(self, steps: Iterable["Next"]) -> None:
        for step in steps:
            self.schedule(step)

    def _push(self, action: str, campaign_id: int | None, countdown: float, retries: int) -> None:
        with self._cond:
            heapq.heappush(self._heap, _Timer(time.monotonic() + countdown, next(self._seq), action, campaign_id, retries))
            self._cond.notify()

    def waiting(self) -> bool:
        """True when a due step waits for a free thread (campaigns then take turns, as
        with CeleryDispatcher.waiting)."""
        with self._cond:
            return self._queued > 0

    def _submit(self, timer: _Timer) -> None:
        with self._cond:
            self._queued += 1
        self._pool.submit(self._execute, timer)

    def pending(self) -> int:
        """Steps waiting in the timer heap (ticks included)."""
        with self._cond:
            return len(self._heap)

    # -- running ------------------------------------------------------------------
    def _execute(self, timer: _Timer) -> None:
        with self._cond:
            self._queued -= 1
        try:
            if timer.action == TICK:
                try:
                    run_tick(self.context, self._holder)
                finally:
                    self._tick_running.clear()
                return
            run_step(self.context, timer.action, timer.campaign_id, retries=timer.retries)
        except RetryLater as exc:
            if timer.action == TICK:  # the next period's tick comes anyway
                log.warning("%s", exc)
            elif timer.retries >= DB_MAX_RETRIES:
                log.warning("%s; giving up, the scanner will re-issue it", exc)
            else:
                self._push(timer.action, timer.campaign_id, exc.countdown, timer.retries + 1)
        except Exception as exc:  # never lose the loop to one step
            log.error("%s failed: %s: %s", timer.action, type(exc).__name__, exc)
        finally:
            with self._cond:
                self._cond.notify()

    def _due(self, now: float) -> list[_Timer]:
        due = []
        with self._cond:
            while self._heap and self._heap[0].due <= now:
                due.append(heapq.heappop(self._heap))
        return due

    def _status(self, campaign_id: int) -> dict:
        if self._status_of is not None:
            return self._status_of(campaign_id)
        from campaigns.services.status import campaign_status

        return campaign_status(campaign_id, self.context.uow_factory)

    def run(
        self,
        campaign_ids: Iterable[int],
        *,
        on_progress: Callable[[dict[int, dict]], None] | None = None,
        progress_every: float = 0.25,
        timeout: float | None = None,
        until: frozenset[str] | Callable[[dict], bool] = SETTLED_STATES,
    ) -> dict[int, dict]:
        """Run steps until every campaign in ``campaign_ids`` is in a state of ``until``
        (default: settled), or ``until(status)`` is true; returns their status objects. Raises TimeoutError after
        ``timeout`` seconds (the campaigns stay where they are: the database remembers)."""
        ids = list(campaign_ids)
        reached = until if callable(until) else (lambda status: status["state"] in until)
        started = time.monotonic()
        poll_every = max(self.settings.poll_seconds, 0.05)
        next_tick = started
        next_look = started
        statuses: dict[int, dict] = {}
        while True:
            now = time.monotonic()
            next_tick = self._start_due(now, next_tick, poll_every)
            if now >= next_look:
                next_look = now + progress_every
                statuses = {cid: self._status(cid) for cid in ids}
                if on_progress is not None:
                    on_progress(statuses)
                if all(reached(s) for s in statuses.values()):
                    return statuses
                if timeout is not None and now - started > timeout:
                    raise TimeoutError(f"campaigns {ids} did not settle within {timeout:.0f} s")
            with self._cond:
                wake = min(next_tick, next_look, self._heap[0].due if self._heap else next_look)
                delay = wake - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)

    def _start_due(self, now: float, next_tick: float, poll_every: float) -> float:
        """Hand the due steps (and the tick, when its time has come and none runs) to the
        pool; returns when the next tick is due."""
        if now >= next_tick:
            next_tick = now + poll_every
            if not self._tick_running.is_set():  # one tick at a time
                self._tick_running.set()
                self._submit(_Timer(now, next(self._seq), TICK))
        for timer in self._due(now):
            self._submit(timer)
        return next_tick

    def serve(self) -> None:
        """Run steps and the periodic tick (follow, stall scan) until ``stop_serving`` is
        called: the embedded runtime of ``campaigns serve``. Campaigns handed over with
        ``schedule`` and those the scanner finds are all run here."""
        poll_every = max(self.settings.poll_seconds, 0.05)
        next_tick = time.monotonic()
        while not self._stop_serving.is_set():
            next_tick = self._start_due(time.monotonic(), next_tick, poll_every)
            with self._cond:
                wake = min(next_tick, self._heap[0].due if self._heap else next_tick)
                delay = wake - time.monotonic()
                if delay > 0 and not self._stop_serving.is_set():
                    self._cond.wait(delay)

    def stop_serving(self) -> None:
        """Make ``serve`` return (steps in flight go on until ``close``)."""
        self._stop_serving.set()
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        """Wait for the steps in flight, drop the rest (the scanner re-issues them later),
        close the providers and stop the in-process simulator."""
        self._closing.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._cond:
            self._heap.clear()
        try:
            self.context.close()
        finally:
            self.providers.close()

    def __enter__(self) -> "EmbeddedRunner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
