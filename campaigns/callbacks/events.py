"""The value a verified callback becomes, and the refusal of one that is not.

    CallbackRefused(status, detail)   400 unreadable, 403 not signed right, 413 too large
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_BODY = 64 * 1024  # a status or an SMS is a few hundred bytes; anything far larger is not one

STATUS, INBOUND, CALL, OTHER = "status", "inbound", "call", "other"


@dataclass(frozen=True)
class Event:
    """One pushed event: ``key`` is unique per provider and the same for every redelivery."""

    provider: str  # smsc | mobizon
    kind: str  # status | inbound | call | other
    key: str
    payload: dict[str, str] = field(default_factory=dict)


class CallbackRefused(ValueError):
    """A callback that is not stored: ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail
