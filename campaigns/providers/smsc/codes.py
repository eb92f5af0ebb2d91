"""SMSC's codes: the error codes of every script, and the message status codes.

Error codes (PROVIDERS.md, SMSC; seed 003) map onto ``campaigns.providers.errors``::

    send.php  1 parameters, 5 date format, 6 forbidden text or sender  -> PermanentError
              2 login/password or IP not allowed                       -> AuthError
              3 no funds                                               -> PermanentError (stops the campaign)
              4 IP blocked for a while after frequent errors           -> TemporaryError (nothing done)
              7 phone format, 8 undeliverable                          -> recipient outcomes, not errors
              9 identical request within a minute, or 15+ concurrent   -> Flood: "probably sent"
    status.php / get.php  1 parameters -> PermanentError, 2 -> AuthError,
              3 message not found -> data (status -3), 4 -> TemporaryError,
              9 too many requests -> RateLimited
"""

from __future__ import annotations

from campaigns.providers.errors import AuthError, PermanentError, ProviderError, RateLimited, TemporaryError
from campaigns.redact import redact

SEND_MEANINGS: dict[int, str] = {
    1: "SMSC refused the request's parameters",
    2: "SMSC refused the login and password (or API key), or this IP is not in the account's allowed list",
    3: "not enough funds on the SMSC account",
    4: "SMSC has blocked this IP for a while after frequent errors",
    5: "SMSC refused the date format",
    6: "SMSC refused the message: forbidden text or sender name",
    7: "the phone number's format is wrong",
    8: "SMSC cannot deliver a message to this number",
    9: "SMSC refused a repeated identical request (within a minute) or too many concurrent requests",
}
READ_MEANINGS: dict[int, str] = {
    1: "SMSC refused the request's parameters",
    2: "SMSC refused the login and password (or API key), or this IP is not in the account's allowed list",
    3: "message not found",
    4: "SMSC has blocked this IP for a while after frequent errors",
    9: "SMSC refused too many requests (history: 3 identical a minute or 30 an hour; or 15+ concurrent)",
}
RECIPIENT_CODES = frozenset({7, 8})  # send.php: outcomes of a recipient, not of the request
SENT = 0
SENT_MEANING = "sent"
ALREADY_SENT = "sent (found at SMSC after a lost response; not sent again)"

# status.php status codes (PROVIDERS.md). Our vocabulary is Mobizon's (port.MessageStatus),
# so reports read the same whatever the provider.
STATUS_NAMES: dict[int, tuple[str, bool, str]] = {
    -3: ("NEW", False, "not found (yet)"),
    -2: ("DELETED", True, "stopped"),
    -1: ("ENQUEUD", False, "waiting to be sent"),
    0: ("ACCEPTD", False, "passed to the operator"),
    1: ("DELIVRD", True, "delivered"),
    2: ("DELIVRD", True, "read"),
    3: ("EXPIRED", True, "expired"),
    4: ("DELIVRD", True, "link clicked"),
    20: ("UNDELIV", True, "undeliverable"),
    22: ("REJECTD", True, "wrong number"),
    23: ("REJECTD", True, "prohibited"),
    24: ("REJECTD", True, "no funds"),
    25: ("UNDELIV", True, "unavailable number"),
}
NOT_FOUND = -3
FLOOD_RETRY_AFTER = 60.0  # SMSC forgets an identical request after a minute (PROVIDERS.md)


class Flood(TemporaryError):
    """send.php error 9: a repeated identical request within a minute (so the first one
    probably went through) or too many concurrent requests. Never resend after it without
    reconciling through status.php first."""

    def __init__(self, message: str, **kw):
        kw.setdefault("maybe_done", True)
        super().__init__(message, **kw)


def status_name(code: int) -> tuple[str, bool, str]:
    """(our status name, final, SMSC's meaning) of a status.php code; unknown codes are
    final only when they are errors (>= 20)."""
    known = STATUS_NAMES.get(code)
    if known is not None:
        return known
    return ("UNDELIV", True, f"status {code}") if code >= 20 else ("ACCEPTD", False, f"status {code}")


def send_error(code: int, message: str, *, method: str = "send") -> ProviderError:
    """The exception for a send.php error code (not 7 or 8, which are recipient outcomes)."""
    meaning = SEND_MEANINGS.get(code, "SMSC refused the request")
    text = _text(meaning, message)
    if code == 2:
        return AuthError(text, code=code, method=method)
    if code == 9:
        return Flood(text, code=code, method=method)
    if code == 4:
        return TemporaryError(text, code=code, method=method, maybe_done=False)
    if code in (1, 3, 5, 6):
        return PermanentError(text, code=code, method=method)
    # an undocumented code: nothing says it was sent, nothing says it will work later
    return TemporaryError(text, code=code, method=method, maybe_done=True)


def read_error(code: int, message: str, *, method: str) -> ProviderError:
    """The exception for a status.php or get.php error code (3 is handled as data)."""
    meaning = READ_MEANINGS.get(code, "SMSC refused the request")
    text = _text(meaning, message)
    if code == 2:
        return AuthError(text, code=code, method=method)
    if code == 9:
        return RateLimited(text, code=code, method=method, retry_after=FLOOD_RETRY_AFTER)
    if code == 4:
        return TemporaryError(text, code=code, method=method, maybe_done=False)
    if code in (1, 3):
        return PermanentError(text, code=code, method=method)
    return TemporaryError(text, code=code, method=method, maybe_done=False)


def _text(meaning: str, message: str) -> str:
    said = redact((message or "").strip())[:200]
    return f"{meaning} ({said})" if said and said.lower() not in meaning.lower() else meaning
