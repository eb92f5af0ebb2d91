"""Typed results of Mobizon's methods, parsed leniently.

The live API sends numbers as JSON strings (``"totalItemCount": "400145"``, costs like
``"16.2000"``), ids as bare strings, PHP arrays as objects keyed ``"0"``, ``"1"``… and
may nest ``validity``, ``mclass``, ``trackShortLinkRecipients`` under ``extra``, itself
sometimes a JSON string (PROVIDERS.md, Transport). Every parser here accepts all of
that; a field that cannot be read becomes ``None`` and the raw item is kept in ``raw``.
``MalformedAnswer`` is raised only when a value the caller cannot do without is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from campaigns.providers.mobizon.codes import recipient_meaning


class MalformedAnswer(ValueError):
    """An answer with code 0 whose data lacks what the method must return."""


# --- lenient scalars ----------------------------------------------------------------


def to_int(value: Any) -> int | None:
    """``12``, ``"12"``, ``" 12 "``, ``12.0``, ``"12.0"`` -> 12; anything else -> None."""
    if value is None:
        return None
    if isinstance(value, int):  # bool included: True -> 1
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            number = to_float(text)
            return int(number) if number is not None and number.is_integer() else None
    return None


def to_float(value: Any) -> float | None:
    """``16.2``, ``"16.2000"``, ``"3"``, ``3`` -> a float; anything else -> None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip().replace(",", "."))
        except ValueError:
            return None
        return number if number == number and number not in (float("inf"), float("-inf")) else None
    return None


def to_str(value: Any) -> str | None:
    """A non-empty string, numbers written as text; ``None`` and ``""`` -> None."""
    if type(value) is str:  # the usual case, first: a 500-recipient answer has 1,000 of them
        return value or None
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return text if text != "" else None


def to_id(value: Any) -> str | None:
    """An id as a string: ``123``, ``"123"``, ``123.0`` -> ``"123"``."""
    if type(value) is str and value.isascii() and value.isdigit() and (value[0] != "0" or len(value) == 1):
        return value  # already what int() and str() would make of it
    if value is None:
        return None
    number = to_int(value)
    if number is not None:
        return str(number)
    text = to_str(value)
    return text.strip() if text and text.strip() else None


def to_list(value: Any) -> list:
    """A JSON array, or a PHP array sent as an object (``{"0": …, "1": …}``), as a list."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        keys = list(value.keys())
        if all(to_int(k) is not None for k in keys):
            return [value[k] for k in sorted(keys, key=lambda k: to_int(k))]
        return list(value.values())
    return []


def to_dict(value: Any) -> dict:
    """A mapping, or a JSON object sent as a string; anything else -> {}."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _pick(item: Mapping, *names: str) -> Any:
    for name in names:
        if name in item and item[name] is not None:
            return item[name]
    return None


# --- counters -----------------------------------------------------------------------

_NOT_COUNTERS = frozenset({"id", "campaignId"})  # numeric, but ids


@dataclass(frozen=True)
class Counters:
    """A campaign's counters as numbers: ``*Num`` and ``recipientsRejected`` as ints,
    ``*Cost`` as floats. ``values`` keeps every numeric counter the provider sent."""

    values: Mapping[str, float] = field(default_factory=dict)
    update_ts: str | None = None

    @classmethod
    def parse(cls, raw: Any) -> "Counters":
        values: dict[str, float] = {}
        update_ts = None
        for key, value in to_dict(raw).items():
            if key == "updateTs":
                update_ts = to_str(value)
                continue
            if key in _NOT_COUNTERS:
                continue
            if "Cost" in key:
                number = to_float(value)
            else:
                number = to_int(value)
                if number is None:
                    number = to_float(value)
            if number is not None:
                values[key] = number
        return cls(values=values, update_ts=update_ts)

    def get(self, name: str, default: float = 0) -> float:
        return self.values.get(name, default)

    def __getitem__(self, name: str) -> float:
        return self.values[name]

    def as_dict(self) -> dict[str, float]:
        return dict(self.values)

    @property
    def total_msg_num(self) -> int:
        return int(self.get("totalMsgNum"))

    @property
    def delivered_msg_num(self) -> int:
        return int(self.get("totalDelivrdMsgNum"))

    @property
    def total_cost(self) -> float:
        return float(self.get("totalCost"))


# --- Campaign module ----------------------------------------------------------------


@dataclass(frozen=True)
class RecipientResult:
    """AddRecipients' verdict on one recipient (Campaign module, "Recipient adding result code")."""

    code: int
    recipient: str | None
    message_id: str | None
    number: str | None = None
    contact_id: str | None = None
    contact_card_id: str | None = None

    @property
    def meaning(self) -> str:
        return recipient_meaning(self.code)

    @property
    def added(self) -> bool:
        return self.code == 0

    @classmethod
    def parse(cls, raw: Any) -> "RecipientResult":
        get = (raw if type(raw) is dict else to_dict(raw)).get
        code = get("code")
        if type(code) is not int:
            code = to_int(code)
            if code is None:
                raise MalformedAnswer("a recipient result has no code")
        # positional: an answer holds up to 500 of these
        return cls(
            code,
            to_str(get("recipient")),
            to_id(get("messageId")),
            to_str(get("number")),
            to_id(get("contactId")),
            to_id(get("contactCardId")),
        )


@dataclass(frozen=True)
class AddRecipientsResult:
    """The answer of AddRecipients for numbers: envelope ``code`` 0, 98 (partly added)
    or 99 (none added), and one item per processed recipient."""

    code: int
    items: tuple[RecipientResult, ...]

    @property
    def added_count(self) -> int:
        return sum(1 for item in self.items if item.added)

    @classmethod
    def parse(cls, code: int, data: Any) -> "AddRecipientsResult":
        return cls(code=code, items=tuple(map(RecipientResult.parse, to_list(data))))


def recipient_codes(data: Any, count: int) -> list[int] | None:
    """Each recipient result's code, read cheaply, when ``data`` is a list of ``count``
    objects whose codes are integers (or integers written as text): an answer that
    ``AddRecipientsResult.parse`` reads without fail, one result a recipient. None for
    anything else, which only the full parse may accept or refuse."""
    if type(data) is not list or len(data) != count:
        return None
    codes = []
    append = codes.append
    for item in data:
        if type(item) is not dict:
            return None
        code = item.get("code")
        if type(code) is not int:
            code = to_int(code) if type(code) is str else None
            if code is None:
                return None
        append(code)
    return codes


@dataclass(frozen=True)
class CampaignData:
    """Campaign/Get: the campaign's main data. ``validity``, ``mclass`` and
    ``track_short_link_recipients`` are read from the top level or from ``extra``."""

    id: str | None
    name: str | None
    text: str | None
    type: int | None
    msg_type: str | None
    sender: str | None
    rate_limit: int | None
    rate_period: int | None
    deferred_to: str | None
    mclass: int | None
    validity: int | None
    ttl: int | None
    track_short_link_recipients: int | None
    status: str | None
    extra: Mapping[str, Any]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def _fields(cls, raw: Any) -> dict[str, Any]:
        item = to_dict(raw)
        extra = to_dict(item.get("extra"))

        def either(name: str) -> Any:
            value = item.get(name)
            return value if value not in (None, "") else extra.get(name)

        return dict(
            id=to_id(item.get("id")),
            name=to_str(item.get("name")),
            text=to_str(item.get("text")),
            type=to_int(item.get("type")),
            msg_type=to_str(item.get("msgType")),
            sender=to_str(item.get("from")),
            rate_limit=to_int(item.get("rateLimit")),
            rate_period=to_int(item.get("ratePeriod")),
            deferred_to=to_str(item.get("deferredToTs")),
            mclass=to_int(either("mclass")),
            validity=to_int(either("validity")),
            ttl=to_int(either("ttl")),
            track_short_link_recipients=to_int(either("trackShortLinkRecipients")),
            status=_status(item.get("status")),
            extra=extra,
            raw=item,
        )

    @classmethod
    def parse(cls, raw: Any) -> "CampaignData":
        return cls(**cls._fields(raw))


def _status(value: Any) -> str | None:
    text = to_str(value)
    return text.strip().upper() if text else None


@dataclass(frozen=True)
class CampaignInfo(CampaignData):
    """Campaign/GetInfo: the main data plus the counters."""

    counters: Counters = field(default_factory=Counters)

    @classmethod
    def parse(cls, raw: Any) -> "CampaignInfo":
        fields_ = cls._fields(raw)
        return cls(**fields_, counters=Counters.parse(to_dict(raw).get("counters")))


@dataclass(frozen=True)
class CampaignItem:
    """One campaign of Campaign/List, with its status and counters."""

    id: str
    name: str | None
    text: str | None
    type: int | None
    sender: str | None
    status: str | None
    create_ts: str | None
    start_ts: str | None
    is_deleted: bool
    counters: Counters
    extra: Mapping[str, Any]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def parse(cls, raw: Any) -> "CampaignItem":
        item = to_dict(raw)
        campaign_id = to_id(item.get("id"))
        if campaign_id is None:
            raise MalformedAnswer("a campaign in the list has no id")
        return cls(
            id=campaign_id,
            name=to_str(item.get("name")),
            text=to_str(item.get("text")),
            type=to_int(item.get("type")),
            sender=to_str(item.get("from")),
            status=_status(item.get("status")),
            create_ts=to_str(item.get("createTs")),
            start_ts=to_str(item.get("startTs")),
            is_deleted=bool(to_int(item.get("isDeleted"))),
            counters=Counters.parse(item.get("counters")),
            extra=to_dict(item.get("extra")),
            raw=item,
        )


@dataclass(frozen=True)
class CampaignPage:
    """One page of Campaign/List; ``total`` is the provider's ``totalItemCount``."""

    items: tuple[CampaignItem, ...]
    total: int

    @classmethod
    def parse(cls, data: Any) -> "CampaignPage":
        body = to_dict(data)
        items = tuple(CampaignItem.parse(item) for item in to_list(body.get("items")))
        total = to_int(body.get("totalItemCount"))
        return cls(items=items, total=len(items) if total is None else total)


@dataclass(frozen=True)
class ShortLink:
    """One short link of Campaign/GetLinks."""

    id: str | None
    code: str | None
    full_link: str | None
    short_link: str | None
    click_count: int
    redirect_count: int
    comment: str | None

    @classmethod
    def parse(cls, raw: Any) -> "ShortLink":
        item = to_dict(raw)
        return cls(
            id=to_id(item.get("id")),
            code=to_str(item.get("code")),
            full_link=to_str(item.get("fullLink")),
            short_link=to_str(item.get("shortLink")),
            click_count=to_int(item.get("clickCnt")) or 0,
            redirect_count=to_int(item.get("redirectCnt")) or 0,
            comment=to_str(item.get("comment")),
        )


# --- Message module -----------------------------------------------------------------

FINAL_SMS_STATUSES = frozenset({"DELIVRD", "UNDELIV", "REJECTD", "EXPIRED", "DELETED"})
PENDING_SMS_STATUSES = frozenset({"NEW", "ENQUEUD", "ACCEPTD", "PDLIVRD"})


@dataclass(frozen=True)
class SentMessage:
    """Message/SendSmsMessage: the campaign made for the message, the message, and the
    campaign's status (1 waiting for moderation, 2 sent without moderation)."""

    campaign_id: str | None
    message_id: str
    status: int | None

    @classmethod
    def parse(cls, data: Any) -> "SentMessage":
        body = to_dict(data)
        message_id = to_id(body.get("messageId"))
        if message_id is None:
            raise MalformedAnswer("the answer has no messageId")
        return cls(
            campaign_id=to_id(body.get("campaignId")),
            message_id=message_id,
            status=to_int(body.get("status")),
        )


@dataclass(frozen=True)
class SmsStatus:
    """Message/GetSMSStatus: one message's delivery status."""

    id: str
    status: str | None
    seg_num: int | None
    start_send_ts: str | None
    status_update_ts: str | None

    @property
    def final(self) -> bool:
        return self.status in FINAL_SMS_STATUSES

    @classmethod
    def parse(cls, raw: Any) -> "SmsStatus":
        item = to_dict(raw)
        message_id = to_id(item.get("id"))
        if message_id is None:
            raise MalformedAnswer("a status has no message id")
        return cls(
            id=message_id,
            status=_status(item.get("status")),
            seg_num=to_int(item.get("segNum")),
            start_send_ts=to_str(item.get("startSendTs")),
            status_update_ts=to_str(item.get("statusUpdateTs")),
        )


@dataclass(frozen=True)
class MessageItem:
    """One message of Message/List."""

    id: str
    campaign_id: str | None
    to: str | None
    status: str | None
    text: str | None
    sender: str | None
    seg_num: int | None
    seg_user_buy: float | None
    groups: str | None
    uuid: str | None
    country_a2: str | None
    operator_name: str | None
    start_send_ts: str | None
    status_update_ts: str | None

    @property
    def final(self) -> bool:
        return self.status in FINAL_SMS_STATUSES

    @classmethod
    def parse(cls, raw: Any) -> "MessageItem":
        item = to_dict(raw)
        message_id = to_id(item.get("id"))
        if message_id is None:
            raise MalformedAnswer("a message in the list has no id")
        return cls(
            id=message_id,
            campaign_id=to_id(item.get("campaignId")),
            to=to_str(item.get("to")),
            status=_status(item.get("status")),
            text=to_str(item.get("text")),
            sender=to_str(item.get("from")),
            seg_num=to_int(item.get("segNum")),
            seg_user_buy=to_float(item.get("segUserBuy")),
            groups=to_str(item.get("groups")),
            uuid=to_str(item.get("uuid")),
            country_a2=to_str(_pick(item, "countryA2", "country")),
            operator_name=to_str(_pick(item, "operatorName", "operator")),
            start_send_ts=to_str(item.get("startSendTs")),
            status_update_ts=to_str(item.get("statusUpdateTs")),
        )


@dataclass(frozen=True)
class MessagePage:
    """One page of Message/List."""

    items: tuple[MessageItem, ...]
    total: int | None

    @classmethod
    def parse(cls, data: Any) -> "MessagePage":
        body = to_dict(data)
        return cls(
            items=tuple(MessageItem.parse(item) for item in to_list(body.get("items"))),
            total=to_int(body.get("totalItemCount")),
        )


# --- TaskQueue ----------------------------------------------------------------------

TASK_WAITING, TASK_RUNNING, TASK_DONE, TASK_REJECTED = 0, 1, 2, 3


@dataclass(frozen=True)
class TaskStatus:
    """TaskQueue/GetStatus: a background task's ``progress`` (0-100) and ``status``
    (0 waiting, 1 running, 2 done, 3 rejected)."""

    id: str
    progress: int
    status: int | None

    @property
    def done(self) -> bool:
        return self.status == TASK_DONE

    @property
    def rejected(self) -> bool:
        return self.status == TASK_REJECTED

    @property
    def finished(self) -> bool:
        return self.status in (TASK_DONE, TASK_REJECTED)

    @classmethod
    def parse(cls, task_id: Any, data: Any) -> "TaskStatus":
        body = to_dict(data)
        status = to_int(body.get("status"))
        if status is None:
            raise MalformedAnswer("the task status has no status")
        progress = to_int(body.get("progress"))
        if progress is None:
            progress = int(to_float(body.get("progress")) or 0)
        return cls(id=str(task_id), progress=max(0, min(100, progress)), status=status)
