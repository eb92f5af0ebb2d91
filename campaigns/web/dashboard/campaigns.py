"""The campaigns list and a campaign's page: its live summary, charts' data, recipient
table, report download, and the cancel / resume buttons. Each route reads one service."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from starlette.background import BackgroundTask

from campaigns.services.errors import CampaignNotFound, CannotCancel, CannotResume
from campaigns.services.users import SignedIn
from campaigns.sources.spool import remove_spooled, spool_path
from campaigns.web.dashboard.auth import check_csrf, need
from campaigns.web.dashboard.render import DashboardRoute, page
from campaigns.web.problems import Problem

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
PAGE = 50
LEDGER_PAGE = 50
viewer, operator = need("viewer"), need("operator")


def _cursor(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() and len(raw) <= 18 else None


def _list(request: Request, state: str | None, q: str | None, before: str | None) -> dict:
    from campaigns.services.overview import STATES, campaign_rows

    state = state if state in STATES else None
    q = (q or "").strip()[:255] or None
    items, next_id = campaign_rows(request.app.state.runtime.uow_factory, state=state, search=q,
                                   before_id=_cursor(before), limit=PAGE)
    return {"items": items, "next_id": next_id, "state": state, "q": q or "", "states": STATES,
            "live": any(i["state"] not in ("done", "failed", "cancelled", "paused") for i in items)}


@router.get("/")
def home():
    return RedirectResponse("/campaigns", status_code=303)


@router.get("/campaigns")
def campaigns_page(request: Request, state: Optional[str] = None, q: Optional[str] = None,
                   before: Optional[str] = None, _: SignedIn = Depends(viewer)):
    return page(request, "campaigns.html", {"title": "Campaigns", **_list(request, state, q, before)})


@router.get("/campaigns/rows")
def campaigns_rows(request: Request, state: Optional[str] = None, q: Optional[str] = None,
                   before: Optional[str] = None, _: SignedIn = Depends(viewer)):
    """The list's rows alone: what the page fetches to update itself."""
    return page(request, "campaign_rows.html", _list(request, state, q, before))


def _view(request: Request, campaign_id: int) -> dict:
    from campaigns.services.overview import campaign_view

    try:
        return campaign_view(campaign_id, request.app.state.runtime.uow_factory)
    except CampaignNotFound as exc:
        raise Problem(404, str(exc)) from None


def _ledger(request: Request, campaign_id: int, status: str | None, after: str | None) -> dict:
    from campaigns.services.ledger import STATUSES
    from campaigns.services.overview import recipients_page

    status = status if status in STATUSES else None
    try:
        found = recipients_page(campaign_id, request.app.state.runtime.uow_factory, status=status,
                                after_row=_cursor(after) or 0, limit=LEDGER_PAGE)
    except CampaignNotFound as exc:
        raise Problem(404, str(exc)) from None
    return {"rows": found.items, "next_row": found.next_cursor, "status": status, "statuses": STATUSES,
            "after": _cursor(after) or 0}


@router.get("/campaigns/{campaign_id:int}")
def campaign_page(request: Request, campaign_id: int, status: Optional[str] = None, after: Optional[str] = None,
                  _: SignedIn = Depends(viewer)):
    view = _view(request, campaign_id)
    return page(request, "campaign.html", {"title": view["name"], "c": view,
                                           "ledger": _ledger(request, campaign_id, status, after)})


@router.get("/campaigns/{campaign_id:int}/live")
def campaign_live(request: Request, campaign_id: int, _: SignedIn = Depends(viewer)):
    """The page's summary alone (state, progress, counts, buttons): what it fetches to update itself."""
    return page(request, "campaign_live.html", {"c": _view(request, campaign_id)})


@router.get("/campaigns/{campaign_id:int}/charts.json")
def campaign_charts(request: Request, campaign_id: int, _: SignedIn = Depends(viewer)):
    """The two charts' data: the funnel (and what fell out beside it), the counters over time."""
    from campaigns.services.overview import counter_series

    view = _view(request, campaign_id)
    series = counter_series(campaign_id, request.app.state.runtime.uow_factory)
    return JSONResponse({"funnel": view["funnel"], "beside": view["beside"], "series": series,
                         "finished": view["finished"]}, headers={"Cache-Control": "no-store"})


@router.get("/campaigns/{campaign_id:int}/recipients")
def campaign_recipients(request: Request, campaign_id: int, status: Optional[str] = None,
                        after: Optional[str] = None, _: SignedIn = Depends(viewer)):
    return page(request, "ledger.html", {"c": {"id": campaign_id}, "ledger": _ledger(request, campaign_id, status, after)})


@router.get("/campaigns/{campaign_id:int}/report.{fmt}")
def campaign_report(request: Request, campaign_id: int, fmt: str, _: SignedIn = Depends(viewer)):
    from campaigns.services.report import export_report

    if fmt not in ("csv", "xlsx"):
        raise Problem(404, "the report is report.csv or report.xlsx")
    rt = request.app.state.runtime
    path = spool_path(rt.spool, f"campaign-{campaign_id}.{fmt}")
    try:
        export_report(campaign_id, rt.uow_factory, path)
    except CampaignNotFound as exc:
        remove_spooled(path)
        raise Problem(404, str(exc)) from None
    except BaseException:
        remove_spooled(path)
        raise
    media = "text/csv; charset=utf-8" if fmt == "csv" else \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return FileResponse(path, media_type=media, filename=f"campaign-{campaign_id}-report.{fmt}",
                        background=BackgroundTask(remove_spooled, path))


@router.post("/campaigns/{campaign_id:int}/cancel")
def cancel(request: Request, campaign_id: int, csrf_token: str = Form(""), user: SignedIn = Depends(operator)):
    from campaigns.services.cancel import cancel_campaign

    check_csrf(request, user, csrf_token)
    rt = request.app.state.runtime
    view = _view(request, campaign_id)
    try:
        with rt.provider(view["provider"]) as provider:
            cancel_campaign(campaign_id, rt.uow_factory, provider, abandoned_after=rt.settings.stall_seconds)
    except CannotCancel as exc:
        raise Problem(409, str(exc)) from None
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


@router.post("/campaigns/{campaign_id:int}/resume")
def resume(request: Request, campaign_id: int, csrf_token: str = Form(""), user: SignedIn = Depends(operator)):
    from campaigns.services.resume import resume_campaign

    check_csrf(request, user, csrf_token)
    rt = request.app.state.runtime
    try:
        steps = resume_campaign(campaign_id, rt.uow_factory)
    except CampaignNotFound as exc:
        raise Problem(404, str(exc)) from None
    except CannotResume as exc:
        raise Problem(409, str(exc)) from None
    rt.dispatch(steps)
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)
