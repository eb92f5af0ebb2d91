"""Mobizon's webhook (PROVIDERS.md): one POST per message at its final status,

    {"eventId", "eventType": "sms-delivery-report", "eventCreateTs", "webhookId", "attempt",
     "data": {"campaignId", "messageId", "segNum", "statusUpdateTs", "status", "to"},
     "sign": sha1("eventId|attempt|eventCreateTs|secret")}

answered 2xx within 5 s or retried up to 10 times, de-duplicated on ``eventId``.
``read_mobizon`` never raises anything but CallbackRefused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from campaigns.callbacks.events import MAX_BODY, OTHER, STATUS, CallbackRefused, Event

DELIVERY_REPORT = "sms-delivery-report"
DATA_FIELDS = ("campaignId", "messageId", "segNum", "statusUpdateTs", "status", "to")


def sign(event: dict[str, Any], secret: str) -> str:
    """The ``sign`` Mobizon sends with ``event``."""
    data = f"{event.get('eventId', '')}|{event.get('attempt', '')}|{event.get('eventCreateTs', '')}|{secret}"
    return hashlib.sha1(data.encode("utf-8")).hexdigest()


def read_mobizon(body: bytes, *, secret: str | None, insecure: bool = False) -> Event:
    """The event of one webhook call. Raises CallbackRefused: 413 over MAX_BODY, 400 for a
    body that is not the webhook's JSON, 403 for a missing or wrong ``sign`` (and for any
    call when MOBIZON_WEBHOOK_SECRET is not set, unless ``insecure``)."""
    if len(body) > MAX_BODY:
        raise CallbackRefused(413, f"the body is larger than {MAX_BODY:,} bytes")
    if not secret and not insecure:
        raise CallbackRefused(403, "Mobizon webhooks are refused: MOBIZON_WEBHOOK_SECRET is not set")
    if b"\\u0000" in body or b"\x00" in body:  # no text column can hold one; no webhook field has one
        raise CallbackRefused(400, "the body holds a NUL character")
    try:
        event = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CallbackRefused(400, "the body is not UTF-8 JSON") from None
    if not isinstance(event, dict):
        raise CallbackRefused(400, "the JSON body is not an object")
    for name in ("eventId", "attempt", "eventCreateTs"):
        if isinstance(event.get(name), (dict, list)) or event.get(name) in (None, ""):
            raise CallbackRefused(400, f"{name} is missing")
    if secret:
        given = event.get("sign")
        if not isinstance(given, str) or not given:
            raise CallbackRefused(403, "the webhook carries no sign")
        if not hmac.compare_digest(given.strip().lower().encode("ascii", "replace"), sign(event, secret).encode()):
            raise CallbackRefused(403, "the webhook's sign does not match")
    event_id = str(event["eventId"])
    if len(event_id) > 200:
        raise CallbackRefused(400, "eventId is longer than 200 characters")
    data = event.get("data")
    payload = {
        "eventId": event_id, "eventType": str(event.get("eventType", "")),
        "eventCreateTs": str(event["eventCreateTs"]), "webhookId": str(event.get("webhookId", "")),
    }
    if event.get("eventType") != DELIVERY_REPORT:
        return Event("mobizon", OTHER, event_id, payload)
    if not isinstance(data, dict):
        raise CallbackRefused(400, "data is missing")
    for name in DATA_FIELDS:
        value = data.get(name)
        if isinstance(value, (dict, list)):
            raise CallbackRefused(400, f"data.{name} is not a plain value")
        if value is not None:
            payload[name] = str(value)[:255]
    for name in ("messageId", "status"):
        if not payload.get(name):
            raise CallbackRefused(400, f"data.{name} is missing")
    return Event("mobizon", STATUS, event_id, payload)
