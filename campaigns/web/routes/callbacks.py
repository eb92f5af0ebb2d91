"""The providers' callbacks (issue 11): ``POST /callbacks/smsc`` (seed 004) and
``POST /callbacks/mobizon`` (PROVIDERS.md). No bearer token: each call is verified by its
signature. A verified event is stored in a short transaction of its own before the answer
(so a 200 means it is kept), then applied by the process's applier thread.

Answers: 200 stored (also for a redelivery, and for a message this database does not
know: the provider would otherwise retry for hours); 400 a body that cannot be read; 403 a
missing or wrong signature, or no secret configured; 413 a body over 64 KiB. Errors are
plain text: the providers only look at the status.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from campaigns.callbacks.events import MAX_BODY, CallbackRefused
from campaigns.web.runtime import Runtime

router = APIRouter(prefix="/callbacks", tags=["callbacks"])
log = logging.getLogger("campaigns.callbacks")


async def _body(request: Request) -> bytes:
    """The body, refused (413) as soon as it passes MAX_BODY."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise CallbackRefused(413, f"the body is larger than {MAX_BODY:,} bytes")
    parts, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > MAX_BODY:
            raise CallbackRefused(413, f"the body is larger than {MAX_BODY:,} bytes")
        parts.append(part)
    return b"".join(parts)


def _writer(rt: Runtime):
    """The runtime's event writer (group commit) and applier threads, started with the
    first event and closed with the runtime, before its engine."""
    writer = getattr(rt, "_callbacks_writer", None)
    if writer is None:
        from campaigns.callbacks.applier import Applier
        from campaigns.callbacks.writer import EventWriter

        applier = Applier(rt.uow_factory, rt.settings)
        writer = rt._callbacks_writer = EventWriter(rt.engine, on_stored=applier.notify)
        # closed in reverse order, before the engine (the first entry): the writer stores its
        # last events, then the applier stops
        rt._close += [applier.close, writer.close]
    return writer


async def _store(request: Request, read) -> None:
    rt: Runtime = request.app.state.runtime
    event = read(await _body(request), rt.settings)
    await _writer(rt).store(event)


def _refused(provider: str, exc: CallbackRefused) -> PlainTextResponse:
    log.warning("%s callback refused (%s): %s", provider, exc.status, exc.detail)
    return PlainTextResponse(exc.detail + "\n", status_code=exc.status)


@router.post("/smsc", summary="SMSC's handler: delivery statuses, incoming SMS, call confirmations",
             response_class=PlainTextResponse)
async def smsc_callback(request: Request):
    """Form-encoded (or ``fmt=3`` JSON, ``fmt=2`` XML) in the URL's ``charset``, signed with
    md5, sha1 or crc32 of the kind's string and SMSC_CALLBACK_SECRET (seed 004)."""
    from campaigns.callbacks.smsc import read_smsc

    query = dict(request.query_params)

    def read(body: bytes, settings):
        return read_smsc(body, query, secret=settings.smsc_callback_secret, insecure=settings.smsc_callback_insecure)

    try:
        await _store(request, read)
    except CallbackRefused as exc:
        return _refused("SMSC", exc)
    return PlainTextResponse("OK\n")


@router.post("/mobizon", summary="Mobizon's webhook: one final SMS status per call")
async def mobizon_callback(request: Request):
    """The webhook's JSON, ``sign`` = sha1("eventId|attempt|eventCreateTs|secret") with
    MOBIZON_WEBHOOK_SECRET."""
    from campaigns.callbacks.mobizon import read_mobizon

    def read(body: bytes, settings):
        return read_mobizon(body, secret=settings.mobizon_webhook_secret, insecure=settings.mobizon_webhook_insecure)

    try:
        await _store(request, read)
    except CallbackRefused as exc:
        return _refused("Mobizon", exc)
    return JSONResponse({"ok": True})


def install(app, settings) -> None:
    """Add the receivers, ``/v1/inbound``, ``/v1/suppressions`` and
    ``/v1/campaigns/{id}/delivery`` to ``app``, and say at start-up which receivers refuse
    everything for want of a secret."""
    from starlette.routing import Route

    from campaigns.redact import register_secret
    from campaigns.web.routes import delivery, inbound, suppressions

    # SMSC's handler URL carries the secret (?md5=<secret>): an access log line must not
    for secret in (settings.smsc_callback_secret, settings.mobizon_webhook_secret):
        if secret:
            register_secret(secret)
    # The receivers are served by plain Starlette routes ahead of every other route:
    # FastAPI tries routes in order (the dashboard's and the API's ahead cost ~0.4 ms of
    # matching) and its request machinery adds more; the receivers need neither (measured
    # with bench/callbacks.py: ~450 -> ~390 µs of server CPU an event). The FastAPI routes
    # behind them only document the receivers in the OpenAPI document.
    app.router.routes[:0] = [
        Route("/callbacks/smsc", smsc_callback, methods=["POST"]),
        Route("/callbacks/mobizon", mobizon_callback, methods=["POST"]),
    ]
    app.include_router(router)
    app.include_router(inbound.router)
    app.include_router(delivery.router)
    app.include_router(suppressions.router)
    warn_unconfigured(settings)


def warn_unconfigured(settings) -> None:
    """Say at start-up which receivers refuse everything for want of a secret."""
    if not settings.smsc_callback_secret and not settings.smsc_callback_insecure:
        log.warning("POST /callbacks/smsc refuses every call: set SMSC_CALLBACK_SECRET (or SMSC_CALLBACK_INSECURE=1)")
    if not settings.mobizon_webhook_secret and not settings.mobizon_webhook_insecure:
        log.warning("POST /callbacks/mobizon refuses every call: set MOBIZON_WEBHOOK_SECRET "
                    "(or MOBIZON_WEBHOOK_INSECURE=1)")
