"""``/v1/inbound``: incoming messages (SMSC's replies), newest first, each with the
campaign and recipient it answers when known."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Depends, Query

from campaigns.services.tokens import TokenIdentity
from campaigns.web import schemas
from campaigns.web.callback_schemas import InboundPage
from campaigns.web.deps import require, runtime
from campaigns.web.runtime import Runtime

router = APIRouter(prefix="/v1/inbound", tags=["inbound"])
ERRORS = {401: {"model": schemas.Problem}, 403: {"model": schemas.Problem}}


@router.get("", response_model=InboundPage, responses=ERRORS, summary="Incoming messages, newest first")
def get_inbound(
    campaign: Optional[int] = Query(None, ge=1, description="Only replies to this campaign."),
    before: Optional[int] = Query(None, ge=1, description="The cursor of the previous page."),
    limit: int = Query(50, ge=1, le=500),
    _: TokenIdentity = Depends(require("read")),
    rt: Runtime = Depends(runtime),
):
    from campaigns.services.callbacks import list_inbound

    items, cursor = list_inbound(rt.uow_factory, campaign_id=campaign, before_id=before, limit=limit)
    return {"items": items, "next_cursor": cursor}
