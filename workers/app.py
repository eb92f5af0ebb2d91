"""The Celery application, built on demand from the one Settings object.

``make_celery(settings)`` is called by ``campaigns worker`` and ``campaigns beat`` (and
``campaigns submit`` to enqueue); nothing here runs at import time. Messages carry ids
only, as JSON; a task is acknowledged after it ran and requeued when its worker process
dies; each process reserves one message at a time; the visibility timeout outlasts the
longest countdown the runtime schedules (workers/constants.py).
"""

from __future__ import annotations

import gc

from celery import Celery, signals
from kombu import Queue

from campaigns.providers.registry import known_providers
from campaigns.settings import Settings
from campaigns import log_redaction
from workers import context
from workers.constants import (
    QUEUE_TICK,
    QUEUE_WORK,
    TASK_TICK,
    VISIBILITY_TIMEOUT,
)
from workers.dispatch import CeleryDispatcher
from workers.shutdown import ShutdownFlag
from workers.submit_task import register_submit_task
from workers.tasks import register_tasks


class BrokerNotConfigured(ValueError):
    """make_celery was called without CAMPAIGNS_BROKER_URL."""


def celery_config(settings: Settings) -> dict:
    """The Celery configuration for ``settings`` (a plain dict, so it can be inspected)."""
    tick_every = max(settings.poll_seconds, 0.1)
    return {
        "broker_url": settings.broker_url,
        "broker_transport_options": {
            "visibility_timeout": VISIBILITY_TIMEOUT,
            # A Redis restart must not hang a worker on a dead socket.
            "socket_timeout": 30,
            "socket_connect_timeout": 5,
            "retry_on_timeout": True,
            "health_check_interval": 10,
        },
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,  # keep reconnecting while Redis restarts
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "task_ignore_result": True,
        "result_backend": None,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": QUEUE_WORK,
        "task_queues": (Queue(QUEUE_WORK), Queue(QUEUE_TICK)),
        "task_routes": {TASK_TICK: {"queue": QUEUE_TICK}},
        "task_create_missing_queues": False,
        "worker_send_task_events": False,
        "worker_enable_remote_control": False,
        "enable_utc": True,
        "timezone": "UTC",
        # The schedule is one fixed entry; nothing to persist between beat runs (no shelve file).
        "beat_scheduler": "celery.beat:Scheduler",
        "beat_schedule": {
            "tick": {
                "task": TASK_TICK,
                "schedule": tick_every,
                # A tick queued while no worker ran is worthless once the next one exists.
                "options": {"queue": QUEUE_TICK, "expires": max(tick_every * 2, 1.0)},
            }
        },
        "beat_max_loop_interval": max(min(tick_every, 5.0), 0.1),
    }


def make_celery(settings: Settings) -> Celery:
    """The Celery app for ``settings``, with the pipeline's tasks registered and the
    per-process context built at ``worker_process_init``.

    Raises BrokerNotConfigured when ``settings.broker_url`` is not set.
    """
    if not settings.broker_url:
        raise BrokerNotConfigured("CAMPAIGNS_BROKER_URL is not set: the embedded mode runs without workers")
    app = Celery("campaigns", set_as_current=False)
    app.conf.update(celery_config(settings))

    def dispatcher() -> CeleryDispatcher:
        return CeleryDispatcher(app)

    # Made before the pool forks (make_celery runs in the worker's main process), so every
    # child sees the main process set it when a warm shutdown begins.
    shutting_down = ShutdownFlag()
    register_tasks(app, lambda: context.current(settings, dispatcher, shutting_down.is_set))
    register_submit_task(app, lambda: context.current(settings, dispatcher, shutting_down.is_set))

    # Each prefork child builds its own engine and providers; the parent never builds any,
    # so nothing holding a socket is shared across the fork. The child builds them before
    # its first task, which then starts at once (a cold child took 200-320 ms to claim its
    # first chunk, on the critical path of a campaign handed over to it), and freezes what
    # it holds then (modules, the engine, the clients) out of the garbage collector: a full
    # collection scanned them every few seconds, 70-115 ms each time, in the add loop.
    def init_child(**_):
        context.init_process(settings, dispatcher, shutting_down.is_set).warm(known_providers())
        gc.freeze()

    def stop_soon(**_):
        shutting_down.set()

    def close_child(**_):
        context.close_process()

    def redact_logs(logger=None, **_):
        log_redaction.install_on_handlers(logger)
        log_redaction.install_on_handlers()

    def serve_metrics(**_):
        # the main process only (worker_init): Prometheus scrapes one port per worker
        if settings.worker_metrics_port:
            from campaigns.telemetry.exporter import start_worker_exporter

            start_worker_exporter(settings.worker_metrics_port)

    signals.worker_init.connect(serve_metrics, weak=False)
    signals.worker_process_init.connect(init_child, weak=False)
    signals.worker_shutting_down.connect(stop_soon, weak=False)
    signals.worker_process_shutdown.connect(close_child, weak=False)
    signals.after_setup_logger.connect(redact_logs, weak=False)
    signals.after_setup_task_logger.connect(redact_logs, weak=False)
    signals.worker_shutdown.connect(close_child, weak=False)  # solo and thread pools
    return app
