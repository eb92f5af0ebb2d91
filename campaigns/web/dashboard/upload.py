"""New campaign: upload a file with the text and options, see the validation report
before anything is stored or sent, then launch.

The upload is spooled as the API's are (campaigns.web.uploads) into a new random folder of
the spool, with a ``.owner`` file naming the user; the preview page carries the folder's
name, and launching submits that file through the API's service (enqueue_file) with the
folder's name as the idempotency key, so a second click on Launch opens the same campaign.
Uploads never launched are removed after UPLOAD_HOURS.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from campaigns.services.users import SignedIn
from campaigns.web.dashboard.auth import CSRF_FIELD, NotAllowed, check_csrf, need, same_origin
from campaigns.web.dashboard.render import DashboardRoute, page
from campaigns.web.problems import Problem, field_errors
from campaigns.web.submission import submit_problem, submit_request, validation_report

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
operator = need("operator")
OWNER = ".owner"
UPLOAD_HOURS = 24
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
OPTION_FIELDS = ("text", "name", "provider", "sender", "country", "placeholders", "rate_limit", "rate_period",
                 "deferred_to", "validity", "mclass", "encoding", "sheet")


def _providers() -> list[str]:
    from campaigns.providers.registry import known_providers

    return known_providers()


def _form_page(request: Request, values: dict, errors: list[dict] | None = None, status: int = 200):
    return page(request, "new.html", {"title": "New campaign", "values": values, "errors": errors or [],
                                      "providers": _providers()}, status=status)


@router.get("/campaigns/new")
def new_form(request: Request, _: SignedIn = Depends(operator)):
    return _form_page(request, {"provider": "sandbox", "placeholders": "keep"})


def _options(fields: dict):
    """The form's options as the API's model; raises Problem(422) naming each bad field."""
    from campaigns.web import schemas

    data = {k: v.strip() if k != "text" else v for k, v in fields.items() if k in OPTION_FIELDS}
    data = {k: v for k, v in data.items() if v != ""}
    if data.get("mclass") in ("0", "1"):
        data["mclass"] = int(data["mclass"])
    try:
        return schemas.CampaignOptions.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc.errors())
        raise Problem(422, "; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors) from None


def _validate(path: Path, options, label: str, rt) -> dict:
    """The validation report of the upload, as the API's dry run gives it."""
    from campaigns.ingest.readers import FileRefused
    from campaigns.ingest.report import IngestReport

    try:
        return validation_report(path, submit_request(options, label), rt.settings, rt.engine)
    except FileRefused as exc:
        return IngestReport.refused(path.name, str(exc)).to_dict()


def _sweep(spool: Path) -> None:
    """Remove the dashboard's uploads older than UPLOAD_HOURS (never launched)."""
    cutoff = time.time() - UPLOAD_HOURS * 3600
    for owner in spool.glob(f"*/{OWNER}"):
        try:
            if owner.stat().st_mtime < cutoff:
                shutil.rmtree(owner.parent, ignore_errors=True)
        except OSError:
            pass


@router.post("/campaigns/new")
async def preview(request: Request, user: SignedIn = Depends(operator)):
    """Spool the file, check the options and the file, and show the report."""
    from campaigns.web.uploads import spool_form

    if not same_origin(request):
        raise NotAllowed("refused: the form was sent from another site")
    rt = request.app.state.runtime
    spooled = await spool_form(request, rt.spool, rt.settings.max_file_bytes)
    values = {k: v for k, v in spooled.fields.items() if k in OPTION_FIELDS}
    try:
        check_csrf(request, user, spooled.fields.get(CSRF_FIELD))
        if spooled.path is None or spooled.size == 0:
            spooled.discard()
            return _form_page(request, values, [{"field": "file", "message": "choose a recipient file (not empty)"}],
                              status=422)
        try:
            options = _options(spooled.fields)
        except Problem as exc:
            spooled.discard()
            return _form_page(request, values, exc.errors or [{"field": "form", "message": exc.detail}], status=422)
        report = await run_in_threadpool(_validate, spooled.path, options, spooled.label or spooled.path.name, rt)
        if report["sendable"]:
            (spooled.path.parent / OWNER).write_text(str(user.user_id))
        else:
            spooled.discard()  # nothing to launch: the report is all there is
        await run_in_threadpool(_sweep, rt.spool)
    except BaseException:
        spooled.discard()
        raise
    return page(request, "preview.html", {"title": "Check before sending", "report": report, "values": values,
                                          "upload": spooled.path.parent.name, "label": spooled.label,
                                          "options": options.model_dump(exclude_none=True)})


def _upload(spool: Path, upload_id: str, user: SignedIn) -> Path | None:
    """The uploaded file of ``upload_id`` when ``user`` made it; None when it is gone."""
    if not _UPLOAD_ID.fullmatch(upload_id or ""):
        raise Problem(404, "no such upload")
    folder = spool / upload_id
    owner = folder / OWNER
    if not owner.exists():
        return None
    if owner.read_text().strip() != str(user.user_id):
        raise NotAllowed("this upload belongs to another user")
    files = [p for p in folder.iterdir() if p.name != OWNER]
    return files[0] if files else None


def _discard(path: Path) -> None:
    shutil.rmtree(path.parent, ignore_errors=True)


@router.post("/campaigns/launch")
async def launch(request: Request, user: SignedIn = Depends(operator)):
    """Submit the previewed upload (once per upload, however many clicks) and show it."""
    from campaigns.services.enqueue import Idempotency, enqueue_file, request_fingerprint

    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    check_csrf(request, user, fields.get(CSRF_FIELD))
    rt = request.app.state.runtime
    upload_id = fields.get("upload", "")
    path = _upload(rt.spool, upload_id, user)
    options = _options(fields)
    label = fields.get("label") or (path.name if path else "upload")
    submit = submit_request(options, label)
    once_key = Idempotency(f"dashboard:{user.user_id}", upload_id, request_fingerprint(submit, upload_id))
    missing = path or (rt.spool / upload_id / "gone")
    try:
        once = await run_in_threadpool(enqueue_file, missing, submit, rt.settings, rt.engine, rt.dispatch,
                                       idempotency=once_key)
    except FileNotFoundError:
        raise Problem(410, "this upload is gone (launched already, or older than a day): upload the file again") \
            from None
    except Exception as exc:
        problem = submit_problem(exc)
        if problem is None:
            raise
        raise problem from None
    if path is not None:
        await run_in_threadpool(_discard, path)
    return RedirectResponse(f"/campaigns/{once.campaign_id}", status_code=303)
