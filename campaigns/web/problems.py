"""Errors as RFC 9457 problem details (``application/problem+json``), in one place.

Routes raise ``Problem`` (or let a service error through); the handlers here turn every
error into ``{"type", "title", "status", "detail", "errors"?}``. Nothing a client sends
ever yields a 500; the catch-all logs one redacted line and answers a generic 500.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from campaigns.redact import redact

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://campaigns.invalid/problems/"


class Problem(Exception):
    """An error answer: ``status``, a one-line ``detail``, optional field ``errors`` and
    extension members (``extra``), and headers."""

    def __init__(self, status: int, detail: str, *, kind: str | None = None, errors: list[dict] | None = None,
                 headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.errors = errors
        self.headers = headers
        self.extra = extra


def problem_response(status: int, detail: str, *, kind: str | None = None, errors: list[dict] | None = None,
                     headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": TYPE_BASE + (kind or title.lower().replace(" ", "-")),
        "title": title,
        "status": status,
        "detail": redact(detail),
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _field(loc) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def field_errors(errors) -> list[dict]:
    """Pydantic's errors as ``[{"field", "message"}]``; input values are left out (they may
    hold anything a client sent)."""
    out = []
    for err in errors:
        message = str(err.get("msg", "invalid"))
        out.append({"field": _field(err.get("loc", ())), "message": message})
    return out


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem response."""

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem):
        return problem_response(exc.status, exc.detail, kind=exc.kind, errors=exc.errors, headers=exc.headers,
                                **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError):
        errors = field_errors(exc.errors())
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "the request is not valid"
        return problem_response(422, detail, kind="invalid-request", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return problem_response(exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception):
        log.error("unexpected error: %s: %s", type(exc).__name__, redact(str(exc)))
        return problem_response(500, "an unexpected error occurred; it has been logged", kind="internal")
