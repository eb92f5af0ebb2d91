"""The schedules API's contract (``/v1/schedules``): request and response models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field


class ScheduleOptions(BaseModel):
    """The submit options each run's campaign gets (as ``campaigns submit``'s)."""

    model_config = ConfigDict(extra="forbid")

    provider: Optional[str] = Field(None, max_length=32, description="mobizon, smsc or sandbox (default).")
    sender: Optional[str] = Field(None, max_length=64, description="Sender signature registered with the provider.")
    country: Optional[str] = Field(None, max_length=2, description="ISO country code for national phone formats.")
    placeholders: Optional[Literal["keep", "strip", "reject"]] = None
    rate_limit: Optional[int] = Field(None, ge=1)
    rate_period: Optional[int] = Field(None, ge=1)
    validity: Optional[int] = None
    mclass: Optional[Literal[0, 1]] = None
    encoding: Optional[str] = Field(None, max_length=40)
    sheet: Optional[str] = Field(None, max_length=255)


class ScheduleIn(BaseModel):
    """A new schedule."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    cron: str = Field(max_length=255, description="5 fields, names like MON/JAN, or @daily, @weekly, @monthly…")
    tz: str = Field(max_length=64, description="IANA time zone, e.g. Asia/Almaty.")
    source: str = Field(min_length=1, max_length=4096, description="Path, file://, s3://bucket/key, "
                        "s3://bucket/prefix/ or https:// URL, read at each fire time.")
    source_headers: dict[str, str] = Field(default_factory=dict, description="Sent with an https source; kept "
                                           "encrypted (CAMPAIGNS_SECRET_KEY), never returned.")
    text: str = Field(min_length=1, max_length=10_000)
    options: ScheduleOptions = Field(default_factory=ScheduleOptions)
    start: Optional[datetime] = Field(None, description="No fire before (ISO 8601 with an offset).")
    end: Optional[datetime] = Field(None, description="No fire after (ISO 8601 with an offset).")
    misfire: Literal["skip", "once"] = "skip"
    grace: int = Field(300, ge=0, description="Seconds a fire may be late and still fire (misfire skip).")
    exclude_sent_within: Optional[int] = Field(None, ge=1, description="Days: leave out whom this schedule sent to.")
    require_approval: bool = False
    approval_timeout: int = Field(86400, ge=1, description="Seconds before a run not approved is cancelled.")


class ScheduleChanges(BaseModel):
    """Fields to change; those left out stay. ``options`` are merged (null removes one)."""

    model_config = ConfigDict(extra="forbid")

    name: Optional[str] = Field(None, min_length=1, max_length=200)
    cron: Optional[str] = Field(None, max_length=255)
    tz: Optional[str] = Field(None, max_length=64)
    source: Optional[str] = Field(None, min_length=1, max_length=4096)
    source_headers: Optional[dict[str, str]] = None
    text: Optional[str] = Field(None, min_length=1, max_length=10_000)
    options: Optional[dict[str, Optional[str | int]]] = None
    start: Optional[datetime] = None
    end: Optional[datetime] = None
    misfire: Optional[Literal["skip", "once"]] = None
    grace: Optional[int] = Field(None, ge=0)
    exclude_sent_within: Optional[int] = Field(None, ge=0, description="0 stops leaving recipients out.")
    require_approval: Optional[bool] = None
    approval_timeout: Optional[int] = Field(None, ge=1)


class Moment(BaseModel):
    local: str = Field(description="ISO 8601 in the schedule's zone, with its UTC offset.")
    utc: str


class Run(BaseModel):
    fire_time: Moment
    outcome: Literal["fired", "skipped"]
    campaign_id: Optional[int]
    state: Optional[str] = Field(description="The run's campaign's state.")
    reason: Optional[str] = Field(description="Why it was skipped, or why its campaign failed.")
    covers: int = Field(description="Fire times this record stands for (misfires).")
    approve_by: Optional[str]


class Schedule(BaseModel):
    """A schedule: the same keys as ``campaigns schedule show --json``."""

    id: int
    name: str
    cron: str
    tz: str
    source: str
    source_headers: list[str] = Field(description="Header names only: values are never returned.")
    text: str
    options: dict
    start: Optional[str]
    end: Optional[str]
    misfire: str
    grace_seconds: int
    exclude_sent_within_days: Optional[int]
    require_approval: bool
    approval_timeout_seconds: int
    paused: bool
    next_fire: Optional[Moment]
    runs: int
    last_run: Optional[Run]
    created_at: str
