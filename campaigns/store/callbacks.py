"""Tables of the providers' pushed news (issue 11): every callback event as it arrived,
the incoming messages read from them, and the suppression list ingestion honours.

An event is written before the provider gets its answer, in a short transaction of its
own, under a key that is unique per provider (SMSC: id, phone, status and time; Mobizon:
eventId), so a redelivered event finds its row and is not stored or applied twice. It is
applied afterwards (``applied_at`` set in the same transaction as its effects).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.store.models import Base, utcnow


class CallbackEvent(Base):
    """One event a provider pushed: a message status, an incoming message or a call."""

    __tablename__ = "callback_events"
    __table_args__ = (
        UniqueConstraint("provider", "event_key", name="uq_callback_events_key"),
        # the applier's queue: only the rows not applied yet are in it
        Index(
            "ix_callback_events_pending", "id",
            sqlite_where=sql_text("applied_at IS NULL"), postgresql_where=sql_text("applied_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(16))  # smsc | mobizon
    kind: Mapped[str] = mapped_column(String(16))  # status | inbound | call
    event_key: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict] = mapped_column(JSON)  # the fields kept, as received (no signature)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    deliveries: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # redeliveries seen + 1
    applied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # applied | unmatched | not final | ignored
    outcome: Mapped[str | None] = mapped_column(String(16))
    campaign_id: Mapped[int | None] = mapped_column(Integer)
    recipient_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))


class InboundMessage(Base):
    """An SMS a recipient sent (SMSC's incoming message), with what it answers when known."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), unique=True)
    provider: Mapped[str] = mapped_column(String(16))
    provider_message_id: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str] = mapped_column(String(20), index=True)
    text: Mapped[str] = mapped_column(Text)
    to_number: Mapped[str | None] = mapped_column(String(32))
    reply_to: Mapped[str | None] = mapped_column(String(64))  # SMSC's sms_id: our request id
    campaign_id: Mapped[int | None] = mapped_column(Integer, index=True)
    recipient_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    opted_out: Mapped[bool] = mapped_column(default=False)


class Suppression(Base):
    """A phone that must not get campaigns (an opt-out): its international digits."""

    __tablename__ = "suppressions"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))  # manual | import | reply | api
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
