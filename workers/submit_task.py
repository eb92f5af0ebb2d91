"""``campaigns.submit``: the named task other applications send through the shared broker.

    app.send_task("campaigns.submit", kwargs={"source": "s3://crm/exports/today.csv",
                  "text": "Hello {name}", "idempotency_key": "crm-2026-12-04", …})

The task reads the source (a path or ``file://``/``s3://``/``https://`` URL the workers can
read), submits it as ``campaigns submit`` would, and queues the campaign: exactly one
campaign per ``idempotency_key`` however often the message is delivered. A source that is
temporarily unreachable is retried with backoff; a refused file or bad options are logged
with the key (nothing is stored) and not retried.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from workers.constants import TASK_SUBMIT

if TYPE_CHECKING:
    from celery import Celery

    from workers.context import WorkerContext

log = logging.getLogger(__name__)
SOURCE_RETRIES = 8
OPTIONS = ("name", "provider", "sender", "country", "placeholders", "rate_limit", "rate_period", "deferred_to",
           "validity", "mclass", "encoding", "sheet", "excel_engine", "ignore_suppression")


def submit_from_source(ctx: "WorkerContext", source: str, text: str, idempotency_key: str | None,
                       options: dict) -> dict:
    """Submit ``source`` with ``text`` and ``options``; returns ``{"campaign_id", "created"}``.
    Raises SourceError, and the submit services' refusals (ValueError, FileRefused)."""
    from campaigns.services.enqueue import Idempotency, enqueue_source, request_fingerprint
    from campaigns.services.submit import SubmitRequest

    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(OPTIONS)}")
    request = SubmitRequest(text=text, **{k: v for k, v in options.items() if v is not None})
    idempotency = None
    if idempotency_key is not None:
        idempotency = Idempotency("task", str(idempotency_key), request_fingerprint(request, source))
    once = enqueue_source(source, request, ctx.settings, ctx.engine, ctx.dispatch,
                          workdir=Path(ctx.settings.data_dir) / "spool", idempotency=idempotency)
    return {"campaign_id": once.campaign_id, "created": once.created}


def register_submit_task(app: "Celery", get_context: Callable[[], "WorkerContext"]) -> None:
    """Register ``campaigns.submit`` on ``app``."""
    from campaigns.redact import redact
    from campaigns.sources import SourceError, describe_source

    @app.task(name=TASK_SUBMIT, bind=True, ignore_result=True, shared=False)
    def submit(self, source: str, text: str, idempotency_key: str | None = None, **options) -> dict | None:
        shown = describe_source(str(source))
        try:
            result = submit_from_source(get_context(), str(source), text, idempotency_key, options)
        except SourceError as exc:
            if exc.temporary and self.request.retries < SOURCE_RETRIES:
                raise self.retry(countdown=min(5 * 2 ** self.request.retries, 600), max_retries=SOURCE_RETRIES)
            log.error("campaigns.submit %s (key %s) refused: %s", shown, idempotency_key, exc)
            return None
        except Exception as exc:  # noqa: BLE001 - a refusal: log it, never retry it
            from campaigns.ingest.readers import FileRefused

            if not isinstance(exc, (ValueError, LookupError, FileRefused)):
                raise
            log.error("campaigns.submit %s (key %s) refused: %s", shown, idempotency_key, redact(str(exc)))
            return None
        log.info("campaigns.submit %s (key %s): campaign %s%s", shown, idempotency_key, result["campaign_id"],
                 "" if result["created"] else " (already made for this key)")
        return result
