"""Firing schedules exactly once (issue 13, "Exactly once").

The periodic job (``fire_due_schedules``, run by the tick of beat or of the embedded
runner) looks at each active schedule. Its next fire time is computed from the schedule
and its last recorded fire (never from when the job happens to wake), and recorded in one
transaction that (1) moves the schedule's ``last_fire_at`` by compare-and-set from the
value read, (2) inserts the fire row, unique by (schedule, fire time), and (3) inserts
the run's campaign as a draft, or the record of a skipped run. Any number of beats, one
restarted mid-fire, or clocks a few seconds apart therefore never make two campaigns for
one fire time: the loser's compare-and-set or insert fails and it reads again.

The heavy part, reading the source into the campaign, is the ``fire`` step
(``run_fire``), claimed by compare-and-set on the fire row; a step lost with its process
is dispatched again by the job. A source that cannot be read or a file that is refused
fails that run's campaign with the reason; the schedule goes on.

Misfires: a fire time later than ``grace`` seconds (beat was not running) is, with
``skip``, recorded as a skipped run (one record for a stretch of missed times), and with
``once``, fired once for all the times missed.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from sqlalchemy import Engine, and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from campaigns.domain import CampaignState
from campaigns.schedules import cron
from campaigns.schedules.clock import Clock
from campaigns.schedules.cron import ScheduleInputError, zone
from campaigns.schedules.manage import cursor_of
from campaigns.services.moves import as_utc, move_campaign, utcnow
from campaigns.services.next import Next
from campaigns.store.models import Campaign
from campaigns.store.schedules import Schedule, ScheduleFire
from campaigns.store.uow import UnitOfWork

log = logging.getLogger(__name__)
S = CampaignState
FIRED, SKIPPED = "fired", "skipped"
MAX_FIRES_PER_TICK = 20  # per schedule; the rest on the next tick
MAX_COUNTED = 10_000  # missed fire times counted one by one, at most
RESEND_AFTER = timedelta(seconds=60)  # a fire step not started by then is dispatched again
schedules_t, fires_t = Schedule.__table__, ScheduleFire.__table__


@dataclass(frozen=True)
class Plan:
    """What to record for a schedule now: a run (``fired``) or a skipped stretch."""

    outcome: str
    fire_time: datetime  # the fire row's key
    cursor: datetime  # the schedule's new last_fire_at
    covers: int = 1
    reason: str | None = None


def plan_fire(row: Schedule, now: datetime) -> Plan | None:
    """The record due for ``row`` at ``now`` (None: nothing is due). Pure: reads the row only."""
    tz = zone(row.tz)
    end = as_utc(row.end_at)
    due = cron.next_fire(row.cron, tz, cursor_of(row, now), end=end)
    if due is None or due > now:
        return None
    grace = timedelta(seconds=row.grace_seconds)
    if now - due <= grace:
        return Plan(FIRED, due, due)
    horizon = min(now, end) if end is not None else now
    last = cron.last_fire_at_or_before(row.cron, tz, horizon)
    count = _count(row.cron, tz, due, last)
    span = f"{_shown(count)} fire time{'s' if count != 1 else ''} from {_local(due, tz)} to {_local(last, tz)}"
    if row.misfire == "once":
        return Plan(FIRED, last, last, count, f"one run for {span} missed while no beat was running (--misfire once)")
    if now - last <= grace:  # the latest is still on time: skip the ones before it, then fire it
        before = cron.last_fire_at_or_before(row.cron, tz, last - timedelta(microseconds=1))
        count = max(count - 1, 1)
        span = (f"{_shown(count)} fire time{'s' if count != 1 else ''} from {_local(due, tz)} to "
                f"{_local(before, tz)}")
        last = before
    return Plan(SKIPPED, due, last, count,
                f"skipped {span}: later than the {row.grace_seconds} s grace when a beat next ran (--misfire skip)")


def fire_due_schedules(
    uow_factory: Callable[[], UnitOfWork], settings, *, clock: Clock, real_now: datetime | None = None
) -> list[Next]:
    """Record every due fire of every active schedule (each with its draft campaign or its
    skipped record), cancel runs not approved in time, and dispatch again fire steps that
    were lost; returns the ``fire`` steps to run. Raises only on database errors."""
    real_now = real_now or utcnow()
    now = clock()
    with uow_factory() as uow:
        ids = uow.session.scalars(select(Schedule.id).where(Schedule.paused.is_(False)).order_by(Schedule.id)).all()
    steps: list[Next] = []
    for schedule_id in ids:
        try:
            steps += fire_schedule(schedule_id, uow_factory, now=now, real_now=real_now)
        except ScheduleInputError as exc:  # a zone no longer known to this tzdata: the others go on
            log.error("schedule %s cannot fire: %s", schedule_id, exc)
    expire_approvals(uow_factory, now=real_now)
    steps += lost_fires(uow_factory, settings, now=real_now)
    return steps


def fire_schedule(schedule_id: int, uow_factory: Callable[[], UnitOfWork], *, now: datetime,
                  real_now: datetime) -> list[Next]:
    """Record the schedule's due fires at schedule time ``now``, at most
    MAX_FIRES_PER_TICK; returns a ``fire`` step for each campaign made."""
    steps: list[Next] = []
    for _ in range(MAX_FIRES_PER_TICK):
        with uow_factory() as uow:
            row = uow.session.get(Schedule, schedule_id)
            if row is None or row.paused:
                break
            plan = plan_fire(row, now)
            if plan is None:
                break
            seen = row.last_fire_at
            c = schedules_t.c
            moved = uow.session.execute(
                update(schedules_t)
                .where(c.id == schedule_id, c.paused.is_(False),
                       c.last_fire_at.is_(None) if seen is None else c.last_fire_at == seen)
                .values(last_fire_at=plan.cursor, updated_at=real_now)
            ).rowcount
            if moved != 1:
                continue  # another beat recorded this fire first: read again
            campaign_id = None
            approve_by = None
            if plan.outcome == FIRED:
                campaign = _draft(row, plan.fire_time, real_now)
                uow.session.add(campaign)
                uow.session.flush()
                campaign_id = campaign.id
                if row.require_approval:
                    approve_by = real_now + timedelta(seconds=row.approval_timeout)
            uow.session.add(ScheduleFire(
                schedule_id=schedule_id, fire_time=plan.fire_time, outcome=plan.outcome, campaign_id=campaign_id,
                reason=plan.reason, covers=plan.covers, approve_by=approve_by, created_at=real_now,
            ))
            try:
                uow.session.flush()
                uow.commit()
            except IntegrityError:
                continue
        if campaign_id is not None:
            log.info("schedule %s fired for %s: campaign %s", schedule_id, plan.fire_time.isoformat(), campaign_id)
            steps.append(Next("fire", campaign_id))
    return steps


def run_fire(campaign_id: int, engine: Engine, settings, *, workdir: Path, now: datetime | None = None) -> list[Next]:
    """The ``fire`` step: read the run's source into its draft campaign (leaving out what
    ``--exclude-sent-within`` excludes), then queue it ([Next("create")]) or leave it
    awaiting approval ([]). A source or file that cannot be used fails the campaign with
    the reason ([]). Nothing when another process holds the step or it is done."""
    uow_factory = lambda: UnitOfWork(engine)  # noqa: E731
    start = now or utcnow()
    f = fires_t.c
    with uow_factory() as uow:
        claimed = uow.session.execute(
            update(fires_t)
            .where(f.campaign_id == campaign_id,
                   or_(f.claimed_at.is_(None), f.claimed_at <= start - timedelta(seconds=settings.stall_seconds)))
            .values(claimed_at=start)
        ).rowcount
        if claimed != 1:
            return []
        fire = uow.session.scalar(select(ScheduleFire).where(ScheduleFire.campaign_id == campaign_id))
        schedule = uow.session.get(Schedule, fire.schedule_id)
        campaign = uow.session.get(Campaign, campaign_id)
        uow.commit()
    if campaign is None or campaign.state != S.DRAFT.value or schedule is None:
        return []
    if not campaign.rows:  # not read yet (an earlier attempt stored nothing, or did not run)
        try:
            _read_source(schedule, campaign_id, engine, settings, workdir, start)
        except Exception as exc:  # noqa: BLE001 - every failure ends this run, never the schedule
            reason = _reason(exc)
            log.warning("schedule %s: run %s failed: %s", schedule.id, campaign_id, reason)
            with uow_factory() as uow:
                move_campaign(uow.session, campaign_id, [S.DRAFT], S.FAILED, utcnow(), error=reason)
                uow.commit()
            return []
    with uow_factory() as uow:
        if schedule.require_approval:
            move_campaign(uow.session, campaign_id, [S.DRAFT], S.AWAITING_APPROVAL, utcnow())
            uow.commit()
            return []
        moved = move_campaign(uow.session, campaign_id, [S.DRAFT], S.QUEUED, utcnow())
        uow.commit()
    return [Next("create", campaign_id)] if moved else []


def expire_approvals(uow_factory: Callable[[], UnitOfWork], *, now: datetime) -> int:
    """Cancel the runs still awaiting approval after their schedule's approval timeout;
    returns how many."""
    with uow_factory() as uow:
        due = uow.session.execute(
            select(ScheduleFire.campaign_id, ScheduleFire.approve_by, ScheduleFire.created_at)
            .join(Campaign, Campaign.id == ScheduleFire.campaign_id)
            .where(Campaign.state == S.AWAITING_APPROVAL.value, ScheduleFire.approve_by <= now)
        ).all()
        done = 0
        for campaign_id, approve_by, created_at in due:
            waited = _duration((as_utc(approve_by) - as_utc(created_at)).total_seconds())
            done += move_campaign(uow.session, campaign_id, [S.AWAITING_APPROVAL], S.CANCELLED, now,
                                  error=f"not approved within {waited} (--approval-timeout)")
        uow.commit()
    return done


def lost_fires(uow_factory: Callable[[], UnitOfWork], settings, *, now: datetime) -> list[Next]:
    """``fire`` steps for runs whose source was not read: never started after
    RESEND_AFTER (lost with its process or message), or started ``stall_seconds`` ago."""
    f = fires_t.c
    with uow_factory() as uow:
        ids = uow.session.scalars(
            select(f.campaign_id).join(Campaign.__table__, Campaign.id == f.campaign_id).where(
                Campaign.state == S.DRAFT.value,
                or_(and_(f.claimed_at.is_(None), f.created_at <= now - RESEND_AFTER),
                    f.claimed_at <= now - timedelta(seconds=settings.stall_seconds)),
            )
        ).all()
    return [Next("fire", campaign_id) for campaign_id in ids]


def _read_source(schedule: Schedule, campaign_id: int, engine: Engine, settings, workdir: Path,
                 now: datetime) -> None:
    """Fetch the schedule's source and ingest it into the campaign. Raises SourceError,
    FileRefused, InvalidCampaign, HeaderKeyMissing, ValueError."""
    from campaigns.ingest.service import IngestOptions, ingest_file
    from campaigns.providers.smsc.checks import PACED_PROVIDERS
    from campaigns.providers.smsc.checks import chunk_size as paced_chunk_size
    from campaigns.schedules.exclusion import recently_sent
    from campaigns.schedules.headers import unseal
    from campaigns.services.submit import SubmitRequest, check_request
    from campaigns.sources import fetch_source
    from campaigns.sources.spool import remove_spooled, spool_path

    options = dict(schedule.options or {})
    request = SubmitRequest(text=schedule.text, name=schedule.name, **options)
    check_request(request, schedule.name)
    headers = unseal(schedule.source_headers, settings.secret_key)
    excluded = None
    if schedule.exclude_days:
        with UnitOfWork(engine) as uow:
            excluded = recently_sent(uow.session, schedule.id, schedule.exclude_days, zone(schedule.tz), now)
    ingest = IngestOptions(text=request.text, country=request.country, placeholders=request.placeholders,
                           encoding=request.encoding, sheet=request.sheet, excluded=excluded or None)
    if request.provider in PACED_PROVIDERS:  # one chunk is one packet of the campaign's pace (issue 5)
        settings = settings.with_(chunk_size=paced_chunk_size(request.rate_limit, request.rate_period, settings))
    with fetch_source(schedule.source, settings, workdir=workdir, headers=headers or None) as fetched:
        path = Path(fetched.path)
        spooled = None
        if path.resolve().parent == Path(workdir).resolve():  # a download: named as its owner named it
            spooled = spool_path(Path(workdir), fetched.name)
            os.replace(path, spooled)
            path = spooled
        try:
            ingest_file(path, ingest, settings, engine, campaign_id)
        finally:
            remove_spooled(spooled)
    with UnitOfWork(engine) as uow:
        uow.session.execute(update(Campaign.__table__).where(Campaign.id == campaign_id)
                            .values(source_name=fetched.name[:255]))
        uow.commit()


def _reason(exc: BaseException) -> str:
    from campaigns.ingest.readers import FileRefused
    from campaigns.redact import redact
    from campaigns.sources.errors import SourceError

    if isinstance(exc, SourceError):
        later = " (a temporary failure; the next run tries again)" if exc.temporary else ""
        return redact(f"the source could not be read: {exc}{later}")
    if isinstance(exc, FileRefused):
        return redact(f"the file was refused: {exc}")
    if isinstance(exc, (ValueError, ScheduleInputError)):
        return redact(str(exc))
    return redact(f"reading the source failed: {type(exc).__name__}: {exc}")


def _draft(row: Schedule, fire_time: datetime, now: datetime) -> Campaign:
    from campaigns.sources.describe import describe_source
    from campaigns.sources.spool import label_of

    options = row.options or {}
    tz = zone(row.tz)
    return Campaign(
        name=f"{row.name} {fire_time.astimezone(tz):%Y-%m-%d %H:%M}"[:255], provider=options.get("provider", "sandbox"),
        text=row.text, type=2, sender=options.get("sender"), country=options.get("country"),
        placeholders=options.get("placeholders", "keep"), rate_limit=options.get("rate_limit"),
        rate_period=options.get("rate_period"), validity=options.get("validity"), mclass=options.get("mclass"),
        source_name=(label_of(describe_source(row.source)) or "source")[:255], state=S.DRAFT.value,
        state_changed_at=now, created_at=now, updated_at=now,
    )


def _count(expr: str, tz, first: datetime, last: datetime) -> int:
    count = 0
    for instant in cron.fire_times(expr, tz, first - timedelta(microseconds=1)):
        if instant > last or count > MAX_COUNTED:
            break
        count += 1
    return count


def _shown(count: int) -> str:
    return f"more than {MAX_COUNTED:,}" if count > MAX_COUNTED else f"{count:,}"


def _local(instant: datetime, tz) -> str:
    return instant.astimezone(tz).isoformat()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"
