"""``/v1/tokens``: an admin token manages the API's tokens (as ``campaigns token`` does)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from campaigns.services.tokens import TokenError, TokenIdentity, TokenNotFound, create_token, list_tokens, revoke_token
from campaigns.web import schemas
from campaigns.web.deps import require, runtime
from campaigns.web.problems import Problem
from campaigns.web.runtime import Runtime

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])
ERRORS = {401: {"model": schemas.Problem}, 403: {"model": schemas.Problem}}


@router.get("", response_model=list[schemas.TokenEntry], responses=ERRORS, summary="List tokens")
def get_tokens(_: TokenIdentity = Depends(require("admin")), rt: Runtime = Depends(runtime)):
    return list_tokens(rt.uow_factory)


@router.post("", status_code=201, response_model=schemas.TokenCreated,
             responses={**ERRORS, 422: {"model": schemas.Problem}}, summary="Make a token (shown once)")
def post_token(body: schemas.TokenIn, _: TokenIdentity = Depends(require("admin")), rt: Runtime = Depends(runtime)):
    try:
        token, entry = create_token(body.name, body.scope, rt.uow_factory)
    except TokenError as exc:
        raise Problem(422, str(exc), kind="invalid-request", errors=[{"field": "name", "message": str(exc)}]) from None
    return {**entry, "token": token}


@router.post("/{name}/revoke", response_model=schemas.TokenEntry,
             responses={**ERRORS, 404: {"model": schemas.Problem}}, summary="Revoke a token")
def post_revoke(name: str, _: TokenIdentity = Depends(require("admin")), rt: Runtime = Depends(runtime)):
    try:
        return revoke_token(name, rt.uow_factory)
    except TokenNotFound as exc:
        raise Problem(404, str(exc), kind="not-found") from None
