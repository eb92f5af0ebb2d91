"""``GET /metrics``: Prometheus's text format (campaigns.telemetry).

Open by default (counts only: no names, phones or texts); with CAMPAIGNS_METRICS_TOKEN set
it needs ``Authorization: Bearer <that token>`` (Prometheus's ``authorization`` in the
scrape config). API tokens and dashboard sessions are not accepted here.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, Request, Response

from campaigns.web.deps import runtime
from campaigns.web.problems import Problem
from campaigns.web.runtime import Runtime

router = APIRouter(tags=["metrics"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format 0.0.4"}})
def metrics(request: Request, rt: Runtime = Depends(runtime)) -> Response:
    from campaigns.telemetry.exposition import render

    expected = rt.settings.metrics_token
    if expected:
        from campaigns.redact import register_secret

        register_secret(expected)  # masked in any log line that would carry it
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            raise Problem(401, "this route needs 'Authorization: Bearer <CAMPAIGNS_METRICS_TOKEN>'",
                          kind="unauthorized", headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    body, content_type = render(rt.uow_factory)
    return Response(body, media_type=content_type)
