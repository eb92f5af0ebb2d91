"""Small dependencies the routes take: the settings, a unit-of-work factory, the runtime
(dispatcher, spool folder), and the current token with the scope a route needs.

Everything comes from ``app.state`` (built in the lifespan), never from globals.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from campaigns.services.tokens import TokenIdentity, touch_token, verify_token
from campaigns.settings import Settings
from campaigns.store.uow import UnitOfWork
from campaigns.web.problems import Problem
from campaigns.web.runtime import Runtime

log = logging.getLogger(__name__)
_bearer = HTTPBearer(auto_error=False, description="A token made with `campaigns token create NAME --scope …`.")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="campaigns"'}


# async: FastAPI runs a plain ``def`` dependency in the thread pool, a hop that cost
# more than what these do.
async def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def settings(request: Request) -> Settings:
    return request.app.state.runtime.settings


async def uow_factory(request: Request) -> Callable[[], UnitOfWork]:
    return request.app.state.runtime.uow_factory


def _touch(token_id: int, factory: Callable[[], UnitOfWork]) -> None:
    """Record a token's use; a failure (a locked database) only loses that record."""
    try:
        touch_token(token_id, factory)
    except Exception as exc:  # noqa: BLE001
        log.warning("could not record a token's use: %s", type(exc).__name__)


def require(scope: str):
    """A dependency that answers 401 without a valid token and 403 when the token's scope
    does not include ``scope``; returns the token's identity.

    The token is read on the event loop's thread (one primary-key read, see
    Runtime.loop_uow_factory); recording its use, a write, goes to the thread pool at
    most once a minute and is not waited for."""

    async def current_token(
        request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
    ) -> TokenIdentity:
        if credentials is None:
            raise Problem(401, "this route needs an 'Authorization: Bearer <token>' header", kind="unauthorized",
                          headers=CHALLENGE)
        rt: Runtime = request.app.state.runtime
        identity = verify_token(credentials.credentials, rt.loop_uow_factory)
        if identity is None:
            raise Problem(401, "the token is unknown or revoked", kind="unauthorized", headers=CHALLENGE)
        if identity.stale:
            asyncio.get_running_loop().run_in_executor(None, _touch, identity.id, rt.uow_factory)
        if not identity.allows(scope):
            raise Problem(403, f"the token {identity.name!r} has scope {identity.scope!r}; this route needs {scope!r}",
                          kind="forbidden")
        return identity

    return current_token
