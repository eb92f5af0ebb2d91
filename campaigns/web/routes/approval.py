"""``POST /v1/campaigns/{campaign_id}/approve``: start a scheduled run that awaits approval
(as ``campaigns approve ID``); drop one with ``/cancel``."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from campaigns.services.approval import CannotApprove
from campaigns.services.errors import CampaignNotFound
from campaigns.services.tokens import TokenIdentity
from campaigns.web import schemas
from campaigns.web.deps import require, runtime
from campaigns.web.problems import Problem
from campaigns.web.runtime import Runtime

router = APIRouter(tags=["campaigns"])
ERRORS = {401: {"model": schemas.Problem}, 403: {"model": schemas.Problem}, 404: {"model": schemas.Problem}}


@router.post("/v1/campaigns/{campaign_id}/approve", response_model=schemas.CampaignStatus,
             responses={**ERRORS, 409: {"model": schemas.Problem, "description": "The campaign is not awaiting approval"}},
             summary="Approve a scheduled run")
def approve(campaign_id: int, _: TokenIdentity = Depends(require("submit")), rt: Runtime = Depends(runtime)):
    from campaigns.services.approval import approve_campaign
    from campaigns.services.status import campaign_status

    try:
        steps = approve_campaign(campaign_id, rt.uow_factory)
    except CampaignNotFound as exc:
        raise Problem(404, str(exc), kind="not-found") from None
    except CannotApprove as exc:
        raise Problem(409, str(exc), kind="cannot-approve") from None
    rt.dispatch(steps)
    return campaign_status(campaign_id, rt.uow_factory)
