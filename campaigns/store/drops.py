"""The watched bucket's drops (issue 12): one row per recipient file (or lone manifest)
seen in a watched location, from its claim to its results.

A row is unique by ``claim_key`` (location, path and content identity hashed), and is
inserted before anything else is done with the file: of two scans that see the same
file, the one whose INSERT commits takes it; the other's INSERT fails on the unique
key. Every later move of ``state`` is a compare-and-set UPDATE, and the claim key is
also the idempotency key the campaign is submitted with, so a take repeated after a
crash finds the campaign the first one made instead of making another.

States::

    waiting ──▶ claimed ──▶ created ──▶ processed ──▶ done
                   │
                   ├──▶ refused ──▶ rejected
                   └──▶ gone        (the file vanished or changed before it was taken)
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.store.models import Base, utcnow

WAITING, CLAIMED, CREATED, PROCESSED, DONE = "waiting", "claimed", "created", "processed", "done"
REFUSED, REJECTED, GONE = "refused", "rejected", "gone"
STATES = (WAITING, CLAIMED, CREATED, PROCESSED, DONE, REFUSED, REJECTED, GONE)
# states in which the drop still needs a step (take, move, follow its campaign)
ACTIVE = frozenset({CLAIMED, CREATED, PROCESSED, REFUSED})


class Drop(Base):
    __tablename__ = "watch_drops"
    __table_args__ = (
        Index("ix_watch_drops_location_state", "location", "state"),
        Index("ix_watch_drops_location_sha", "location", "sha256"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    claim_key: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256 of location, path, identity
    location: Mapped[str] = mapped_column(String(1024))  # as configured in CAMPAIGNS_WATCH, normalized
    path: Mapped[str] = mapped_column(Text)  # below the location, '/'-separated
    kind: Mapped[str] = mapped_column(String(8), default="file")  # file | manifest (a lone manifest)
    identity: Mapped[str] = mapped_column(String(255))  # ETag + LastModified, or size + mtime
    size: Mapped[int | None] = mapped_column(BigInteger)  # objects may be beyond 2 GiB
    state: Mapped[str] = mapped_column(String(16), default=CLAIMED)
    # the manifests read when the drop was claimed: {"folder": {"path", "text"}, "file": {...}}
    manifests: Mapped[dict | None] = mapped_column(JSON)
    sha256: Mapped[str | None] = mapped_column(String(64))
    campaign_id: Mapped[int | None] = mapped_column(Integer, index=True)
    error: Mapped[str | None] = mapped_column(Text)  # one line: why it was refused
    rejects: Mapped[int] = mapped_column(Integer, default=0)  # invalid rows written beside a refused file
    # where its results go below the location's result folders, chosen once (a free name)
    result_stem: Mapped[str | None] = mapped_column(Text)
    result_seen: Mapped[str | None] = mapped_column(String(64))  # what the last result.json said (digest)
    holder: Mapped[str | None] = mapped_column(String(64))  # the step working on it until lease_until
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    taken_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # its campaign made
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
