"""One error hierarchy for every provider, translated from third-party errors in one place
(each client's transport wrapper).

    ProviderError
    ├── TemporaryError        timeout, connection error, HTTP 5xx, body not JSON,
    │   │                     Mobizon 3/10/999, SMSC 9 (flood), SMSC 4 (IP blocked a while)
    │   └── RateLimited       Mobizon 30, HTTP 429; carries ``retry_after`` and ``method``
    └── PermanentError        validation (1, 12), not found (2), bad module/method (4-6),
        │                     missing parameter (11), blocked account (14), SMSC 1, 3, 5, 6
        ├── AuthError         Mobizon 8/9, SMSC 2: stop the account's work
        └── WrongCampaign     the campaign at the provider is not the one we created

Messages never contain an API key, a password or a URL carrying one.
"""

from __future__ import annotations


class ProviderError(Exception):
    """Base of every provider failure.

    ``code`` is the provider's own code when it sent one (envelope code, SMSC error),
    ``method`` the API method that failed (``campaign/addRecipients``).
    """

    def __init__(self, message: str, *, code: int | None = None, method: str | None = None, data=None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.method = method
        self.data = data

    def __str__(self) -> str:
        where = f"{self.method}: " if self.method else ""
        code = f" (code {self.code})" if self.code is not None else ""
        return f"{where}{self.message}{code}"


class TemporaryError(ProviderError):
    """Retry later; the outcome of the call may be unknown (``maybe_done`` True when the
    request may have reached the provider: a timeout after sending, a lost response)."""

    def __init__(self, message: str, *, maybe_done: bool = True, **kw):
        super().__init__(message, **kw)
        self.maybe_done = maybe_done


class RateLimited(TemporaryError):
    """The provider refused the call for calling too often; never a failure of the work."""

    def __init__(self, message: str, *, retry_after: float = 1.0, **kw):
        kw.setdefault("maybe_done", False)
        super().__init__(message, **kw)
        self.retry_after = retry_after


class PermanentError(ProviderError):
    """Retrying the same call will not help; surface the message to the user."""


class AuthError(PermanentError):
    """Wrong key, wrong login or no access: stop the account's work and tell the user."""


class WrongCampaign(PermanentError):
    """The provider's campaign is not the one created for ours (unknown there, deleted, or
    another campaign's name and text): nothing may be added to it."""
