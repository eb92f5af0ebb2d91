"""The cascade gateway's states and error texts, mapped onto ``campaigns.providers.errors``.

The gateway has no error codes: a refusal is a text, for the whole request
(``{"error": "…"}``), for one message of it, or for one phone (seed 001). The texts are
recognised by what they say::

    "Попытка отправки более одного одинакового запроса в течение минуты"
                       identical request within a minute    -> Repeated (RateLimited; on a
                                                               send: the first one arrived)
    temporarily, later, overloaded, technical work          -> TemporaryError (nothing done)
    login, password, token, authorisation, access denied    -> AuthError
    balance, funds                                          -> PermanentError (stops the campaign)
    anything else                                           -> PermanentError, the text shown
    per phone: "… client_id_message … already …"            -> already sent (a resend refused)
    per phone: anything else                                -> that recipient refused

States (``state`` and ``state_viber`` / ``state_vk`` / ``state_sms``): ``send`` is pending,
``deliver``, ``not_deliver``, ``expired``, ``partly_deliver`` are final, and any other text
is an error ("Сообщение с таким ID не принималось"), final too.
"""

from __future__ import annotations

import re

from campaigns.providers.errors import AuthError, PermanentError, ProviderError, RateLimited, TemporaryError
from campaigns.redact import redact

VIBER, VK, SMS = "viber", "vk", "sms"
CHANNELS = (VIBER, VK, SMS)

PENDING = "send"
DELIVERED = "deliver"
FINAL_STATES = frozenset({"deliver", "not_deliver", "expired", "partly_deliver"})
STATES = FINAL_STATES | {PENDING}
# Our vocabulary is Mobizon's (port.MessageStatus), so reports read the same whatever the
# provider; the gateway's own words are kept per channel beside it.
STATUS_NAMES = {
    "send": "ACCEPTD",
    "deliver": "DELIVRD",
    "not_deliver": "UNDELIV",
    "expired": "EXPIRED",
    # "sent, but its status never came" (seed 001): not known to be delivered
    "partly_deliver": "UNDELIV",
}
ERROR_STATUS = "REJECTD"  # a state that is an error text

SENT = 0
REFUSED = 1  # the gateway refused this phone (its text is the meaning)
MISSING_PLACEHOLDERS = 20  # the same code Mobizon gives (seed 002, AddRecipients)
TOO_LONG = 21
SENT_MEANING = "sent"
ALREADY_SENT = "sent by an earlier attempt (the gateway refused the repeat as a duplicate client_id_message)"

REPEAT_SECONDS = 60.0  # "Одинаковые запросы можно отправлять не чаще 1 раза в 1 минуту" (seed 001)
_REPEATED = re.compile(r"одинаков|identical|same request", re.I)
_AUTH = re.compile(r"логин|парол|авториз|токен|доступ запрещ|нет доступа|login|password|token|auth|access denied", re.I)
_FUNDS = re.compile(r"баланс|средств|balance|funds", re.I)
_LATER = re.compile(r"временно|позже|перегруж|технич|temporar|later|overload|maintenance", re.I)
_DUPLICATE = re.compile(r"client_id_message|уже|already|дубл|duplicate", re.I)


class Repeated(RateLimited):
    """The gateway refused a request identical to one it took within the minute. On a send
    the earlier one arrived: nothing may be resent before the minute has passed, and then
    only with the same ``client_id_message``s, which the gateway refuses as duplicates."""


class NoFunds(PermanentError):
    """The account cannot pay: the campaign stops (nothing more can be sent)."""


def about_whole_request(error: ProviderError) -> bool:
    """Does this error text concern the whole request (raise it) rather than the phones it
    was answered for (record it as their refusal)? Repeats, credentials, "try later" and
    funds do; any other text is about what was asked."""
    return type(error) is not PermanentError


def state_name(state: str) -> tuple[str, bool]:
    """(our status name, final) of the gateway's overall ``state``: an unknown word is an
    error text, final (seed 001: "any other status is an error text")."""
    word = (state or "").strip()
    if word in STATUS_NAMES:
        return STATUS_NAMES[word], word in FINAL_STATES
    return ERROR_STATUS, True


def is_duplicate(text: str) -> bool:
    """Does a phone's error text say its ``client_id_message`` was already sent?"""
    return bool(text) and bool(_DUPLICATE.search(text))


def request_error(text: str, *, method: str, sending: bool, repeat_seconds: float = REPEAT_SECONDS) -> ProviderError:
    """The exception for an error text answered to a whole request (or a whole message)."""
    said = redact((text or "").strip())[:300] or "an empty error"
    if _REPEATED.search(said):
        return Repeated(
            f"the gateway refused a repeat of an identical request within a minute ({said})",
            method=method, retry_after=repeat_seconds, maybe_done=sending,
        )
    if _LATER.search(said):
        return TemporaryError(f"the gateway asks to try later ({said})", method=method, maybe_done=False)
    if _AUTH.search(said):
        return AuthError(f"the gateway refused the credentials ({said})", method=method)
    if _FUNDS.search(said):
        return NoFunds(f"not enough funds on the gateway account ({said})", method=method)
    return PermanentError(f"the gateway refused the request: {said}", method=method)
