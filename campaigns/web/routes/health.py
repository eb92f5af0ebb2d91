"""``GET /healthz``: 200 when the database (and the broker, when configured) answer, 503
otherwise. Needs no token and says nothing secret."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from campaigns.web import schemas
from campaigns.web.deps import runtime
from campaigns.web.runtime import Runtime

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=schemas.Health, responses={503: {"model": schemas.Health}})
def healthz(rt: Runtime = Depends(runtime)):
    checks = rt.health()
    ok = all(value == "ok" for value in checks.values())
    return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)
