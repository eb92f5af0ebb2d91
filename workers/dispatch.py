"""Turning the services' ``Next`` steps into scheduled work.

A service returns what should happen next (``Next(action, campaign_id, countdown)``);
a dispatcher schedules it: Celery's ``apply_async`` in the distributed mode, the embedded
runner's timer heap in the embedded one. Lost or duplicated steps are harmless (every
service claims its work with a compare-and-set and the scanner re-issues lost ones), so
a dispatcher that cannot reach the broker logs and carries on.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Iterable, Protocol

from workers.constants import MAX_COUNTDOWN, QUEUE_WORK, QUEUES, TASK_FOR_ACTION

if TYPE_CHECKING:
    from celery import Celery

    from campaigns.services.next import Next

log = logging.getLogger(__name__)


class Dispatcher(Protocol):
    def schedule(self, next: "Next") -> None:
        """Arrange for ``next`` to run after its countdown."""


def capped(countdown: float) -> float:
    """The countdown actually scheduled: never negative, never beyond MAX_COUNTDOWN."""
    return min(max(float(countdown or 0.0), 0.0), MAX_COUNTDOWN)


def dispatch_all(dispatcher: Dispatcher, steps: Iterable["Next"]) -> None:
    """Schedule every step; a step that cannot be scheduled is logged and left to the scanner."""
    for step in steps:
        try:
            dispatcher.schedule(step)
        except Exception as exc:  # broker down: the scanner re-issues the step later
            log.warning(
                "could not schedule %s for campaign %s (%s: %s); the scanner will re-issue it",
                step.action, step.campaign_id, type(exc).__name__, exc,
            )


class CeleryDispatcher:
    """Sends each step as a Celery task carrying only the campaign id."""

    def __init__(self, app: "Celery"):
        self.app = app

    def schedule(self, next: "Next") -> None:
        """Send the task for ``next.action``; raises ValueError for an unknown action and
        kombu's errors when the broker cannot be reached."""
        try:
            name = TASK_FOR_ACTION[next.action]
        except KeyError:
            raise ValueError(f"unknown pipeline action {next.action!r}") from None
        countdown = capped(next.countdown)
        self.app.send_task(
            name,
            args=[next.campaign_id],
            countdown=countdown or None,
            queue=QUEUE_WORK,
            retry=True,
            retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1.0},
        )

    def waiting(self) -> bool:
        """True when a task waits in a queue for a worker (one broker round trip a queue).
        Raises kombu's errors when the broker cannot be reached."""
        with self.app.pool.acquire(block=True) as conn:
            channel = conn.default_channel
            # not passive: a queue nobody consumed yet is empty, not an error (a no-op on Redis)
            return any(channel.queue_declare(queue=q).message_count for q in QUEUES)
