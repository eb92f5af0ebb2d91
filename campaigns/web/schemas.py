"""The API's contract: request and response models. They feed the OpenAPI document; the
services keep their own plain types (dicts and dataclasses), converted at the routes."""

from __future__ import annotations

import codecs
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_JSON_RECIPIENTS = 100_000
Cell = Union[str, int, float, bool, None]


class CampaignOptions(BaseModel):
    """A campaign's settings, named as the CLI's options in snake_case."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=10_000, description="The message; {placeholders} make a template campaign.")
    name: Optional[str] = Field(None, max_length=255, description="Campaign name (default: the file's name).")
    provider: str = Field("sandbox", max_length=32, description="mobizon, smsc or sandbox (the built-in simulator).")
    country: Optional[str] = Field(None, description="ISO country code for national phone formats, e.g. KZ.")
    placeholders: Literal["keep", "strip", "reject"] = Field("keep", description="A placeholder without a value: keep, strip or reject.")
    sender: Optional[str] = Field(None, max_length=64, description="Sender signature registered with the provider.")
    rate_limit: Optional[int] = Field(None, ge=1, description="At most this many messages per rate_period.")
    rate_period: Optional[int] = Field(None, ge=1, description="Seconds: 60, 3600 or 86400 for Mobizon; any for SMSC.")
    deferred_to: Optional[str] = Field(None, max_length=19, description="Start later: 'YYYY-MM-DD HH:MM:SS', the provider's time zone.")
    validity: Optional[int] = Field(None, description="Minutes a message may wait (60-1440).")
    mclass: Optional[Literal[0, 1]] = Field(None, description="0 flash, 1 inbox.")
    encoding: Optional[str] = Field(None, max_length=40, description="The CSV's encoding when detection is not wanted.")
    sheet: Optional[str] = Field(None, max_length=255, description="Excel sheet name or 1-based position.")
    excel_engine: Literal["calamine", "openpyxl", "xlrd"] = Field("calamine", description="Reader of Excel files.")
    ignore_suppression: bool = Field(False, description="Send to suppressed (opted-out) phones too: transactional "
                                     "messages only; recorded on the campaign.")
    # the cascade gateway (provider "cascade"): channels in order and what each says
    channels: Optional[str] = Field(None, max_length=20, description="cascade: channels in the order tried, e.g. 'viber,vk,sms' (the default).")
    viber_text: Optional[str] = Field(None, max_length=10_000, description="cascade: the Viber text (default: text).")
    viber_sender: Optional[str] = Field(None, max_length=64, description="cascade: the Viber sender (default: sender).")
    sms_text: Optional[str] = Field(None, max_length=10_000, description="cascade: the SMS text (default: text).")
    sms_sender: Optional[str] = Field(None, max_length=64, description="cascade: the SMS sender (default: sender).")
    vk_template_id: Optional[int] = Field(None, ge=1, description="cascade: the approved VK template's id.")
    vk_template_data: Optional[str] = Field(None, max_length=10_000, description="cascade: the VK template's values, a JSON object; {placeholders} are filled.")
    button_text: Optional[str] = Field(None, max_length=19, description="cascade: Viber button text (with button_url).")
    button_url: Optional[str] = Field(None, max_length=2000, description="cascade: Viber button link.")
    image_url: Optional[str] = Field(None, max_length=2000, description="cascade: Viber image (needs a button).")
    viber_validity: Optional[int] = Field(None, ge=1, le=1440, description="cascade: minutes Viber tries before the next channel (60).")
    viber_read_final: Optional[bool] = Field(None, description="cascade: a Viber message counts as delivered only once read.")

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the message text is empty")
        return value

    @field_validator("country")
    @classmethod
    def _country(cls, value: Optional[str]) -> Optional[str]:
        if value is None or value == "":
            return None
        import phonenumbers

        code = value.strip().upper()
        if code not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a country code phone numbers are known for (e.g. KZ, RU, UZ)")
        return code

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: Optional[str]) -> Optional[str]:
        if value is None or value == "":
            return None
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r} (e.g. utf-8, windows-1251, koi8-r, cp866)") from None
        return value

    @field_validator("name", "sender", "deferred_to", "sheet")
    @classmethod
    def _blank_is_none(cls, value: Optional[str]) -> Optional[str]:
        return value if value is None or value.strip() else None

    @model_validator(mode="after")
    def _cascade_only(self):
        from campaigns.providers.cascade.options import FIELDS

        given = [name for name in FIELDS if getattr(self, name, None) is not None]
        if given and self.provider != "cascade":
            raise ValueError(f"{', '.join(given)} apply to provider 'cascade' only")
        return self


class CampaignJson(CampaignOptions):
    """A campaign whose recipients travel in the request: one object a recipient, with the
    phone in ``recipient`` and placeholder values under their names."""

    recipients: list[dict[str, Cell]] = Field(min_length=1, max_length=MAX_JSON_RECIPIENTS)


class RecipientCounts(BaseModel):
    rows: int
    valid: int
    invalid: int
    duplicates: int
    added: int
    rejected_by_provider: int


class ChunkCounts(BaseModel):
    total: int
    added: int
    failed: int
    pending: int
    adding: int


class CampaignStatus(BaseModel):
    """A campaign: the same keys as ``campaigns status --json``."""

    model_config = ConfigDict(extra="allow")

    id: int
    name: str
    provider: str
    provider_campaign_id: Optional[str]
    state: str = Field(description="queued, creating, adding, launching, running, done, failed, paused or cancelled")
    provider_status: Optional[str]
    recipients: RecipientCounts
    chunks: ChunkCounts
    counters: dict[str, Any]
    error: Optional[str]
    created_at: Optional[str]
    updated_at: Optional[str]


class CampaignPage(BaseModel):
    items: list[CampaignStatus]
    next_cursor: Optional[str] = Field(description="Pass as ?cursor= for the next page; null on the last one.")


class LedgerRow(BaseModel):
    row: int
    phone_as_given: Optional[str]
    phone: Optional[str]
    verdict: str
    reason: Optional[str]
    provider_code: Optional[int]
    provider_meaning: Optional[str]
    message_id: Optional[str]
    final_status: Optional[str]


class LedgerPage(BaseModel):
    items: list[LedgerRow]
    next_cursor: Optional[str]


class ValidationReport(BaseModel):
    """What ``campaigns validate --json`` prints."""

    model_config = ConfigDict(extra="allow")

    rows: int
    valid: int
    invalid: int
    duplicates: int
    sendable: bool
    refusal: Optional[str]


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    errors: Optional[list[dict[str, str]]] = None


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    scope: Literal["read", "submit", "admin"] = "read"


class TokenEntry(BaseModel):
    name: str
    scope: str
    created_at: Optional[str]
    last_used_at: Optional[str]
    revoked_at: Optional[str]


class TokenCreated(TokenEntry):
    token: str = Field(description="Shown once; only its hash is kept.")


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str]
