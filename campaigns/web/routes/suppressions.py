"""``/v1/suppressions``: the phones that get no campaign (opt-outs). Reading needs the
``read`` scope, changing the list ``submit``."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Depends, Query, Response

from campaigns.services.suppression import (
    SuppressionError, add_suppression, get_suppression, list_suppressions, remove_suppression,
)
from campaigns.services.tokens import TokenIdentity
from campaigns.web import schemas
from campaigns.web.callback_schemas import SuppressionEntry, SuppressionIn, SuppressionPage
from campaigns.web.deps import require, runtime
from campaigns.web.problems import Problem
from campaigns.web.runtime import Runtime

router = APIRouter(prefix="/v1/suppressions", tags=["suppressions"])
ERRORS = {status: {"model": schemas.Problem} for status in (401, 403)}


def _invalid(exc: SuppressionError) -> Problem:
    return Problem(422, str(exc), kind="invalid-request", errors=[{"field": "phone", "message": str(exc)}])


@router.get("", response_model=SuppressionPage, responses=ERRORS, summary="The suppressed phones, by number")
def get_suppressions(
    after: Optional[str] = Query(None, max_length=20, description="The cursor of the previous page."),
    limit: int = Query(100, ge=1, le=1000),
    _: TokenIdentity = Depends(require("read")),
    rt: Runtime = Depends(runtime),
):
    entries = list_suppressions(rt.uow_factory, after=after, limit=limit + 1)
    more = len(entries) > limit
    entries = entries[:limit]
    return {"items": [e.to_dict() for e in entries], "next_cursor": entries[-1].phone if more and entries else None}


@router.post("", status_code=201, response_model=SuppressionEntry,
             responses={**ERRORS, 200: {"model": SuppressionEntry, "description": "Already listed"},
                        422: {"model": schemas.Problem}},
             summary="Suppress a phone")
def post_suppression(body: SuppressionIn, response: Response, _: TokenIdentity = Depends(require("submit")),
                     rt: Runtime = Depends(runtime)):
    try:
        entry, new = add_suppression(rt.uow_factory, body.phone, reason=body.reason, source="api", country=body.country)
    except SuppressionError as exc:
        raise _invalid(exc) from None
    if not new:
        response.status_code = 200
    return entry.to_dict()


@router.get("/{phone}", response_model=SuppressionEntry,
            responses={**ERRORS, 404: {"model": schemas.Problem}, 422: {"model": schemas.Problem}},
            summary="Whether a phone is suppressed")
def get_one(phone: str, country: Optional[str] = Query(None, min_length=2, max_length=2),
            _: TokenIdentity = Depends(require("read")), rt: Runtime = Depends(runtime)):
    try:
        entry = get_suppression(rt.uow_factory, phone, country=country)
    except SuppressionError as exc:
        raise _invalid(exc) from None
    if entry is None:
        raise Problem(404, "this phone is not suppressed", kind="not-found")
    return entry.to_dict()


@router.delete("/{phone}", status_code=204, responses={**ERRORS, 404: {"model": schemas.Problem}},
               summary="Take a phone off the list")
def delete_one(phone: str, country: Optional[str] = Query(None, min_length=2, max_length=2),
               _: TokenIdentity = Depends(require("submit")), rt: Runtime = Depends(runtime)):
    try:
        gone = remove_suppression(rt.uow_factory, phone, country=country)
    except SuppressionError as exc:
        raise _invalid(exc) from None
    if not gone:
        raise Problem(404, "this phone is not suppressed", kind="not-found")
    return Response(status_code=204)
