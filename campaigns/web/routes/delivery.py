"""``/v1/campaigns/{id}/delivery``: a campaign's sent messages by fate (issue 11), kept
current by callbacks and polling. Apart from the campaign's status, which the API answers
hundreds of times a second: these counts read the campaign's recipients."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from campaigns.services.errors import CampaignNotFound
from campaigns.services.tokens import TokenIdentity
from campaigns.web import schemas
from campaigns.web.deps import require, runtime
from campaigns.web.problems import Problem
from campaigns.web.runtime import Runtime

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])


class Delivery(BaseModel):
    delivered: int
    undelivered: int
    expired: int
    rejected: int
    pending: int


@router.get("/{campaign_id}/delivery", response_model=Delivery,
            responses={s: {"model": schemas.Problem} for s in (401, 403, 404)},
            summary="Sent messages by fate: delivered, undelivered, expired, rejected, pending")
async def get_delivery(campaign_id: int, _: TokenIdentity = Depends(require("read")), rt: Runtime = Depends(runtime)):
    from campaigns.services.callbacks import campaign_delivery

    try:
        return await run_in_threadpool(campaign_delivery, rt.uow_factory, campaign_id)
    except CampaignNotFound as exc:
        raise Problem(404, str(exc), kind="not-found") from None
