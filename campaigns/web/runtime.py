"""What the HTTP service runs on, made once in the app's lifespan: the database engine,
the dispatcher that takes a campaign's next steps, and the spool folder for uploads.

With a broker (CAMPAIGNS_BROKER_URL) the dispatcher sends Celery tasks and the workers
and beat do the work. Without one (the embedded default) an EmbeddedRunner serves in a
background thread of this process: it runs the steps handed to it and the periodic work
of beat (follow, stall scan), so a campaign submitted over HTTP reaches ``done`` with
nothing else started.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from sqlalchemy import Engine, text

from campaigns.settings import Settings
from campaigns.store.uow import ReadUnitOfWork, UnitOfWork

if TYPE_CHECKING:
    from campaigns.providers.port import Provider

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    spool: Path
    dispatcher: object
    _close: list[Callable[[], None]] = field(default_factory=list)
    _celery: object = None
    _sessions: object = None
    _loop_engine: Engine | None = None

    def uow_factory(self) -> UnitOfWork:
        # One sessionmaker for the process: building one a request took 7% of a GET's CPU.
        if self._sessions is None:
            from campaigns.store.engine import session_factory

            self._sessions = session_factory(self.engine)
        return UnitOfWork(self.engine, self._sessions)

    def loop_uow_factory(self) -> ReadUnitOfWork:
        """A read-only unit of work for the event loop's own thread: short indexed reads
        (the token, a campaign's status) run there without a hop to the thread pool, which
        cost more than the reads (a GET went from ~300 to ~850 a second on SQLite). It has
        its own engine with one connection, so it never waits for a connection held by a
        thread; it cannot write (a write may wait for SQLite's lock) and must not run a
        long query."""
        if self._loop_engine is None:
            from campaigns.store.engine import make_engine

            self._loop_engine = make_engine(self.settings.database_url, pool_size=1, max_overflow=0)
            self._close.append(self._loop_engine.dispose)
        return ReadUnitOfWork(self._loop_engine)

    def dispatch(self, steps: Iterable) -> None:
        """Schedule a campaign's next steps; a broker that refuses them is logged and the
        beat's scanner starts the campaign later (the database holds it as queued)."""
        from workers.dispatch import dispatch_all

        dispatch_all(self.dispatcher, steps)

    @contextmanager
    def provider(self, name: str) -> Iterator["Provider"]:
        """The provider called ``name``: the embedded runner's own (the in-process sandbox
        included), else one made for the call and closed after it. Raises ValueError for a
        provider that is unknown or not configured."""
        context = getattr(self.dispatcher, "context", None)
        if context is not None:
            yield context.provider(name)
            return
        from campaigns.providers.registry import make_provider
        from campaigns.telemetry.provider import instrumented

        provider = make_provider(name, self.settings)
        try:
            yield instrumented(provider, name)
        finally:
            provider.close()

    def health(self) -> dict[str, str]:
        """``{"database": "ok"|reason, "broker": …}`` (the broker only when configured)."""
        checks = {"database": _check(lambda: self._ping_database())}
        if self._celery is not None:
            checks["broker"] = _check(self._ping_broker)
        return checks

    def _ping_database(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def _ping_broker(self) -> None:
        with self._celery.connection_for_write() as conn:  # type: ignore[attr-defined]
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=2)

    def close(self) -> None:
        for close in reversed(self._close):
            try:
                close()
            except Exception as exc:  # noqa: BLE001 - closing must go on
                log.warning("closing: %s: %s", type(exc).__name__, exc)
        self._close.clear()


def _check(call: Callable[[], None]) -> str:
    try:
        call()
        return "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        from campaigns.redact import redact

        return redact(f"unreachable ({type(exc).__name__})")


def open_runtime(settings: Settings, *, run_embedded: bool = True) -> Runtime:
    """Build the runtime for ``settings``: engine (the SQLite default migrated on the spot),
    spool folder, and the dispatcher; in the embedded mode also start the background
    runner unless ``run_embedded`` is False."""
    from campaigns.store.engine import open_database

    engine = open_database(settings.database_url)
    spool = Path(settings.data_dir) / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    if settings.embedded:
        runtime = _embedded(settings, engine, spool, run_embedded)
    else:
        from workers.app import make_celery
        from workers.dispatch import CeleryDispatcher

        app = make_celery(settings)
        runtime = Runtime(settings, engine, spool, CeleryDispatcher(app), _celery=app)
        runtime._close.append(app.close)
    runtime._close.insert(0, engine.dispose)
    return runtime


def _embedded(settings: Settings, engine: Engine, spool: Path, run: bool) -> Runtime:
    from workers.embedded import EmbeddedRunner

    if settings.sandbox_url is None:
        # the in-process simulator runs on a fast clock: follow it at least once a second
        settings = settings.with_(poll_seconds=min(settings.poll_seconds, 1.0))
    runner = EmbeddedRunner(settings, engine)
    runtime = Runtime(settings, engine, spool, runner)
    if run:
        thread = threading.Thread(target=runner.serve, name="campaigns-embedded", daemon=True)
        thread.start()

        def stop() -> None:
            runner.stop_serving()
            thread.join(timeout=30)
            runner.close()

        runtime._close.append(stop)
    else:
        runtime._close.append(runner.close)
    return runtime
