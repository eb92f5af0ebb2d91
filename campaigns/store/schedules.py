"""Tables of recurring campaigns (issue 13): a schedule, and one row per fire time.

A fire row is unique by (schedule, fire time) and is written in the same transaction as
the campaign it starts (or as its record of a skipped run), so however many beat
processes look at a schedule, one fire time makes at most one campaign. A schedule's
``last_fire_at`` is the cursor fires are computed from, moved by compare-and-set.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from campaigns.store.models import Base, utcnow


class Schedule(Base):
    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    cron: Mapped[str] = mapped_column(String(255))
    tz: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    # header name -> value encrypted with CAMPAIGNS_SECRET_KEY (never stored in clear)
    source_headers: Mapped[dict | None] = mapped_column(JSON)
    text: Mapped[str] = mapped_column(Text)
    options: Mapped[dict] = mapped_column(JSON)  # the submit options (campaigns.services.submit.SubmitRequest)
    start_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    misfire: Mapped[str] = mapped_column(String(8), default="skip")  # skip | once
    grace_seconds: Mapped[int] = mapped_column(Integer, default=300)
    exclude_days: Mapped[int | None] = mapped_column(Integer)
    require_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    approval_timeout: Mapped[int] = mapped_column(Integer, default=86400)  # seconds
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    # fires are the cron's times after max(since, last_fire_at): creation, resume and edit move ``since``
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_fire_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ScheduleFire(Base):
    """One fire time of a schedule: the campaign it made, or why it made none."""

    __tablename__ = "schedule_fires"
    __table_args__ = (UniqueConstraint("schedule_id", "fire_time", name="uq_schedule_fires_time"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"), index=True)
    fire_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # UTC
    outcome: Mapped[str] = mapped_column(String(16))  # fired | skipped
    campaign_id: Mapped[int | None] = mapped_column(Integer, index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    covers: Mapped[int] = mapped_column(Integer, default=1)  # fire times this row stands for (misfire)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # its source being read since
    approve_by: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
