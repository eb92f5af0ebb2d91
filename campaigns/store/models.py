"""SQLAlchemy 2.x models. The database is the source of truth; the broker only carries ids.

A recipient's id says its campaign and source row (campaigns.store.keys), so ingestion
streams rows in bulk without learning any id from the database, and a chunk's recipients
are the valid rows from its ``first_row`` to its ``last_row``: a range of the primary key.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    provider: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    type: Mapped[int] = mapped_column(Integer, default=2)
    sender: Mapped[str | None] = mapped_column(String(64))
    country: Mapped[str | None] = mapped_column(String(2))
    placeholders: Mapped[str] = mapped_column(String(8), default="keep")
    rate_limit: Mapped[int | None] = mapped_column(Integer)
    rate_period: Mapped[int | None] = mapped_column(Integer)
    deferred_to: Mapped[str | None] = mapped_column(String(19))
    validity: Mapped[int | None] = mapped_column(Integer)
    mclass: Mapped[int | None] = mapped_column(Integer)
    source_name: Mapped[str | None] = mapped_column(String(255))
    # a provider's own options: the cascade gateway's channels and per-channel texts (issue 15)
    provider_options: Mapped[dict | None] = mapped_column(JSON)
    # sent to suppressed phones too (transactional messages; issue 11)
    ignore_suppression: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    state: Mapped[str] = mapped_column(String(24), default="draft", index=True)  # awaiting_approval: 17
    state_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    error: Mapped[str | None] = mapped_column(Text)
    provider_campaign_id: Mapped[str | None] = mapped_column(String(64))
    provider_status: Mapped[str | None] = mapped_column(String(32))
    create_attempts: Mapped[int] = mapped_column(Integer, default=0)
    launch_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_poll_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    counters: Mapped[dict | None] = mapped_column(JSON)
    # pipeline bookkeeping (services): who works on the current step since when, when a
    # waiting retry is due, and how many temporary failures in a row the step has seen
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    rows: Mapped[int] = mapped_column(Integer, default=0)
    valid: Mapped[int] = mapped_column(Integer, default=0)
    invalid: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    segments: Mapped[int] = mapped_column(Integer, default=0)

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Chunk(Base):
    __tablename__ = "chunks"
    __table_args__ = (UniqueConstraint("campaign_id", "seq", name="uq_chunks_campaign_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    state_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    added: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    retry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # True once an attempt may have reached the provider: the next one resends
    maybe_sent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # the source rows of its first and last recipient: its recipients are the campaign's
    # valid rows between the two (campaigns.store.keys.valid_range)
    first_row: Mapped[int] = mapped_column(Integer)
    last_row: Mapped[int] = mapped_column(Integer)


class Recipient(Base):
    __tablename__ = "recipients"
    __table_args__ = (
        # No index by campaign or chunk: the id is one (campaigns.store.keys).
        # Partial: message ids arrive after ingestion, and a million NULL entries written
        # at ingestion would cost time and space for lookups that always name a message id.
        Index(
            "ix_recipients_campaign_message",
            "campaign_id",
            "message_id",
            sqlite_where=sql_text("message_id IS NOT NULL"),
            postgresql_where=sql_text("message_id IS NOT NULL"),
        ),
    )

    # campaign_id · 2³² + (2³¹ when valid) + row_number: given by ingestion, never by the database
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False)
    # No foreign key: recipients are bulk-loaded (a million rows in seconds) and a per-row
    # check of the campaign doubled PostgreSQL's COPY time; ingest_file, the only writer,
    # checks the campaign once under its row lock in the same transaction.
    campaign_id: Mapped[int] = mapped_column(Integer)
    row_number: Mapped[int] = mapped_column(Integer)
    raw_phone: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(String(20))
    fields: Mapped[str | None] = mapped_column(Text)  # JSON object of placeholder values
    verdict: Mapped[str] = mapped_column(String(10))  # valid | invalid | duplicate
    reason: Mapped[str | None] = mapped_column(Text)
    segments: Mapped[int | None] = mapped_column(Integer)
    chunk_seq: Mapped[int | None] = mapped_column(Integer)
    provider_code: Mapped[int | None] = mapped_column(Integer)
    provider_meaning: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(64))
    final_status: Mapped[str | None] = mapped_column(String(16))
    # the cascade gateway (issue 15): the channel that delivered (viber, vk, sms), the
    # price charged on each, and the gateway's words per channel. Written only by the
    # provider path; ingestion never names them.
    channel: Mapped[str | None] = mapped_column(String(8))
    price_viber: Mapped[float | None] = mapped_column(Float)
    price_vk: Mapped[float | None] = mapped_column(Float)
    price_sms: Mapped[float | None] = mapped_column(Float)
    channel_states: Mapped[str | None] = mapped_column(String(120))
    final_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # when it arrived (issue 11)


class CounterSample(Base):
    """The provider's counters over time (one row per poll that saw them change)."""

    __tablename__ = "counter_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    taken_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str | None] = mapped_column(String(32))
    counters: Mapped[dict] = mapped_column(JSON)


class Lease(Base):
    """A named lease held until ``expires_at``: keeps two beat processes from doubling work."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    value: Mapped[float | None] = mapped_column(Float)


class ApiToken(Base):
    """A bearer token of the HTTP API (campaigns.services.tokens). Only a hash of its
    secret is kept; the token itself is shown once, when it is made."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(8))  # read | submit | admin
    secret_hash: Mapped[str] = mapped_column(String(64))  # hex SHA-256 of the secret part
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class IdempotencyKey(Base):
    """A submission's idempotency key within its scope (an API token, or the Celery task):
    the first request claims the row, later ones with the same key get its campaign."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key", name="uq_idempotency_scope_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))  # hex SHA-256 of the request
    campaign_id: Mapped[int | None] = mapped_column(Integer)  # None while the first request runs
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
