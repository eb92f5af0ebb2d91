"""A provider wrapper that backs off one API method for every worker at once.

Mobizon answers code 30 ("too frequent calls to the same method") per account and method
(PROVIDERS.md, envelope codes): when one worker hears it, every worker must leave that
method alone for the time asked, or they all keep hammering it. The wrapper records the
back-off in the shared limiter (``Limiter.block``) and refuses the method in every worker
with the same RateLimited until it ends, without calling the provider. RateLimited is
never counted as a failure by the pipeline. Without Redis the wrapper steps aside (the
provider's own code 30 still slows each worker down): politeness must not stop the work.
"""

from __future__ import annotations

import logging
from typing import Iterator, Sequence

from campaigns.pacing.limiter import Limiter
from campaigns.providers.errors import RateLimited
from campaigns.providers.port import CampaignSpec, CampaignStatus, ChunkRecipient, MessageStatus, RecipientOutcome

log = logging.getLogger(__name__)

# The API method behind each port call (Mobizon's names, lower case as RateLimited.method).
METHODS = {
    "create_campaign": "campaign/create",
    "find_campaign": "campaign/list",
    "add_chunk": "campaign/addrecipients",
    "launch": "campaign/send",
    "campaign_statuses": "campaign/list",
    "message_statuses": "message/list",
    "cancel": "campaign/delete",
}


class SharedBackoff:
    """The Provider port around ``inner``; ``account`` names the account in the limiter
    (a hash, never the key: ``campaigns.pacing.account_key``)."""

    def __init__(self, inner, limiter: Limiter, account: str, *, owns_limiter: bool = False):
        self.inner = inner
        self.limiter = limiter
        self.account = account
        self._owns = owns_limiter

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def server_side_campaigns(self) -> bool:
        return self.inner.server_side_campaigns

    def __getattr__(self, attribute):
        return getattr(self.inner, attribute)

    def __repr__(self) -> str:
        return f"SharedBackoff({self.inner!r})"

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()
        if self._owns:
            self.limiter.close()

    def _key(self, method: str) -> str:
        return f"backoff:{self.name}:{self.account}:{method.lower()}"

    def _check(self, call: str) -> None:
        method = METHODS[call]
        try:
            wait = self.limiter.blocked(self._key(method))
        except Exception as exc:  # Redis down: the provider's own code 30 still protects it
            log.warning("shared back-off unavailable (%s); calling %s anyway", type(exc).__name__, method)
            return
        if wait > 0:
            raise RateLimited(
                "another worker was told to slow down on this method; waiting before calling it again",
                method=method, retry_after=wait,
            )

    def _heard(self, exc: RateLimited, call: str) -> RateLimited:
        # keyed by the method this call uses, whatever name the error gives it
        try:
            self.limiter.block(self._key(METHODS[call]), exc.retry_after)
        except Exception as error:  # Redis down: this worker still backs off through the error
            log.warning("shared back-off unavailable (%s); only this worker backs off", type(error).__name__)
        return exc

    def _call(self, call: str, *args, **kwargs):
        self._check(call)
        try:
            return getattr(self.inner, call)(*args, **kwargs)
        except RateLimited as exc:
            raise self._heard(exc, call)

    def create_campaign(self, spec: CampaignSpec) -> str:
        return self._call("create_campaign", spec)

    def find_campaign(self, spec: CampaignSpec, *, exclude: Sequence[str] = ()) -> str | None:
        return self._call("find_campaign", spec, exclude=exclude)

    def add_chunk(self, campaign_id: str, chunk_key: str, recipients: Sequence[ChunkRecipient], **kwargs) -> list[RecipientOutcome]:
        return self._call("add_chunk", campaign_id, chunk_key, recipients, **kwargs)

    def launch(self, campaign_id: str) -> str:
        return self._call("launch", campaign_id)

    def campaign_statuses(self, campaign_ids: Sequence[str]) -> dict[str, CampaignStatus]:
        return self._call("campaign_statuses", campaign_ids)

    def cancel(self, campaign_id: str) -> None:
        return self._call("cancel", campaign_id)

    def message_statuses(self, campaign_id: str) -> Iterator[MessageStatus]:
        self._check("message_statuses")
        try:
            yield from self.inner.message_statuses(campaign_id)
        except RateLimited as exc:
            raise self._heard(exc, "message_statuses")
