"""Request and response models of ``/v1/inbound`` and ``/v1/suppressions`` (issue 11)."""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, Field


class InboundMessage(BaseModel):
    id: int
    provider: str
    phone: str
    text: str
    to: Optional[str] = Field(None, description="The number the recipient wrote to.")
    reply_to: Optional[str] = Field(None, description="SMSC's sms_id: the request id of the message answered.")
    campaign_id: Optional[int] = Field(None, description="The campaign it answers, when known.")
    recipient_id: Optional[int] = Field(None, description="The recipient it answers, when known.")
    opted_out: bool = Field(description="True when the text was a stop word: the phone is now suppressed.")
    sent_at: Optional[str] = None
    received_at: Optional[str] = None


class InboundPage(BaseModel):
    items: list[InboundMessage]
    next_cursor: Optional[int] = Field(None, description="Pass as `before` for the next page; null on the last.")


class SuppressionIn(BaseModel):
    phone: str = Field(min_length=1, max_length=64, description="A phone number (international, or national with `country`).")
    reason: Optional[str] = Field(None, max_length=1000)
    country: Optional[str] = Field(None, min_length=2, max_length=2, description="ISO alpha-2 region for national numbers.")


class SuppressionEntry(BaseModel):
    phone: str = Field(description="International digits.")
    reason: Optional[str] = None
    source: str = Field(description="manual | import | reply | api")
    created_at: Optional[str] = None


class SuppressionPage(BaseModel):
    items: list[SuppressionEntry]
    next_cursor: Optional[str] = Field(None, description="Pass as `after` for the next page; null on the last.")
