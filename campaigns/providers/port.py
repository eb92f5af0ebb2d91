"""The narrow interface (port) the pipeline calls, whatever the provider.

Mobizon runs campaigns server-side: ``create_campaign`` makes one, ``add_chunk``
uploads recipients, ``launch`` starts it and the provider paces the sending.
SMSC and the cascade gateway have no campaigns: their adapters implement the same
calls by sending message by message (``add_chunk`` sends, ``launch`` only marks the
campaign started) and ``server_side_campaigns`` is False so the pipeline paces them.

Adding chunks back to back, the pipeline splits ``add_chunk`` in two (``prepare_chunk``
below): the request is built while the previous chunk is at the provider, and its answer
gives at once what decides whether the next chunk may go (success or a ProviderError, and
how many recipients were added and rejected); the outcome of each recipient is worked out
when asked, after the next chunk was sent. A provider opts in with a ``prepare_chunk``
method of its own; for the others the split is ``add_chunk`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence, runtime_checkable


@dataclass(frozen=True)
class CampaignSpec:
    """What the provider needs to create a campaign. ``local_id`` is ours, for
    reconciliation and deterministic request ids."""

    local_id: int
    name: str
    text: str
    type: int = 2  # 1 single, 2 mass, 3 template (Mobizon's data[type])
    sender: str | None = None
    rate_limit: int | None = None
    rate_period: int | None = None
    deferred_to: str | None = None  # "YYYY-MM-DD HH:MM:SS"
    validity: int | None = None  # minutes, 60..1440
    mclass: int | None = None  # 0 flash, 1 inbox
    placeholders_flag: int = 1  # 1 keep, 2 strip, 3 reject
    # a provider's own options (the cascade gateway's channels and per-channel texts)
    options: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ChunkRecipient:
    """One recipient as uploaded: the normalized phone and its placeholder values."""

    phone: str
    fields: dict[str, str] = field(default_factory=dict)
    row_number: int | None = None


@dataclass(frozen=True)
class RecipientOutcome:
    """The provider's verdict on one uploaded recipient.

    ``added`` is True when the recipient is (now or already) in the campaign: code 0,
    or code 4 on a resend after a lost response.
    """

    phone: str
    code: int
    meaning: str
    added: bool
    message_id: str | None = None


@dataclass(frozen=True)
class CampaignStatus:
    """A campaign's state at the provider; ``counters`` are numbers, not strings."""

    campaign_id: str
    status: str  # NEW, MODERATION, DECLINED, READY_FOR_SEND, AUTO_READY_FOR_SEND, RUNNING, DEFERRED, SENT, DONE
    counters: dict[str, float] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in ("DONE", "DECLINED")


@dataclass(frozen=True)
class MessageStatus:
    message_id: str
    phone: str
    status: str  # NEW, ENQUEUD, ACCEPTD, PDLIVRD (not final); DELIVRD, UNDELIV, REJECTD, EXPIRED, DELETED (final)
    final: bool
    # providers with several channels (the cascade gateway): the one that delivered, the
    # price charged on each, and the provider's own words about each channel
    channel: str | None = None
    prices: Mapping[str, float] | None = None
    detail: str | None = None


@runtime_checkable
class Provider(Protocol):
    """Every provider implements this. Methods raise ``campaigns.providers.errors``."""

    name: str
    server_side_campaigns: bool

    def create_campaign(self, spec: CampaignSpec) -> str:
        """Create the campaign at the provider and return its id."""

    def find_campaign(self, spec: CampaignSpec, *, exclude: Sequence[str] = ()) -> str | None:
        """After a lost Create response: the id of a campaign created for ``spec`` and not
        in ``exclude`` (ids other local campaigns own), or None when there is none."""

    def add_chunk(
        self,
        campaign_id: str,
        chunk_key: str,
        recipients: Sequence[ChunkRecipient],
        *,
        resend: bool = False,
        spec: CampaignSpec | None = None,
    ) -> list[RecipientOutcome]:
        """Upload one chunk (≤ 500). ``chunk_key`` is deterministic per chunk; ``resend``
        is True when an earlier attempt may have reached the provider, so duplicates
        (Mobizon code 4) count as already added. ``spec`` is the campaign's (the pipeline
        always passes it): its type and placeholders flag, and the text a provider without
        server-side campaigns sends. Returns one outcome per recipient, in order."""

    def launch(self, campaign_id: str) -> str:
        """Start the campaign; returns the provider status right after."""

    def campaign_statuses(self, campaign_ids: Sequence[str]) -> dict[str, CampaignStatus]:
        """Status and counters of several campaigns, batched as the provider allows."""

    def message_statuses(self, campaign_id: str) -> Iterator[MessageStatus]:
        """Every message of a campaign with its current status (paged to the end)."""

    def cancel(self, campaign_id: str) -> None:
        """Delete the campaign at the provider; PermanentError when it no longer can."""


class ChunkAnswer:
    """A provider's successful answer to one chunk: ``added`` and ``rejected`` recipients,
    known as soon as the answer is in, and each recipient's outcome, worked out on the first
    call of ``outcomes()``. The counts are those the outcomes give (``count_added``), and
    ``outcomes()`` never raises: whatever could refuse the answer was checked before it was
    handed over, so nothing is learnt from it that could have stopped the next chunk."""

    __slots__ = ("added", "rejected", "_outcomes", "_work")

    def __init__(self, added: int, rejected: int, work: Callable[[], list[RecipientOutcome]]):
        self.added = added
        self.rejected = rejected
        self._work: Callable[[], list[RecipientOutcome]] | None = work
        self._outcomes: list[RecipientOutcome] | None = None

    @classmethod
    def settled(cls, recipients: Sequence[ChunkRecipient], outcomes: Sequence[RecipientOutcome]) -> "ChunkAnswer":
        """An answer whose outcomes are already known (``add_chunk``'s)."""
        added = count_added(recipients, outcomes)
        return cls(added, len(recipients) - added, lambda: list(outcomes))

    def outcomes(self) -> list[RecipientOutcome]:
        """One outcome per recipient, in order (the port's ``add_chunk`` contract)."""
        if self._outcomes is None:
            assert self._work is not None
            self._outcomes, self._work = self._work(), None
        return self._outcomes


def count_added(recipients: Sequence[ChunkRecipient], outcomes: Sequence[RecipientOutcome]) -> int:
    """The recipients ``outcomes`` say were added: paired by position, or by phone when the
    provider answered for a different number of recipients (as the pipeline records them)."""
    if len(outcomes) == len(recipients):
        return sum(1 for o in outcomes if o.added)
    by_phone = {o.phone: o for o in outcomes}
    return sum(1 for r in recipients if (o := by_phone.get(r.phone)) is not None and o.added)


class PreparedChunk(Protocol):
    """A chunk's request, built and checked, not sent yet."""

    def send(self) -> ChunkAnswer:
        """Send it; raises the provider's errors as ``add_chunk`` does."""


@dataclass(frozen=True)
class _Deferred:
    """``add_chunk`` called when sent: for providers without a ``prepare_chunk`` of their own."""

    provider: Provider
    args: tuple
    resend: bool
    spec: CampaignSpec | None

    def send(self) -> ChunkAnswer:
        recipients = self.args[2]
        outcomes = self.provider.add_chunk(*self.args, resend=self.resend, spec=self.spec)
        return ChunkAnswer.settled(recipients, outcomes)


def prepare_chunk(
    provider: Provider,
    campaign_id: str,
    chunk_key: str,
    recipients: Sequence[ChunkRecipient],
    *,
    resend: bool = False,
    spec: CampaignSpec | None = None,
) -> PreparedChunk:
    """``add_chunk``'s call, split: the provider's own ``prepare_chunk`` when it has one (it
    may build and check the request now and raise what ``add_chunk`` raises before sending),
    else a call of ``add_chunk`` when sent."""
    own = getattr(provider, "prepare_chunk", None)
    if own is not None:
        return own(campaign_id, chunk_key, recipients, resend=resend, spec=spec)
    return _Deferred(provider, (campaign_id, chunk_key, recipients), resend, spec)
