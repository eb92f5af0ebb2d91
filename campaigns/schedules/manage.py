"""Managing schedules: add, list, show, edit, pause, resume, delete; their runs and next
fire times, and a preview of any cron expression. Plain dicts of JSON types come back,
ready for ``--json`` and the HTTP API.

Fires are counted from ``since`` (the moment of creation, resume or an edit of the
rhythm) and the last recorded fire, so a paused schedule does not catch up on resume and
an edit does not count old times of the new rhythm as missed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Callable

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from campaigns.schedules import cron
from campaigns.schedules.cron import ScheduleInputError, local_iso, zone
from campaigns.schedules.headers import seal
from campaigns.services.moves import as_utc
from campaigns.store.models import Campaign
from campaigns.store.schedules import Schedule, ScheduleFire
from campaigns.store.uow import UnitOfWork

MISFIRE = ("skip", "once")
# The submit options a schedule keeps for its runs (campaigns.services.submit.SubmitRequest).
OPTION_NAMES = ("provider", "sender", "country", "placeholders", "rate_limit", "rate_period", "validity", "mclass",
                "encoding", "sheet")
MAX_COUNT = 1000


class ScheduleNotFound(LookupError):
    """No schedule has this id."""

    def __init__(self, schedule_id: int):
        super().__init__(f"no schedule with id {schedule_id}")
        self.schedule_id = schedule_id


@dataclass(frozen=True)
class ScheduleSpec:
    """What a schedule is made of; ``headers`` in clear (kept encrypted)."""

    name: str
    cron: str
    tz: str
    source: str
    text: str
    options: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)
    start: datetime | None = None
    end: datetime | None = None
    misfire: str = "skip"
    grace: int = 300
    exclude_days: int | None = None
    require_approval: bool = False
    approval_timeout: int = 86400


def check_spec(spec: ScheduleSpec, settings) -> ScheduleSpec:
    """``spec`` tidied; raises ScheduleInputError listing every problem, UnknownProvider
    (campaigns.services.enqueue) for a provider not configured here."""
    from campaigns.providers.mobizon.checks import InvalidCampaign
    from campaigns.services.enqueue import check_provider
    from campaigns.services.submit import SubmitRequest, check_request
    from campaigns.sources.describe import PATH, S3, source_kind, split_s3

    problems: list[str] = []
    expr = spec.cron
    try:
        expr = cron.check_cron(spec.cron)
    except ScheduleInputError as exc:
        problems.append(str(exc))
    try:
        zone(spec.tz)
    except ScheduleInputError as exc:
        problems.append(str(exc))
    name = (spec.name or "").strip()
    if not name or len(name) > 200:
        problems.append("the schedule needs a name of 1 to 200 characters")
    if not (spec.source or "").strip():
        problems.append("--source is empty")
    elif source_kind(spec.source) == S3 and not split_s3(spec.source)[0]:
        problems.append("--source names no bucket (s3://bucket/key or s3://bucket/prefix/)")
    if spec.misfire not in MISFIRE:
        problems.append(f"--misfire must be skip or once, got {spec.misfire!r}")
    if spec.grace < 0:
        problems.append("--grace must be 0 or more seconds")
    if spec.exclude_days is not None and spec.exclude_days < 1:
        problems.append("--exclude-sent-within must be at least 1 day")
    if spec.approval_timeout < 1:
        problems.append("--approval-timeout must be at least 1 second")
    if spec.start and spec.end and spec.end <= spec.start:
        problems.append("--end must be later than --start")
    unknown = set(spec.options) - set(OPTION_NAMES)
    if unknown:
        problems.append(f"unknown options: {', '.join(sorted(unknown))}")
    else:
        try:
            check_request(SubmitRequest(text=spec.text, **spec.options), name or "schedule")
        except InvalidCampaign as exc:
            problems += list(exc.problems) if hasattr(exc, "problems") else [str(exc)]
    if problems:
        raise ScheduleInputError("; ".join(problems))
    check_provider(spec.options.get("provider", "sandbox"), settings)
    source = spec.source.strip()
    if source_kind(source) == PATH:  # read later, maybe by another process: not relative to a folder of now
        source = str(Path(source).expanduser().absolute())
    return replace(spec, name=name, cron=expr, source=source)


def add_schedule(spec: ScheduleSpec, uow_factory: Callable[[], UnitOfWork], settings, *, now: datetime) -> dict:
    """Store a new schedule; returns its view. Raises ScheduleInputError (also for a name
    already taken, and source headers without CAMPAIGNS_SECRET_KEY), UnknownProvider."""
    spec = check_spec(spec, settings)
    sealed = seal(spec.headers, settings.secret_key)
    with uow_factory() as uow:
        row = Schedule(
            name=spec.name, cron=spec.cron, tz=spec.tz, source=spec.source, source_headers=sealed, text=spec.text,
            options=_clean_options(spec.options), start_at=spec.start, end_at=spec.end, misfire=spec.misfire,
            grace_seconds=spec.grace, exclude_days=spec.exclude_days, require_approval=spec.require_approval,
            approval_timeout=spec.approval_timeout, paused=False, since=now, last_fire_at=None,
            created_at=now, updated_at=now,
        )
        uow.session.add(row)
        try:
            uow.session.flush()
        except IntegrityError:
            raise ScheduleInputError(f"a schedule named {spec.name!r} already exists") from None
        view = _view(uow.session, row, now)
        uow.commit()
    return view


def edit_schedule(schedule_id: int, changes: dict, uow_factory: Callable[[], UnitOfWork], settings, *,
                  now: datetime) -> dict:
    """Change some fields (names of ScheduleSpec; ``options`` merged, a None option
    removed); returns the view. A new cron, zone or start counts fires from now. Raises
    ScheduleNotFound, ScheduleInputError, UnknownProvider."""
    known = {f.name for f in fields(ScheduleSpec)}
    unknown = set(changes) - known
    if unknown:
        raise ScheduleInputError(f"unknown fields: {', '.join(sorted(unknown))}")
    with uow_factory() as uow:
        row = _get(uow.session, schedule_id)
        current = _spec_of(row)
        options = dict(current.options)
        for key, value in (changes.get("options") or {}).items():
            if value is None:
                options.pop(key, None)
            else:
                options[key] = value
        updated = replace(current, **{k: v for k, v in changes.items() if k not in ("options", "headers")},
                          options=options)
        updated = check_spec(updated, settings)
        row.name, row.cron, row.tz, row.source, row.text = (updated.name, updated.cron, updated.tz, updated.source,
                                                           updated.text)
        row.options = _clean_options(updated.options)
        row.start_at, row.end_at, row.misfire, row.grace_seconds = (updated.start, updated.end, updated.misfire,
                                                                    updated.grace)
        row.exclude_days, row.require_approval = updated.exclude_days, updated.require_approval
        row.approval_timeout = updated.approval_timeout
        if "headers" in changes:
            row.source_headers = seal(changes["headers"] or {}, settings.secret_key)
        if {"cron", "tz", "start"} & set(changes):
            row.since = now
        row.updated_at = now
        try:
            uow.session.flush()
        except IntegrityError:
            raise ScheduleInputError(f"a schedule named {updated.name!r} already exists") from None
        view = _view(uow.session, row, now)
        uow.commit()
    return view


def set_paused(schedule_id: int, paused: bool, uow_factory: Callable[[], UnitOfWork], *, now: datetime) -> dict:
    """Pause or resume; a resumed schedule fires at its next time after now (the times
    while paused are not made up). Raises ScheduleNotFound."""
    with uow_factory() as uow:
        row = _get(uow.session, schedule_id)
        if row.paused != paused:
            row.paused = paused
            if not paused:
                row.since = now
            row.updated_at = now
        view = _view(uow.session, row, now)
        uow.commit()
    return view


def delete_schedule(schedule_id: int, uow_factory: Callable[[], UnitOfWork], *, now: datetime) -> None:
    """Delete the schedule and its record of fires; its campaigns stay, except that a run
    whose source was still being read is failed and one awaiting approval is cancelled,
    each with the reason. Raises ScheduleNotFound."""
    from campaigns.domain import CampaignState as S
    from campaigns.services.moves import move_campaign

    with uow_factory() as uow:
        row = _get(uow.session, schedule_id)
        waiting = uow.session.execute(
            select(ScheduleFire.campaign_id, Campaign.state).join(Campaign, Campaign.id == ScheduleFire.campaign_id)
            .where(ScheduleFire.schedule_id == schedule_id,
                   Campaign.state.in_([S.DRAFT.value, S.AWAITING_APPROVAL.value]))
        ).all()
        for campaign_id, state in waiting:
            if state == S.DRAFT.value:
                move_campaign(uow.session, campaign_id, [S.DRAFT], S.FAILED, now,
                              error=f"its schedule {row.name!r} was deleted before its source was read")
            else:
                move_campaign(uow.session, campaign_id, [S.AWAITING_APPROVAL], S.CANCELLED, now,
                              error=f"its schedule {row.name!r} was deleted before it was approved")
        uow.session.execute(delete(ScheduleFire).where(ScheduleFire.schedule_id == schedule_id))
        uow.session.delete(row)
        uow.commit()


def get_schedule(schedule_id: int, uow_factory: Callable[[], UnitOfWork], *, now: datetime) -> dict:
    """The schedule's view; raises ScheduleNotFound."""
    with uow_factory() as uow:
        return _view(uow.session, _get(uow.session, schedule_id), now)


def list_schedules(uow_factory: Callable[[], UnitOfWork], *, now: datetime) -> list[dict]:
    """Every schedule's view, by id."""
    with uow_factory() as uow:
        return [_view(uow.session, row, now) for row in uow.session.scalars(select(Schedule).order_by(Schedule.id))]


def schedule_runs(schedule_id: int, uow_factory: Callable[[], UnitOfWork], *, limit: int = 1000) -> list[dict]:
    """Every recorded fire, newest first: time, outcome, campaign and its state, or why it
    made none. Raises ScheduleNotFound."""
    with uow_factory() as uow:
        row = _get(uow.session, schedule_id)
        tz = zone(row.tz)
        fires = uow.session.execute(
            select(ScheduleFire, Campaign.state, Campaign.error)
            .outerjoin(Campaign, Campaign.id == ScheduleFire.campaign_id)
            .where(ScheduleFire.schedule_id == schedule_id)
            .order_by(ScheduleFire.fire_time.desc()).limit(limit)
        ).all()
        return [_run_view(fire, state, error, tz) for fire, state, error in fires]


def next_fires(schedule_id: int, count: int, uow_factory: Callable[[], UnitOfWork], *, now: datetime) -> list[dict]:
    """The schedule's next ``count`` fire times (none after its end); raises ScheduleNotFound."""
    with uow_factory() as uow:
        row = _get(uow.session, schedule_id)
        tz = zone(row.tz)
        after = _cursor(row, now)
        return [_moment(t, tz) for t in cron.upcoming(row.cron, tz, after, min(count, MAX_COUNT),
                                                      end=as_utc(row.end_at))]


def preview(expr: str, tz_name: str, start: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times of ``expr`` in ``tz_name`` after ``start`` (aware, in
    the zone); stores nothing. Raises ScheduleInputError."""
    problems = []
    try:
        expr = cron.check_cron(expr)
    except ScheduleInputError as exc:
        problems.append(str(exc))
    try:
        tz = zone(tz_name)
    except ScheduleInputError as exc:
        problems.append(str(exc))
    if not 1 <= count <= MAX_COUNT:
        problems.append(f"--count must be between 1 and {MAX_COUNT}")
    if problems:
        raise ScheduleInputError("; ".join(problems))
    return [t.astimezone(tz) for t in cron.upcoming(expr, tz, start, count)]


def cursor_of(row: Schedule, now: datetime) -> datetime:
    """The moment after which the schedule's next fire time is looked for."""
    return _cursor(row, now)


def _cursor(row: Schedule, now: datetime) -> datetime:
    points = [as_utc(row.since)]
    if row.last_fire_at is not None:
        points.append(as_utc(row.last_fire_at))
    if row.start_at is not None:
        # a fire exactly at the start counts: look from just before it
        from datetime import timedelta

        points.append(as_utc(row.start_at) - timedelta(microseconds=1))
    return max(points)


def _get(session, schedule_id: int) -> Schedule:
    row = session.get(Schedule, schedule_id)
    if row is None:
        raise ScheduleNotFound(schedule_id)
    return row


def _clean_options(options: dict) -> dict:
    return {k: v for k, v in options.items() if v is not None}


def _spec_of(row: Schedule) -> ScheduleSpec:
    return ScheduleSpec(
        name=row.name, cron=row.cron, tz=row.tz, source=row.source, text=row.text, options=dict(row.options or {}),
        start=as_utc(row.start_at), end=as_utc(row.end_at), misfire=row.misfire, grace=row.grace_seconds,
        exclude_days=row.exclude_days, require_approval=row.require_approval, approval_timeout=row.approval_timeout,
    )


def _moment(instant: datetime, tz) -> dict:
    return {"local": local_iso(instant, tz), "utc": instant.astimezone(cron.UTC).isoformat()}


def _run_view(fire: ScheduleFire, state: str | None, error: str | None, tz) -> dict:
    return {
        "fire_time": _moment(as_utc(fire.fire_time), tz),
        "outcome": fire.outcome,
        "campaign_id": fire.campaign_id,
        "state": state,
        "reason": fire.reason if fire.outcome != "fired" or not error else error,
        "covers": fire.covers,
        "approve_by": as_utc(fire.approve_by).isoformat() if fire.approve_by else None,
    }


def _view(session, row: Schedule, now: datetime) -> dict:
    from campaigns.sources.describe import describe_source

    tz = zone(row.tz)
    upcoming = None if row.paused else cron.next_fire(row.cron, tz, _cursor(row, now), end=as_utc(row.end_at))
    last = session.execute(
        select(ScheduleFire, Campaign.state, Campaign.error)
        .outerjoin(Campaign, Campaign.id == ScheduleFire.campaign_id)
        .where(ScheduleFire.schedule_id == row.id).order_by(ScheduleFire.fire_time.desc()).limit(1)
    ).first()
    runs = session.scalar(select(func.count()).select_from(ScheduleFire).where(ScheduleFire.schedule_id == row.id))
    return {
        "id": row.id,
        "name": row.name,
        "cron": row.cron,
        "tz": row.tz,
        "source": describe_source(row.source),
        "source_headers": sorted(row.source_headers or {}),  # names only: values are never shown
        "text": row.text,
        "options": dict(row.options or {}),
        "start": as_utc(row.start_at).isoformat() if row.start_at else None,
        "end": as_utc(row.end_at).isoformat() if row.end_at else None,
        "misfire": row.misfire,
        "grace_seconds": row.grace_seconds,
        "exclude_sent_within_days": row.exclude_days,
        "require_approval": row.require_approval,
        "approval_timeout_seconds": row.approval_timeout,
        "paused": row.paused,
        "next_fire": _moment(upcoming, tz) if upcoming else None,
        "runs": int(runs or 0),
        "last_run": _run_view(*last, tz) if last else None,
        "created_at": as_utc(row.created_at).isoformat(),
    }


__all__ = ["ScheduleSpec", "ScheduleNotFound", "ScheduleInputError", "add_schedule", "edit_schedule", "set_paused",
           "delete_schedule", "get_schedule", "list_schedules", "schedule_runs", "next_fires", "preview"]
