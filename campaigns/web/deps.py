"""Small dependencies the routes take: the settings, a unit-of-work factory, the runtime
(dispatcher, spool folder), and the current token with the scope a route needs.

Everything comes from ``app.state`` (built in the lifespan), never from globals.
"""

from __future__ import annotations

from typing import Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from campaigns.services.tokens import TokenIdentity, verify_token
from campaigns.settings import Settings
from campaigns.store.uow import UnitOfWork
from campaigns.web.problems import Problem
from campaigns.web.runtime import Runtime

_bearer = HTTPBearer(auto_error=False, description="A token made with `campaigns token create NAME --scope …`.")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="campaigns"'}


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def settings(request: Request) -> Settings:
    return request.app.state.runtime.settings


def uow_factory(request: Request) -> Callable[[], UnitOfWork]:
    return request.app.state.runtime.uow_factory


def require(scope: str):
    """A dependency that answers 401 without a valid token and 403 when the token's scope
    does not include ``scope``; returns the token's identity."""

    def current_token(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> TokenIdentity:
        if credentials is None:
            raise Problem(401, "this route needs an 'Authorization: Bearer <token>' header", kind="unauthorized",
                          headers=CHALLENGE)
        identity = verify_token(credentials.credentials, request.app.state.runtime.uow_factory)
        if identity is None:
            raise Problem(401, "the token is unknown or revoked", kind="unauthorized", headers=CHALLENGE)
        if not identity.allows(scope):
            raise Problem(403, f"the token {identity.name!r} has scope {identity.scope!r}; this route needs {scope!r}",
                          kind="forbidden")
        return identity

    return current_token
