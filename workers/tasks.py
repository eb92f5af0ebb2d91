"""The pipeline's tasks, shared by the Celery worker and the embedded runner.

Each step calls one service with the process's resources and dispatches the ``Next``
steps it returns. The services own every provider failure (they return a step with a
countdown, or move the campaign to paused/failed with a reason); what is left here is a
database that is briefly unreachable or locked (retry the task) and anything unexpected
(log one redacted line; the scanner re-issues the work after CAMPAIGNS_STALL_SECONDS).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

from sqlalchemy.exc import InterfaceError, OperationalError

from campaigns.services.chunks import add_chunks
from campaigns.services.create import create_at_provider
from campaigns.services.follow import fetch_final_statuses, poll_campaigns
from campaigns.services.launch import launch_campaign
from campaigns.services.leases import acquire_lease
from campaigns.services.recover import scan_stalled
from workers.constants import (
    DB_MAX_RETRIES,
    DB_RETRY_COUNTDOWN,
    TASK_FOR_ACTION,
    TASK_TICK,
    TICK_LEASE,
)
from workers.context import UnknownCampaign, WorkerContext

if TYPE_CHECKING:
    from celery import Celery

log = logging.getLogger(__name__)

# An add task goes on with its campaign's next chunks in the same task (no hop through
# the broker; chunk_pipeline sends each as soon as the previous one's answer is in) for
# at most CONTINUE_SECONDS, then hands the campaign back to the queue. After TURN_SECONDS
# it hands the campaign back as soon as a task waits in a queue (another campaign's add,
# or the tick when every worker is busy), so that campaigns take turns (ten campaigns on
# four workers then all finish near the end, instead of the last two running alone),
# while a campaign alone keeps its worker: a hand-over cost ~40 ms of a campaign's time
# (recording the last chunk, the broker hop, the new task's claim; measured in
# bench/dispatch.py's workers), every 10 s before. A warm shutdown makes the task hand
# its campaign back after the chunk in flight (WorkerContext.stopping), so the longer
# bound does not make a shutdown wait; it stays far under the broker's visibility
# timeout (workers.constants.VISIBILITY_TIMEOUT, 3600 s).
CONTINUE_SECONDS = 60.0
TURN_SECONDS = 2.0

# A database that is down, restarting or (SQLite) locked: the same call will work later.
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError)


class RetryLater(Exception):
    """The step hit a transient database failure; run it again after ``countdown`` seconds."""

    def __init__(self, message: str, countdown: float):
        super().__init__(message)
        self.countdown = countdown


def _create(ctx: WorkerContext, campaign_id: int):
    return create_at_provider(campaign_id, ctx.uow_factory, ctx.provider_for(campaign_id), ctx.settings)


def _add(ctx: WorkerContext, campaign_id: int):
    provider = ctx.provider_for(campaign_id)
    # Server-side campaigns (Mobizon) are paced by the provider; the others by our pacer.
    pacer = None if provider.server_side_campaigns else ctx.pacer()
    return add_chunks(
        campaign_id, ctx.uow_factory, provider, ctx.settings, pacer=pacer, budget=CONTINUE_SECONDS,
        turn=TURN_SECONDS, others_waiting=_others_waiting(ctx), stopping=ctx.stopping,
    )


def _others_waiting(ctx: WorkerContext) -> Callable[[], bool] | None:
    """Whether a task waits for a worker, when the dispatcher can tell (Celery's); an
    unreachable broker counts as nobody waiting (the budget still ends the task)."""
    waiting = getattr(ctx.dispatcher, "waiting", None)
    if waiting is None:
        return None

    def others_waiting() -> bool:
        try:
            return waiting()
        except Exception:  # noqa: BLE001 - politeness must not stop the work
            return False

    return others_waiting


def _launch(ctx: WorkerContext, campaign_id: int):
    return launch_campaign(campaign_id, ctx.uow_factory, ctx.provider_for(campaign_id), ctx.settings)


def _final_statuses(ctx: WorkerContext, campaign_id: int):
    return fetch_final_statuses(campaign_id, ctx.uow_factory, ctx.provider_for(campaign_id), ctx.settings)


def _fire(ctx: WorkerContext, campaign_id: int):
    from pathlib import Path

    from campaigns.schedules.fire import run_fire

    return run_fire(campaign_id, ctx.engine, ctx.settings, workdir=Path(ctx.settings.data_dir) / "spool")


def _drop(ctx: WorkerContext, drop_id: int):
    from campaigns.intake.take import advance_drop

    return advance_drop(drop_id, ctx.settings, ctx.engine, ctx.dispatch)


STEPS: dict[str, Callable] = {
    "fire": _fire,
    "drop": _drop,
    "create": _create,
    "add": _add,
    "launch": _launch,
    "final_statuses": _final_statuses,
}


def _guarded(what: str, call: Callable, retries: int):
    """``call()``, with a transient database failure raised as RetryLater and anything else
    logged in one redacted line (returns None then)."""
    try:
        return call()
    except TRANSIENT_DB_ERRORS as exc:
        raise RetryLater(f"{what}: database unavailable ({type(exc).__name__})", DB_RETRY_COUNTDOWN * 2**retries) from None
    except UnknownCampaign as exc:
        log.info("%s: %s; nothing to do", what, exc)
    except Exception as exc:  # a bug or an unmapped failure: the scanner re-issues the work later
        log.error("%s failed: %s: %s", what, type(exc).__name__, exc)
    return None


def run_step(ctx: WorkerContext, action: str, campaign_id: int, *, retries: int = 0) -> None:
    """Run the service behind ``action`` for one campaign and dispatch the steps it returns.

    Raises RetryLater on a transient database failure; logs and swallows anything else.
    """
    step = STEPS[action]
    steps = _guarded(f"{action} campaign {campaign_id}", lambda: step(ctx, campaign_id), retries)
    if steps:
        ctx.dispatch(steps)


def run_tick(ctx: WorkerContext, holder: str, *, retries: int = 0) -> bool:
    """The periodic tick: under the tick lease, re-issue stalled work and poll running
    campaigns. Returns False when another holder has the lease for this period.

    Raises RetryLater on a transient database failure while taking the lease.
    """
    # The lease lasts a little less than one period, so each period runs one tick however
    # many beat processes send one.
    ttl = max(ctx.settings.poll_seconds * 0.9, 0.05)
    taken = _guarded("tick lease", lambda: acquire_lease(TICK_LEASE, holder, ttl, ctx.uow_factory), retries)
    if not taken:
        return False
    for what, call in (
        ("scan for stalled work", lambda: scan_stalled(ctx.uow_factory, ctx.settings)),
        ("poll campaigns", lambda: poll_campaigns(ctx.uow_factory, ctx.provider, ctx.settings)),
    ):
        try:
            steps = _guarded(what, call, retries)
        except RetryLater as exc:  # the next tick tries again
            log.warning("%s", exc)
            continue
        if steps:
            ctx.dispatch(steps)
    _run_periodic_jobs(ctx, holder, retries)
    return True


def _run_periodic_jobs(ctx: WorkerContext, holder: str, retries: int) -> None:
    """Each feature's periodic job (workers.periodic) whose interval has passed, under its
    own lease; one job's failure is logged and does not stop the others."""
    from workers.periodic import periodic_jobs

    for job in periodic_jobs(ctx.settings):
        ttl = max(job.every(ctx.settings) * 0.9, 0.05)
        try:
            taken = _guarded(f"{job.name} lease", lambda: acquire_lease(job.name, holder, ttl, ctx.uow_factory),
                             retries)
            steps = _guarded(job.name, lambda: job.run(ctx), retries) if taken else None
        except RetryLater as exc:  # the next tick tries again
            log.warning("%s", exc)
            continue
        if steps:
            ctx.dispatch(steps)


def register_tasks(app: "Celery", get_context: Callable[[], WorkerContext]) -> None:
    """Register the pipeline's tasks on ``app``; ``get_context`` returns the process's resources."""

    def _retry_or_give_up(task, exc: RetryLater):
        if task.request.retries >= DB_MAX_RETRIES:
            log.warning("%s; giving up after %d retries, the scanner will re-issue it", exc, task.request.retries)
            return None
        raise task.retry(countdown=exc.countdown, max_retries=DB_MAX_RETRIES)

    def make_step_task(action: str, name: str) -> None:
        @app.task(name=name, bind=True, ignore_result=True, shared=False)
        def step_task(self, campaign_id: int) -> None:
            try:
                run_step(get_context(), action, int(campaign_id), retries=self.request.retries)
            except RetryLater as exc:
                return _retry_or_give_up(self, exc)

    for action, name in TASK_FOR_ACTION.items():
        make_step_task(action, name)

    @app.task(name=TASK_TICK, bind=True, ignore_result=True, shared=False)
    def tick(self) -> None:
        try:
            # Each tick message holds the lease under its own id: the first tick of a period wins.
            run_tick(get_context(), holder=str(self.request.id or "tick"), retries=self.request.retries)
        except RetryLater as exc:  # the next period's tick runs anyway
            log.warning("%s", exc)
