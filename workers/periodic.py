"""Periodic work beside the scanner and the poller: each feature's job (the watched
bucket's scan, the schedules' fires…) run by the tick, so beat, the embedded runner of
``campaigns serve`` and any command driving an EmbeddedRunner all run it.

Each job runs under its own lease (``name``) for ``every(settings)`` seconds, so however
many beats send ticks, a job runs once an interval, at the first tick after the interval
has passed. A job returns the ``Next`` steps to dispatch (or None); heavy work belongs in
those steps, not in the job, so the tick stays short.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable

if TYPE_CHECKING:
    from campaigns.services.next import Next
    from campaigns.settings import Settings
    from workers.context import WorkerContext


@dataclass(frozen=True)
class PeriodicJob:
    name: str  # the lease's name: unique per job
    every: Callable[["Settings"], float]  # seconds between two runs
    run: Callable[["WorkerContext"], "Iterable[Next] | None"]


def periodic_jobs(settings: "Settings") -> list[PeriodicJob]:
    """The jobs that apply with ``settings`` (a feature that is not configured adds none).
    Each feature adds its job here, importing it lazily."""
    jobs: list[PeriodicJob] = []
    jobs.append(PeriodicJob("campaigns.schedules", lambda s: max(min(s.poll_seconds, 10.0), 0.05), _fire_schedules))
    if settings.watch:
        jobs.append(PeriodicJob("campaigns.watch", lambda s: max(s.watch_seconds, 0.05), _scan_watched))
    # pushed events the receivers stored and no applier got to (issue 11)
    jobs.append(PeriodicJob("campaigns.callbacks", lambda s: max(min(s.poll_seconds, 5.0), 0.05), _apply_callbacks))
    return jobs


def _apply_callbacks(ctx: "WorkerContext"):
    """Apply the stored callback events still waiting (at most a few batches a tick)."""
    from campaigns.services.callbacks import apply_all

    apply_all(ctx.uow_factory, ctx.settings, most=5000)
    return None


def _scan_watched(ctx: "WorkerContext"):
    """The watched bucket (issue 12): claim the drops that are ready; their steps do the rest."""
    from campaigns.intake.scan import scan_steps

    return scan_steps(ctx.settings, ctx.uow_factory)


def _fire_schedules(ctx: "WorkerContext"):
    """Recurring campaigns (issue 13): record due fires, time out approvals."""
    from campaigns.schedules.clock import schedule_clock
    from campaigns.schedules.fire import fire_due_schedules

    return fire_due_schedules(ctx.uow_factory, ctx.settings, clock=schedule_clock(ctx.settings))
