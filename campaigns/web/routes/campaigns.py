"""``/v1/campaigns``: submit (a file or a JSON list), list, read, cancel, resume, the
per-recipient ledger and the report. Each route parses, calls one service and maps its
errors to problem responses."""

from __future__ import annotations

import csv
import json
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Optional

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from pydantic import ValidationError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from campaigns.domain import CampaignState
from campaigns.services.errors import CampaignNotFound, CannotCancel, CannotResume
from campaigns.services.tokens import TokenIdentity
from campaigns.web import schemas
from campaigns.web.deps import require, runtime
from campaigns.web.problems import Problem, field_errors
from campaigns.web.runtime import Runtime
from campaigns.web.submission import submit_problem, submit_request, validation_report
from campaigns.sources.spool import remove_spooled, spool_path
from campaigns.web.uploads import Spooled, read_json_body, spool_form

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])
ERRORS = {status: {"model": schemas.Problem, "description": text} for status, text in (
    (401, "No token, or an unknown or revoked one"), (403, "The token's scope does not allow this"),
    (404, "No campaign with this id"), (422, "The request or its file is refused"),
)}
STATES = tuple(s.value for s in CampaignState)
CSV_MEDIA = "text/csv; charset=utf-8"
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

_OPTIONS = schemas.CampaignOptions.model_json_schema()
_SUBMIT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {
                **_OPTIONS, "title": "CampaignUpload",
                "properties": {"file": {"type": "string", "format": "binary",
                                        "description": "The recipient file: CSV/TXT, XLS, XLSX or ODS."},
                               **_OPTIONS["properties"]},
                "required": ["file", *_OPTIONS.get("required", [])],
            }},
            "application/json": {"schema": schemas.CampaignJson.model_json_schema()},
        },
    }
}


def _not_found(exc: CampaignNotFound) -> Problem:
    return Problem(404, str(exc), kind="not-found")


def _options(data: dict, model=schemas.CampaignOptions):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc.errors())
        raise Problem(422, "; ".join(f"{e['field']}: {e['message']}" for e in errors), kind="invalid-request",
                      errors=errors) from None


async def _read_submission(request: Request, rt: Runtime) -> tuple[schemas.CampaignOptions, Spooled, str]:
    """The options, the spooled recipients and what they are (the multipart file's digest,
    or the JSON body's canonical form) for the fingerprint."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    limit = rt.settings.max_file_bytes
    if media == "multipart/form-data":
        spooled = await spool_form(request, rt.spool, limit)
        if spooled.path is None:
            raise Problem(422, "no recipient file: send it as the form part 'file'", kind="invalid-request",
                          errors=[{"field": "file", "message": "required"}])
        try:
            if spooled.size == 0:
                raise Problem(422, f"{spooled.label}: the file is empty", kind="file-refused",
                              errors=[{"field": "file", "message": "empty"}])
            return _options(spooled.fields), spooled, spooled.sha256
        except BaseException:
            spooled.discard()
            raise
    if media == "application/json":
        body = await read_json_body(request, limit)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise Problem(422, "the body is not valid JSON", kind="invalid-request") from None
        if not isinstance(data, dict):
            raise Problem(422, "the JSON body must be an object", kind="invalid-request")
        options = _options(data, schemas.CampaignJson)
        spooled = await run_in_threadpool(_write_recipients, options.recipients, rt.spool)
        canonical = json.dumps(options.recipients, sort_keys=True, ensure_ascii=False)
        return schemas.CampaignOptions.model_validate(options.model_dump(exclude={"recipients"})), spooled, canonical
    raise Problem(415, "send multipart/form-data with a 'file' part, or application/json with 'recipients'",
                  kind="unsupported-media-type")


def _write_recipients(recipients: list[dict], spool: Path) -> Spooled:
    """The JSON recipients as a CSV file in the spool: a header row (``recipient`` first,
    then every other key in the order first seen; the phone column is found as in a file),
    one row a recipient (row 2 is the first)."""
    columns: dict[str, None] = {}
    for item in recipients:
        for key in item:
            columns.setdefault(str(key), None)
    if "recipient" in columns:  # first, as in the files Mobizon documents
        columns = {"recipient": None, **columns}
    path = spool_path(spool, "recipients.csv")
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        for item in recipients:
            writer.writerow(["" if item.get(c) is None else item.get(c) for c in columns])
    return Spooled(path=path, label="recipients.csv", size=path.stat().st_size)


def _dry_run(rt: Runtime, request, path: Path) -> dict:
    from campaigns.ingest.readers import FileRefused
    from campaigns.ingest.report import IngestReport

    try:
        return validation_report(path, request, rt.settings, rt.engine)
    except FileRefused as exc:
        report = IngestReport.refused(path.name, str(exc)).to_dict()
        raise Problem(422, str(exc), kind="file-refused", report=report) from None


@router.post(
    "", status_code=201, response_model=schemas.CampaignStatus, openapi_extra=_SUBMIT_BODY,
    responses={200: {"model": schemas.CampaignStatus,
                     "description": "The campaign a request with the same Idempotency-Key made; or, with "
                                    "?dry_run=true, the validation report (the object `campaigns validate --json` prints)"},
               409: {"model": schemas.Problem, "description": "The first request with this key is still running"},
               413: {"model": schemas.Problem, "description": "The body is over CAMPAIGNS_MAX_FILE_BYTES"},
               415: {"model": schemas.Problem, "description": "Neither multipart/form-data nor JSON"},
               **ERRORS},
    summary="Submit a campaign",
)
async def submit_campaign(
    request: Request,
    response: Response,
    dry_run: Annotated[bool, Query(description="Validate only: nothing stored, no provider contacted.")] = False,
    idempotency_key: Annotated[Optional[str], Header(description="Retries with the same key return the first request's campaign.")] = None,
    token: TokenIdentity = Depends(require("submit")),
    rt: Runtime = Depends(runtime),
):
    """A recipient file (multipart ``file``) or a JSON list of ``recipients``, with the
    campaign's options; the same checks as ``campaigns submit``. 201 with the campaign's
    status and a ``Location``; with ``?dry_run=true`` 200 with the validation report."""
    from campaigns.services.enqueue import Idempotency, enqueue_file, request_fingerprint

    if idempotency_key is not None and not dry_run:
        from campaigns.services.idempotency import check_key

        try:
            check_key(idempotency_key)
        except ValueError as exc:
            raise Problem(422, str(exc), kind="invalid-request",
                          errors=[{"field": "Idempotency-Key", "message": str(exc)}]) from None
    options, spooled, recipients = await _read_submission(request, rt)
    try:
        submit = submit_request(options, spooled.label or "upload")
        if dry_run:
            report = await run_in_threadpool(_dry_run, rt, submit, spooled.path)
            response.status_code = 200
            return Response(json.dumps(report, ensure_ascii=False, default=str), media_type="application/json")
        idempotency = None
        if idempotency_key is not None:
            idempotency = Idempotency(f"token:{token.id}", idempotency_key, request_fingerprint(submit, recipients))
        try:
            once = await run_in_threadpool(enqueue_file, spooled.path, submit, rt.settings, rt.engine, rt.dispatch,
                                           idempotency=idempotency)
        except Exception as exc:
            problem = submit_problem(exc)
            if problem is None:
                raise
            raise problem from None
    finally:
        await run_in_threadpool(spooled.discard)
    status = await run_in_threadpool(_status, rt, once.campaign_id)
    response.status_code = 201 if once.created else 200
    response.headers["Location"] = f"/v1/campaigns/{once.campaign_id}"
    return status


def _status(rt: Runtime, campaign_id: int) -> dict:
    from campaigns.services.status import campaign_status

    return campaign_status(campaign_id, rt.uow_factory)


@router.get("", response_model=schemas.CampaignPage, responses=ERRORS, summary="List campaigns, newest first")
def list_campaigns(
    state: Annotated[Optional[str], Query(description=f"Only campaigns in this state: {', '.join(STATES)}")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[Optional[str], Query(description="next_cursor of the previous page")] = None,
    _: TokenIdentity = Depends(require("read")),
    rt: Runtime = Depends(runtime),
):
    from campaigns.services.status import campaign_page

    if state is not None and state not in STATES:
        raise Problem(422, f"state must be one of {', '.join(STATES)}, got {state!r}", kind="invalid-request",
                      errors=[{"field": "state", "message": "unknown state"}])
    before = _cursor(cursor)
    items, next_id = campaign_page(rt.uow_factory, state=state, before_id=before, limit=limit)
    return {"items": items, "next_cursor": str(next_id) if next_id is not None else None}


def _cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit() or len(cursor) > 18:
        raise Problem(422, "cursor must be the next_cursor of a previous page", kind="invalid-request",
                      errors=[{"field": "cursor", "message": "not a cursor"}])
    return int(cursor)


@router.get("/{campaign_id}", response_model=schemas.CampaignStatus, responses=ERRORS, summary="One campaign")
async def get_campaign(campaign_id: int, _: TokenIdentity = Depends(require("read")), rt: Runtime = Depends(runtime)):
    from campaigns.services.status import campaign_status

    try:  # two indexed reads, on the loop's own connection (Runtime.loop_uow_factory)
        return JSONResponse(campaign_status(campaign_id, rt.loop_uow_factory))
    except CampaignNotFound as exc:
        raise _not_found(exc) from None


@router.post("/{campaign_id}/cancel", response_model=schemas.CampaignStatus,
             responses={**ERRORS, 409: {"model": schemas.Problem, "description": "The campaign cannot be cancelled"}},
             summary="Cancel a campaign")
def cancel_campaign(campaign_id: int, _: TokenIdentity = Depends(require("submit")), rt: Runtime = Depends(runtime)):
    from campaigns.services.cancel import cancel_campaign as cancel

    try:
        status = _status(rt, campaign_id)
        with ExitStack() as stack:
            provider, unavailable = None, "the provider is not configured here"
            if status["provider_campaign_id"]:  # else nothing at the provider to delete
                try:
                    provider = stack.enter_context(rt.provider(status["provider"]))
                except ValueError as exc:  # not configured in this process: it still ends here
                    unavailable = f"the provider cannot be reached from here ({exc})"
            cancel(campaign_id, rt.uow_factory, provider, unavailable=unavailable,
                   abandoned_after=rt.settings.stall_seconds)
    except CampaignNotFound as exc:
        raise _not_found(exc) from None
    except CannotCancel as exc:
        raise Problem(409, str(exc), kind="cannot-cancel") from None
    return _status(rt, campaign_id)


@router.post("/{campaign_id}/resume", response_model=schemas.CampaignStatus,
             responses={**ERRORS, 409: {"model": schemas.Problem, "description": "The campaign cannot be resumed"}},
             summary="Resume a campaign")
def resume_campaign(campaign_id: int, _: TokenIdentity = Depends(require("submit")), rt: Runtime = Depends(runtime)):
    from campaigns.services.resume import resume_campaign as resume

    try:
        steps = resume(campaign_id, rt.uow_factory)
    except CampaignNotFound as exc:
        raise _not_found(exc) from None
    except CannotResume as exc:
        raise Problem(409, str(exc), kind="cannot-resume") from None
    rt.dispatch(steps)
    return _status(rt, campaign_id)


@router.get("/{campaign_id}/recipients", response_model=schemas.LedgerPage, responses=ERRORS,
            summary="The per-recipient ledger, in row order")
def list_recipients(
    campaign_id: int,
    status: Annotated[Optional[str], Query(description="valid, invalid, duplicate, added, rejected, delivered, undelivered or pending")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[Optional[str], Query(description="next_cursor of the previous page")] = None,
    _: TokenIdentity = Depends(require("read")),
    rt: Runtime = Depends(runtime),
):
    from campaigns.services.ledger import STATUSES, ledger_page

    if status is not None and status not in STATUSES:
        raise Problem(422, f"status must be one of {', '.join(STATUSES)}, got {status!r}", kind="invalid-request",
                      errors=[{"field": "status", "message": "unknown status"}])
    try:
        page = ledger_page(campaign_id, rt.uow_factory, status=status, after_row=_cursor(cursor) or 0, limit=limit)
    except CampaignNotFound as exc:
        raise _not_found(exc) from None
    return {"items": page.items, "next_cursor": str(page.next_cursor) if page.next_cursor is not None else None}


@router.get("/{campaign_id}/report", response_class=FileResponse, summary="The report: one row per source row",
            responses={**ERRORS, 200: {"content": {CSV_MEDIA: {}, XLSX_MEDIA: {}},
                                       "description": "CSV (UTF-8 with BOM) or XLSX; formulas neutralized"}})
def download_report(
    campaign_id: int,
    format: Annotated[str, Query(pattern="^(csv|xlsx)$", description="csv or xlsx")] = "csv",
    _: TokenIdentity = Depends(require("read")),
    rt: Runtime = Depends(runtime),
):
    from campaigns.services.report import export_report

    path = spool_path(rt.spool, f"campaign-{campaign_id}.{format}")
    try:
        export_report(campaign_id, rt.uow_factory, path)
    except CampaignNotFound as exc:
        remove_spooled(path)
        raise _not_found(exc) from None
    except BaseException:
        remove_spooled(path)
        raise
    return FileResponse(path, media_type=CSV_MEDIA if format == "csv" else XLSX_MEDIA,
                        filename=f"campaign-{campaign_id}-report.{format}",
                        background=BackgroundTask(remove_spooled, path))
