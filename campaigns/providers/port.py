"""The narrow interface (port) the pipeline calls, whatever the provider.

Mobizon runs campaigns server-side: ``create_campaign`` makes one, ``add_chunk``
uploads recipients, ``launch`` starts it and the provider paces the sending.
SMSC and the cascade gateway have no campaigns: their adapters implement the same
calls by sending message by message (``add_chunk`` sends, ``launch`` only marks the
campaign started) and ``server_side_campaigns`` is False so the pipeline paces them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Protocol, Sequence, runtime_checkable


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
