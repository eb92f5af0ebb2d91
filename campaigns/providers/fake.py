"""An in-memory provider for the services' unit tests: behaves like Mobizon's Campaign
module (seed 002) closely enough to exercise the pipeline, records every call, and can be
told to fail in each way a real provider fails.

    fake = FakeProvider(stop_list={"77011234567"})
    fake.fail("add_chunk", "lost")          # the next add is done, then its response is lost
    fake.fail("create_campaign", "temporary", times=3)

Failure kinds: ``temporary`` (nothing done, TemporaryError), ``lost`` (the work is done,
then TemporaryError with maybe_done=True, as when a response is lost), ``busy`` (code 10,
nothing done), ``rate_limited`` (code 30), ``permanent`` (PermanentError, code 1 by
default), ``auth`` (AuthError, code 8).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Iterator, Sequence

from campaigns.domain import FINAL_MESSAGE_STATUSES
from campaigns.providers.errors import AuthError, PermanentError, RateLimited, TemporaryError
from campaigns.providers.port import CampaignSpec, CampaignStatus, ChunkRecipient, MessageStatus, RecipientOutcome

# AddRecipients' per-recipient codes (Campaign module, AddRecipients, "code").
RECIPIENT_CODES = {
    0: "the number was added to the campaign",
    1: "no phone number in the data, or the value is empty",
    2: "no phone number found in the data",
    3: "the number does not match the international format",
    4: "the number was already added to the campaign",
    5: "the number is in the stop-list",
    6: "sending to this country is limited by the account settings",
    7: "the operator or the country could not be identified",
    8: "the system cannot send to this operator",
    20: "the data lacks placeholders the text needs",
    99: "system error while adding the number",
}
METHODS = (
    "create_campaign", "find_campaign", "add_chunk", "launch", "campaign_statuses", "message_statuses", "cancel",
)
KINDS = ("temporary", "lost", "busy", "rate_limited", "permanent", "auth")
DELETABLE = frozenset({"NEW", "MODERATION", "READY_FOR_SEND", "AUTO_READY_FOR_SEND", "DEFERRED"})


@dataclass(frozen=True)
class Call:
    method: str
    args: tuple
    kwargs: dict


@dataclass
class FakeCampaign:
    id: str
    spec: CampaignSpec
    status: str = "NEW"
    messages: dict[str, str] = field(default_factory=dict)  # phone -> message id
    progress: int = 0  # index into the provider's progression after launch
    deleted: bool = False


@dataclass
class _Failure:
    kind: str
    code: int | None
    retry_after: float
    message: str | None


class FakeProvider:
    """Implements ``campaigns.providers.port.Provider`` in memory; thread-safe."""

    def __init__(
        self,
        *,
        name: str = "fake",
        server_side_campaigns: bool = True,
        stop_list: Sequence[str] = (),
        codes: dict[str, int] | None = None,
        moderation: bool = False,
        progression: Sequence[str] = ("RUNNING", "SENT", "DONE"),
        final_status: str = "DELIVRD",
        final_statuses: dict[str, str] | None = None,
        add_delay: float = 0.0,
        first_id: int = 1001,
    ):
        self.name = name
        self.server_side_campaigns = server_side_campaigns
        self.stop_list = set(stop_list)
        self.codes = dict(codes or {})
        self.moderation = moderation
        self.progression = tuple(progression)
        self.final_status = final_status
        self.final_statuses = dict(final_statuses or {})
        self.add_delay = add_delay
        self.campaigns: dict[str, FakeCampaign] = {}
        self.calls: list[Call] = []
        self.max_concurrent_adds = 0
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        self._adding: dict[str, int] = defaultdict(int)
        self._ids = itertools.count(first_id)
        self._message_ids = itertools.count(500_001)
        self._lock = threading.RLock()

    # -- configuring -------------------------------------------------------------------
    def fail(
        self, method: str, kind: str, times: int = 1, *, code: int | None = None, retry_after: float = 1.0,
        message: str | None = None,
    ) -> "FakeProvider":
        """Make the next ``times`` calls of ``method`` fail as ``kind`` (see module doc)."""
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
        if kind not in KINDS:
            raise ValueError(f"unknown failure {kind!r}; known: {', '.join(KINDS)}")
        with self._lock:
            for _ in range(times):
                self._failures[method].append(_Failure(kind, code, retry_after, message))
        return self

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def set_status(self, campaign_id: str, status: str) -> None:
        with self._lock:
            self.campaigns[campaign_id].status = status

    # -- the port ----------------------------------------------------------------------
    def create_campaign(self, spec: CampaignSpec) -> str:
        failure = self._enter("create_campaign", (spec,), {})
        with self._lock:
            campaign = FakeCampaign(id=str(next(self._ids)), spec=spec)
            self.campaigns[campaign.id] = campaign
        self._lost_after_work(failure, "campaign/create")
        return campaign.id

    def find_campaign(self, spec: CampaignSpec, *, exclude: Sequence[str] = ()) -> str | None:
        failure = self._enter("find_campaign", (spec,), {"exclude": tuple(exclude)})
        self._lost_after_work(failure, "campaign/list")
        with self._lock:
            for campaign in self.campaigns.values():
                same = (campaign.spec.local_id, campaign.spec.name, campaign.spec.text) == (
                    spec.local_id, spec.name, spec.text,
                )
                if same and not campaign.deleted and campaign.id not in exclude:
                    return campaign.id
        return None

    def add_chunk(
        self,
        campaign_id: str,
        chunk_key: str,
        recipients: Sequence[ChunkRecipient],
        *,
        resend: bool = False,
        spec: CampaignSpec | None = None,
    ) -> list[RecipientOutcome]:
        failure = self._enter(
            "add_chunk", (campaign_id, chunk_key, tuple(recipients)), {"resend": resend, "spec": spec}
        )
        with self._lock:
            campaign = self._campaign(campaign_id, "campaign/addRecipients")
            if self._adding[campaign_id]:
                # AddRecipients locks the campaign: a second add at once gets code 10
                raise TemporaryError("the campaign is locked by another add", code=10,
                                     method="campaign/addRecipients", maybe_done=False)
            if campaign.status != "NEW":
                raise TemporaryError("the campaign status does not allow adding", code=10,
                                     method="campaign/addRecipients", maybe_done=False)
            self._adding[campaign_id] += 1
            self.max_concurrent_adds = max(self.max_concurrent_adds, sum(self._adding.values()))
        try:
            if self.add_delay:
                time.sleep(self.add_delay)
            with self._lock:
                outcomes = [self._add_one(campaign, r, resend) for r in recipients]
        finally:
            with self._lock:
                self._adding[campaign_id] -= 1
        self._lost_after_work(failure, "campaign/addRecipients")
        return outcomes

    def launch(self, campaign_id: str) -> str:
        failure = self._enter("launch", (campaign_id,), {})
        with self._lock:
            campaign = self._campaign(campaign_id, "campaign/send")
            if campaign.status != "NEW":
                # Send: code 10 "campaign status failed to change"
                raise TemporaryError("the campaign status failed to change", code=10, method="campaign/send",
                                     maybe_done=False)
            if self.moderation:
                campaign.status = "MODERATION"
            elif campaign.spec.deferred_to:
                campaign.status = "DEFERRED"
            else:
                campaign.status = self.progression[0]
        self._lost_after_work(failure, "campaign/send")
        return campaign.status

    def campaign_statuses(self, campaign_ids: Sequence[str]) -> dict[str, CampaignStatus]:
        failure = self._enter("campaign_statuses", (tuple(campaign_ids),), {})
        result: dict[str, CampaignStatus] = {}
        with self._lock:
            # Campaign/List searches only the first 10 criteria[ids]
            for campaign_id in list(campaign_ids)[:10]:
                campaign = self.campaigns.get(campaign_id)
                if campaign is None or campaign.deleted:
                    continue
                result[campaign_id] = CampaignStatus(campaign_id, campaign.status, self._counters(campaign))
                self._advance(campaign)
        self._lost_after_work(failure, "campaign/list")
        return result

    def message_statuses(self, campaign_id: str) -> Iterator[MessageStatus]:
        failure = self._enter("message_statuses", (campaign_id,), {})
        with self._lock:
            campaign = self._campaign(campaign_id, "message/list")
            rows = [
                MessageStatus(message_id, phone, status, status in FINAL_MESSAGE_STATUSES)
                for phone, message_id in campaign.messages.items()
                for status in [self._message_status(campaign, phone)]
            ]
        self._lost_after_work(failure, "message/list")
        return iter(rows)

    def cancel(self, campaign_id: str) -> None:
        failure = self._enter("cancel", (campaign_id,), {})
        with self._lock:
            campaign = self._campaign(campaign_id, "campaign/delete")
            if campaign.status not in DELETABLE:
                # Delete: code 10 "the campaign can't be deleted" (it has started)
                raise PermanentError(f"a campaign in status {campaign.status} can no longer be deleted",
                                     code=10, method="campaign/delete")
            campaign.deleted = True
        self._lost_after_work(failure, "campaign/delete")

    # -- internals ---------------------------------------------------------------------
    def _enter(self, method: str, args: tuple, kwargs: dict) -> _Failure | None:
        """Record the call; raise the failure queued for it, or return a ``lost`` one to
        be raised after the work is done."""
        with self._lock:
            self.calls.append(Call(method, args, kwargs))
            failure = self._failures[method].popleft() if self._failures[method] else None
        if failure is None or failure.kind == "lost":
            return failure
        where = method.replace("_", " ")
        text = failure.message or f"injected {failure.kind} failure of {where}"
        if failure.kind == "temporary":
            raise TemporaryError(text, code=failure.code, method=method, maybe_done=False)
        if failure.kind == "busy":
            raise TemporaryError(text, code=failure.code or 10, method=method, maybe_done=False)
        if failure.kind == "rate_limited":
            raise RateLimited(text, code=failure.code or 30, method=method, retry_after=failure.retry_after)
        if failure.kind == "auth":
            raise AuthError(text, code=failure.code or 8, method=method)
        raise PermanentError(text, code=failure.code if failure.code is not None else 1, method=method)

    @staticmethod
    def _lost_after_work(failure: _Failure | None, method: str) -> None:
        if failure is not None:
            raise TemporaryError(failure.message or "the response was lost (read timeout)", method=method,
                                 maybe_done=True)

    def _campaign(self, campaign_id: str, method: str) -> FakeCampaign:
        campaign = self.campaigns.get(campaign_id)
        if campaign is None or campaign.deleted:
            raise PermanentError(f"campaign {campaign_id} not found", code=2, method=method)
        return campaign

    def _add_one(self, campaign: FakeCampaign, recipient: ChunkRecipient, resend: bool) -> RecipientOutcome:
        phone = recipient.phone
        if phone in campaign.messages:
            # code 4: already in the campaign; on a resend after a lost response it is ours
            return RecipientOutcome(phone, 4, RECIPIENT_CODES[4], added=resend)
        code = 5 if phone in self.stop_list else self.codes.get(phone, 0)
        if code:
            return RecipientOutcome(phone, code, RECIPIENT_CODES.get(code, f"code {code}"), added=False)
        message_id = str(next(self._message_ids))
        campaign.messages[phone] = message_id
        return RecipientOutcome(phone, 0, RECIPIENT_CODES[0], added=True, message_id=message_id)

    def _advance(self, campaign: FakeCampaign) -> None:
        if campaign.status in ("NEW", "DONE", "DECLINED"):
            return
        if campaign.status in ("MODERATION", "DEFERRED"):
            campaign.status, campaign.progress = self.progression[0], 0
            return
        if campaign.progress + 1 < len(self.progression):
            campaign.progress += 1
            campaign.status = self.progression[campaign.progress]

    def _message_status(self, campaign: FakeCampaign, phone: str) -> str:
        if campaign.status == "DONE":
            return self.final_statuses.get(phone, self.final_status)
        return "ACCEPTD" if campaign.status in ("RUNNING", "SENT") else "NEW"

    def _counters(self, campaign: FakeCampaign) -> dict[str, float]:
        total = len(campaign.messages)
        if campaign.status == "DONE":
            delivered = sum(1 for p in campaign.messages if self.final_statuses.get(p, self.final_status) == "DELIVRD")
        elif campaign.status == "SENT":
            delivered = total // 2
        else:
            delivered = 0
        return {"totalMsgNum": float(total), "totalDelivrdMsgNum": float(delivered)}
