"""``/v1/schedules``: recurring campaigns (as ``campaigns schedule``): add, list, read,
change, pause, resume, delete, their next fire times and runs, and a preview of any cron
expression. Reading needs ``read``; changing needs ``submit``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Optional

from fastapi import APIRouter, Depends, Query, Response

from campaigns.schedules.cron import ScheduleInputError
from campaigns.schedules.manage import ScheduleNotFound, ScheduleSpec
from campaigns.services.tokens import TokenIdentity
from campaigns.web import schedule_schemas as schemas
from campaigns.web.deps import require, runtime
from campaigns.web.problems import Problem
from campaigns.web.runtime import Runtime
from campaigns.web.schemas import Problem as ProblemModel

router = APIRouter(prefix="/v1/schedules", tags=["schedules"])
ERRORS = {401: {"model": ProblemModel}, 403: {"model": ProblemModel}}
NOT_FOUND = {404: {"model": ProblemModel}}
INVALID = {422: {"model": ProblemModel}}


def _now(rt: Runtime) -> datetime:
    from campaigns.schedules.clock import schedule_clock

    return schedule_clock(rt.settings)()


def _call(call):
    """``call()`` with the services' errors as problems."""
    from campaigns.services.enqueue import UnknownProvider

    try:
        return call()
    except ScheduleNotFound as exc:
        raise Problem(404, str(exc), kind="not-found") from None
    except (ScheduleInputError, UnknownProvider) as exc:
        raise Problem(422, str(exc), kind="invalid-request") from None


@router.get("", response_model=list[schemas.Schedule], responses=ERRORS, summary="List schedules")
def list_all(_: TokenIdentity = Depends(require("read")), rt: Runtime = Depends(runtime)):
    from campaigns.schedules.manage import list_schedules

    return _call(lambda: list_schedules(rt.uow_factory, now=_now(rt)))


@router.post("", status_code=201, response_model=schemas.Schedule, responses={**ERRORS, **INVALID},
             summary="Add a schedule")
def add(body: schemas.ScheduleIn, response: Response, _: TokenIdentity = Depends(require("submit")),
        rt: Runtime = Depends(runtime)):
    from campaigns.schedules.headers import parse_header
    from campaigns.schedules.manage import add_schedule

    def run():
        headers = dict(parse_header(f"{k}: {v}") for k, v in body.source_headers.items())
        spec = ScheduleSpec(
            name=body.name, cron=body.cron, tz=body.tz, source=body.source, text=body.text, headers=headers,
            options=body.options.model_dump(exclude_none=True), start=_aware(body.start, "start"),
            end=_aware(body.end, "end"), misfire=body.misfire, grace=body.grace,
            exclude_days=body.exclude_sent_within, require_approval=body.require_approval,
            approval_timeout=body.approval_timeout,
        )
        return add_schedule(spec, rt.uow_factory, rt.settings, now=_now(rt))

    view = _call(run)
    response.headers["Location"] = f"/v1/schedules/{view['id']}"
    return view


@router.get("/preview", response_model=list[str], responses={**ERRORS, **INVALID},
            summary="The next fire times of a cron expression (nothing stored)")
def preview_times(
    cron: Annotated[str, Query(max_length=255, description="A cron expression.")],
    tz: Annotated[str, Query(max_length=64, description="An IANA time zone.")],
    start: Annotated[Optional[str], Query(alias="from", description="ISO 8601 moment (default now; local to tz "
                                                                    "without an offset).")] = None,
    count: Annotated[int, Query(ge=1, le=1000)] = 10,
    _: TokenIdentity = Depends(require("read")),
):
    from campaigns.schedules.clock import real_clock
    from campaigns.schedules.cron import parse_moment, zone
    from campaigns.schedules.manage import preview

    def run():
        moment = parse_moment(start, zone(tz), "from") if start else real_clock()
        return [t.isoformat() for t in preview(cron, tz, moment, count)]

    return _call(run)


@router.get("/{schedule_id}", response_model=schemas.Schedule, responses={**ERRORS, **NOT_FOUND},
            summary="Read a schedule")
def get_one(schedule_id: int, _: TokenIdentity = Depends(require("read")), rt: Runtime = Depends(runtime)):
    from campaigns.schedules.manage import get_schedule

    return _call(lambda: get_schedule(schedule_id, rt.uow_factory, now=_now(rt)))


@router.patch("/{schedule_id}", response_model=schemas.Schedule, responses={**ERRORS, **NOT_FOUND, **INVALID},
              summary="Change a schedule")
def change(schedule_id: int, body: schemas.ScheduleChanges, _: TokenIdentity = Depends(require("submit")),
           rt: Runtime = Depends(runtime)):
    from campaigns.schedules.headers import parse_header
    from campaigns.schedules.manage import edit_schedule

    def run():
        given = body.model_dump(exclude_unset=True)
        changes = {k: v for k, v in given.items() if k not in ("source_headers", "exclude_sent_within", "start", "end")}
        if "source_headers" in given:
            changes["headers"] = dict(parse_header(f"{k}: {v}") for k, v in (given["source_headers"] or {}).items())
        if "exclude_sent_within" in given:
            changes["exclude_days"] = given["exclude_sent_within"] or None
        for key in ("start", "end"):
            if key in given:
                changes[key] = _aware(given[key], key)
        return edit_schedule(schedule_id, changes, rt.uow_factory, rt.settings, now=_now(rt))

    return _call(run)


@router.delete("/{schedule_id}", status_code=204, responses={**ERRORS, **NOT_FOUND},
               summary="Delete a schedule (its campaigns stay)")
def remove(schedule_id: int, _: TokenIdentity = Depends(require("submit")), rt: Runtime = Depends(runtime)):
    from campaigns.schedules.manage import delete_schedule

    _call(lambda: delete_schedule(schedule_id, rt.uow_factory, now=_now(rt)))
    return Response(status_code=204)


@router.post("/{schedule_id}/pause", response_model=schemas.Schedule, responses={**ERRORS, **NOT_FOUND},
             summary="Pause a schedule")
def pause(schedule_id: int, _: TokenIdentity = Depends(require("submit")), rt: Runtime = Depends(runtime)):
    from campaigns.schedules.manage import set_paused

    return _call(lambda: set_paused(schedule_id, True, rt.uow_factory, now=_now(rt)))


@router.post("/{schedule_id}/resume", response_model=schemas.Schedule, responses={**ERRORS, **NOT_FOUND},
             summary="Resume a schedule (from its next fire time)")
def resume(schedule_id: int, _: TokenIdentity = Depends(require("submit")), rt: Runtime = Depends(runtime)):
    from campaigns.schedules.manage import set_paused

    return _call(lambda: set_paused(schedule_id, False, rt.uow_factory, now=_now(rt)))


@router.get("/{schedule_id}/next", response_model=list[schemas.Moment], responses={**ERRORS, **NOT_FOUND},
            summary="The schedule's next fire times")
def next_times(schedule_id: int, count: Annotated[int, Query(ge=1, le=1000)] = 5,
               _: TokenIdentity = Depends(require("read")), rt: Runtime = Depends(runtime)):
    from campaigns.schedules.manage import next_fires

    return _call(lambda: next_fires(schedule_id, count, rt.uow_factory, now=_now(rt)))


@router.get("/{schedule_id}/runs", response_model=list[schemas.Run], responses={**ERRORS, **NOT_FOUND},
            summary="Every fire of the schedule, newest first")
def runs(schedule_id: int, _: TokenIdentity = Depends(require("read")), rt: Runtime = Depends(runtime)):
    from campaigns.schedules.manage import schedule_runs

    return _call(lambda: schedule_runs(schedule_id, rt.uow_factory))


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ScheduleInputError(f"{name} needs a UTC offset, e.g. 2027-01-04T10:00:00+05:00")
    return value
