"""Reasons a person understands, stored in ``campaigns.error`` and shown by ``status``.

Every text passes through ``campaigns.redact.redact``: a provider's message may quote a
URL, and Mobizon's URLs carry the API key.
"""

from __future__ import annotations

from campaigns.providers.errors import AuthError, PermanentError, ProviderError, RateLimited, TemporaryError
from campaigns.redact import redact

MAX_REASON = 2000


def _detail(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    if isinstance(error, ProviderError) and error.data and error.code == 1:
        # Validation errors name the fields in ``data`` (envelope code 1)
        text = f"{text}: {error.data}"
    return text


def reason(doing: str, error: BaseException) -> str:
    """One sentence saying what failed while ``doing`` (e.g. "creating the campaign") and
    what the provider said, redacted and bounded."""
    detail = _detail(error)
    if isinstance(error, AuthError):
        text = (
            f"the provider refused our credentials while {doing} ({detail}); "
            "check the API key and the account's API domain, then submit again"
        )
    elif isinstance(error, PermanentError):
        text = f"the provider refused {doing}: {detail}"
    elif isinstance(error, RateLimited):
        text = f"the provider asked us to slow down while {doing}: {detail}"
    elif isinstance(error, TemporaryError):
        text = f"the provider could not be reached or failed while {doing}: {detail}"
    else:
        text = f"{doing} failed: {detail}"
    return redact(text)[:MAX_REASON]


def gave_up(doing: str, attempts: int, error: BaseException) -> str:
    """The reason after ``attempts`` temporary failures in a row."""
    return redact(
        f"gave up {doing} after {attempts} failed attempts in a row; the last one: {_detail(error)}"
    )[:MAX_REASON]
