"""Mobizon's codes: the envelope code of every answer and the per-recipient codes of
AddRecipients, each with what it means and what it becomes.

Envelope codes (PROVIDERS.md, "Envelope codes") map onto ``campaigns.providers.errors``::

    0 ok, 98/99 per-recipient data, 100 background task      -> returned, not raised
    3 unknown, 999 general                                    -> TemporaryError (outcome unknown)
    10 concurrent access / status does not allow              -> TemporaryError (nothing done)
    30 too frequent calls                                     -> RateLimited
    1 validation, 2 not found, 4/5/6 bad module/method/format,
    11 missing parameter, 12 restriction violated             -> PermanentError
    8 authentication, 9 method access denied, 14 blocked      -> AuthError (a PermanentError)
    13 wrong API domain                                       -> followed by the client, once
"""

from __future__ import annotations

from typing import Any

from campaigns.providers.errors import AuthError, PermanentError, ProviderError, RateLimited, TemporaryError
from campaigns.redact import redact

OK = 0
WRONG_DOMAIN = 13
PARTIAL = 98
NOTHING_DONE = 99
BACKGROUND_TASK = 100

# Codes whose answer carries data to read rather than an error to raise.
DATA_CODES = frozenset({OK, PARTIAL, NOTHING_DONE, BACKGROUND_TASK})

ENVELOPE_MEANINGS: dict[int, str] = {
    0: "ok",
    1: "validation error",
    2: "not found or no access",
    3: "unknown error at the provider",
    4: "unknown API module",
    5: "unknown API method",
    6: "unsupported request format",
    8: "authentication failed: the API key is wrong or revoked",
    9: "the API key has no access to this method",
    10: "the object is busy or its status does not allow this (concurrent access)",
    11: "a required parameter is missing",
    12: "a parameter violates a restriction (too many recipients or ids, several recipient sources)",
    13: "wrong API domain for this account",
    14: "the account is blocked",
    30: "too many calls to this method",
    98: "partly done: see each recipient's code",
    99: "nothing done: see each recipient's code",
    100: "started as a background task",
    999: "general error at the provider",
}

_TEMPORARY_UNKNOWN = frozenset({3, 999})  # the provider failed midway: the work may be done
_TEMPORARY_REFUSED = frozenset({10})  # the provider refused before doing anything
_AUTH = frozenset({8, 9, 14})
_PERMANENT = frozenset({1, 2, 4, 5, 6, 11, 12})

# AddRecipients, "Recipient adding result code" (Campaign module).
RECIPIENT_MEANINGS: dict[int, str] = {
    0: "added",
    1: "no phone number in the data, or it is empty",
    2: "no phone number found in the data (probably badly formatted)",
    3: "the number is not in international format",
    4: "the number is already in the campaign (duplicate)",
    5: "the number is in a stop-list",
    6: "sending to this country is restricted by the account's settings",
    7: "the operator or country of the number cannot be identified",
    8: "the provider cannot send to this operator",
    20: "placeholder values are missing for this recipient",
    30: "contact card not found in the contact book",
    31: "the contact card has no mobile number",
    32: "contact not found in the contact book",
    51: "a short link cannot be created right now",
    99: "system error while adding the recipient",
}

ALREADY_ADDED = "already added (the chunk was resent after a lost response)"


def recipient_meaning(code: int) -> str:
    """What a per-recipient AddRecipients code means, in words a person understands."""
    return RECIPIENT_MEANINGS.get(code, f"unknown recipient code {code}")


def envelope_meaning(code: int) -> str:
    return ENVELOPE_MEANINGS.get(code, f"unknown code {code}")


def describe_data(data: Any, limit: int = 400) -> str:
    """The fields a validation error names, e.g. ``data[text]: too long; id: required``."""
    if data is None or data == "" or data == [] or data == {}:
        return ""
    if isinstance(data, dict):
        parts = []
        for key, value in data.items():
            if isinstance(value, (list, tuple)):
                value = "; ".join(str(v) for v in value)
            elif isinstance(value, dict):
                value = describe_data(value, limit)
            parts.append(f"{key}: {value}")
        text = "; ".join(parts)
    elif isinstance(data, (list, tuple)):
        text = "; ".join(describe_data(v, limit) if isinstance(v, (dict, list)) else str(v) for v in data)
    else:
        text = str(data)
    text = redact(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_for(code: int, message: str | None, data: Any, *, method: str, retry_after: float = 1.0) -> ProviderError:
    """The exception for an envelope ``code`` that is an error (not in DATA_CODES, not 13).

    The message is the provider's own when it sent one, else the documented meaning; for
    validation errors (1) the fields named in ``data`` follow it. Never contains a URL.
    """
    text = redact((message or "").strip()) or envelope_meaning(code)
    if code == 1 or code == 12:
        fields = describe_data(data)
        if fields:
            text = f"{text}: {fields}"
    if code == 30:
        return RateLimited(text, code=code, method=method, data=data, retry_after=retry_after)
    if code in _TEMPORARY_REFUSED:
        return TemporaryError(text, code=code, method=method, data=data, maybe_done=False)
    if code in _TEMPORARY_UNKNOWN:
        return TemporaryError(text, code=code, method=method, data=data, maybe_done=True)
    if code in _AUTH:
        return AuthError(text, code=code, method=method, data=data)
    if code in _PERMANENT:
        return PermanentError(text, code=code, method=method, data=data)
    # An undocumented code: retrying blindly could repeat a harmful call, so stop and show it.
    return PermanentError(f"unexpected answer: {text}", code=code, method=method, data=data)
