"""Pages of the other features, each a template and a route reading that feature's own
service: schedules (issue 13), the watched bucket (issue 12), incoming replies and opt-outs
(issue 11). ``PAGES`` is the menu; ``approve`` is the button of a run awaiting approval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from campaigns.services.errors import CampaignNotFound
from campaigns.services.users import SignedIn
from campaigns.web.dashboard.auth import check_csrf, need
from campaigns.web.dashboard.render import DashboardRoute, page
from campaigns.web.problems import Problem

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
viewer, operator = need("viewer"), need("operator")
PAGE = 50


@dataclass(frozen=True)
class ExtraPage:
    href: str
    title: str
    role: str = "viewer"


PAGES = [ExtraPage("/schedules", "Schedules"), ExtraPage("/bucket", "Watched bucket"),
         ExtraPage("/inbound", "Replies"), ExtraPage("/opt-outs", "Opt-outs")]


def available_pages() -> list[ExtraPage]:
    return list(PAGES)


def _cursor(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() and len(raw) <= 18 else None


@router.get("/schedules")
def schedules_page(request: Request, _: SignedIn = Depends(viewer)):
    from campaigns.schedules.clock import schedule_clock
    from campaigns.schedules.manage import list_schedules

    rt = request.app.state.runtime
    items = list_schedules(rt.uow_factory, now=schedule_clock(rt.settings)())
    return page(request, "schedules.html", {"title": "Schedules", "items": items})


@router.get("/bucket")
def bucket_page(request: Request, _: SignedIn = Depends(viewer)):
    from campaigns.intake.locations import LocationError
    from campaigns.intake.overview import drops_by_location

    rt = request.app.state.runtime
    try:
        locations = drops_by_location(rt.settings, rt.uow_factory, limit=PAGE)
        error = None
    except LocationError as exc:
        locations, error = [], str(exc)
    return page(request, "bucket.html", {"title": "Watched bucket", "locations": locations, "error": error,
                                         "groups": ("waiting", "in_progress", "processed", "rejected")})


@router.get("/inbound")
def inbound_page(request: Request, campaign: Optional[str] = None, before: Optional[str] = None,
                 _: SignedIn = Depends(viewer)):
    from campaigns.services.callbacks import list_inbound

    rt = request.app.state.runtime
    campaign_id = _cursor(campaign)
    items, next_id = list_inbound(rt.uow_factory, campaign_id=campaign_id, before_id=_cursor(before), limit=PAGE)
    return page(request, "inbound.html", {"title": "Replies", "items": items, "next_id": next_id,
                                          "campaign": campaign_id})


@router.get("/opt-outs")
def opt_outs_page(request: Request, after: Optional[str] = None, _: SignedIn = Depends(viewer)):
    from campaigns.services.suppression import count_suppressions, list_suppressions

    rt = request.app.state.runtime
    after = after if after and after.isdigit() and len(after) <= 20 else None
    entries = list_suppressions(rt.uow_factory, after=after, limit=PAGE + 1)
    more = len(entries) > PAGE
    entries = entries[:PAGE]
    return page(request, "opt_outs.html", {"title": "Opt-outs", "items": [e.to_dict() for e in entries],
                                           "total": count_suppressions(rt.uow_factory),
                                           "next_after": entries[-1].phone if more and entries else None})


@router.post("/campaigns/{campaign_id:int}/approve")
def approve(request: Request, campaign_id: int, csrf_token: str = Form(""), user: SignedIn = Depends(operator)):
    """Start a scheduled run that waits for a person."""
    from campaigns.services.approval import CannotApprove, approve_campaign

    check_csrf(request, user, csrf_token)
    rt = request.app.state.runtime
    try:
        steps = approve_campaign(campaign_id, rt.uow_factory)
    except CampaignNotFound as exc:
        raise Problem(404, str(exc)) from None
    except CannotApprove as exc:
        raise Problem(409, str(exc)) from None
    rt.dispatch(steps)
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)
