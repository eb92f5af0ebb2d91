"""MobizonClient: every method of the Campaign and Message modules, and TaskQueue/GetStatus.

Seeds 002 (Campaign module) and 000 (Message module) are the specification; the limits
they set are checked here before the call, so a bug in the caller fails loudly instead
of being truncated silently by the provider. Errors: see ``transport`` and ``codes``.

    client = MobizonClient(httpx.Client(timeout=30), api_key=key)
    campaign_id = client.create_campaign(text="Hello {name}!", type=3)
    result = client.add_recipients(campaign_id, [{"recipient": "77011234567", "name": "Aru"}])
    client.send_campaign(campaign_id)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace
from datetime import datetime
from typing import Any, BinaryIO, Callable, Iterator, Mapping, Sequence

import httpx

from campaigns.providers.errors import PermanentError, TemporaryError
from campaigns.providers.mobizon import checks, codes, wire
from campaigns.providers.mobizon.transport import DEFAULT_API_URL, Answer, MobizonTransport
from campaigns.providers.mobizon.types import (
    AddRecipientsResult,
    CampaignData,
    CampaignInfo,
    CampaignPage,
    MalformedAnswer,
    MessagePage,
    MessageItem,
    SentMessage,
    ShortLink,
    SmsStatus,
    TaskStatus,
    to_dict,
    to_id,
    to_int,
    to_list,
)

MAX_RECIPIENTS_PER_CALL = 500  # AddRecipients: "shouldn't exceed 500 entries", else code 12
MAX_STATUS_IDS = 100  # GetSMSStatus: "maximum number of identifiers in one request – 100"
MAX_LIST_CAMPAIGN_IDS = 10  # Campaign/List: criteria[ids] "maximum IDs number makes 10"
MAX_LIST_MESSAGE_CAMPAIGNS = 100  # Message/List: criteria[campaignIds] "maximum – 100"
MESSAGE_PAGE_SIZES = (25, 50, 100)  # Message/List: pagination[pageSize] "(25, 50, 100)"
PLACEHOLDER_FLAGS = (1, 2, 3)  # AddRecipients params[placeholdersFlag]: keep, strip, reject
TASK_STATUS_INTERVAL = 1.0  # TaskQueue/GetStatus: at most once a second (PROVIDERS.md)


def _malformed(name: str, exc: Exception, *, maybe_done: bool = True) -> TemporaryError:
    return TemporaryError(f"unreadable answer: {exc}", method=name, maybe_done=maybe_done)


@dataclass(frozen=True)
class AddRecipientsRequest:
    """An AddRecipients call's form body, checked and encoded (``prepare_add_recipients``)."""

    body: bytes = field(repr=False)


def parse_add_recipients(answer: Answer) -> AddRecipientsResult:
    """AddRecipients' envelope read into typed results; TemporaryError when a result
    cannot be read (the call was done: resending is safe, duplicates come back as 4)."""
    try:
        return AddRecipientsResult.parse(answer.code, answer.data)
    except MalformedAnswer as exc:
        raise _malformed("campaign/addRecipients", exc) from None


class MobizonClient:
    """A strict client of Mobizon's API over an ``httpx.Client`` (which it closes on ``close``).

    ``api_url`` is the scheme and host of the account's API domain; after a code 13 the
    client uses the domain Mobizon names and calls ``on_domain_change(new_api_url)``.
    ``clock``/``sleep`` pace TaskQueue/GetStatus (injectable for tests).
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        api_key: str,
        api_url: str = DEFAULT_API_URL,
        timeout: httpx.Timeout | None = None,
        on_domain_change: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._transport = MobizonTransport(
            http, api_key=api_key, api_url=api_url, timeout=timeout, on_domain_change=on_domain_change
        )
        self._clock = clock
        self._sleep = sleep
        self._task_lock = threading.Lock()
        self._last_task_call: float | None = None

    @property
    def api_url(self) -> str:
        """The API domain in use (changes after a code 13)."""
        return self._transport.api_url

    def __repr__(self) -> str:
        return f"MobizonClient(api_url={self.api_url!r})"

    def close(self) -> None:
        """Close the underlying ``httpx.Client``."""
        self._transport.close()

    def __enter__(self) -> "MobizonClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, module: str, method: str, params: Mapping[str, Any] | None = None) -> Answer:
        return self._transport.call(module, method, body=wire.encode(params or {}))

    # --- Campaign module ----------------------------------------------------------

    def create_campaign(
        self,
        *,
        name: str | None = None,
        text: str,
        type: int = 2,
        sender: str | None = None,
        rate_limit: int | None = None,
        rate_period: int | None = None,
        deferred_to: str | datetime | None = None,
        mclass: int | None = None,
        validity: int | None = None,
        track_short_link_recipients: int | bool | None = None,
        now: datetime | None = None,
    ) -> str:
        """Campaign/Create; returns the new campaign's id.

        Raises checks.InvalidCampaign (a ValueError) listing every broken rule before any
        call; provider errors as documented in ``transport``. A TemporaryError with
        ``maybe_done`` means the campaign may exist: reconcile before creating again.
        """
        checks.check_campaign(
            name=name,
            text=text,
            type=type,
            rate_limit=rate_limit,
            rate_period=rate_period,
            deferred_to=deferred_to,
            mclass=mclass,
            validity=validity,
            track_short_link_recipients=track_short_link_recipients,
            now=now,
        )
        data = {
            # type, from, text first: the order of the document's own example.
            "type": type,
            "from": sender,
            "text": text,
            "name": name,
            "rateLimit": rate_limit,
            "ratePeriod": rate_period,
            "deferredToTs": None if deferred_to is None else checks.format_deferred(deferred_to, now),
            "mclass": mclass,
            "validity": validity,
            "trackShortLinkRecipients": track_short_link_recipients,
        }
        answer = self._call("campaign", "create", {"data": data})
        body = to_dict(answer.data)
        # A bare id ("123") as seen live, or an object holding it.
        campaign_id = to_id(body.get("id", body.get("campaignId"))) if body else to_id(answer.data)
        if campaign_id is None:
            raise _malformed("campaign/create", MalformedAnswer("no campaign id in the answer"))
        return campaign_id

    def add_recipients(
        self,
        campaign_id: str | int,
        recipients: Sequence[str] | Sequence[Mapping[str, str]],
        *,
        replace: bool = False,
        placeholders_flag: int | None = None,
    ) -> AddRecipientsResult:
        """Campaign/AddRecipients with numbers (``"77011234567"``) or template recipients
        (``{"recipient": "77011234567", "name": "Aru"}``), at most 500 a call.

        Returns the envelope code (0, 98 some not added, 99 none added) and each
        recipient's result; 98/99 are data, not errors. Raises ValueError for an empty or
        oversized list, mixed kinds, or a recipient without ``recipient``; TemporaryError
        for code 10 (another add to this campaign is running) or an unreadable result.
        """
        request = self.prepare_add_recipients(
            campaign_id, recipients, replace=replace, placeholders_flag=placeholders_flag
        )
        return parse_add_recipients(self.post_add_recipients(request))

    def prepare_add_recipients(
        self,
        campaign_id: str | int,
        recipients: Sequence[str] | Sequence[Mapping[str, str]],
        *,
        replace: bool = False,
        placeholders_flag: int | None = None,
    ) -> AddRecipientsRequest:
        """``add_recipients``' request, checked and encoded, for ``post_add_recipients``
        (so it can be built while another call is in flight). Raises ValueError as
        ``add_recipients`` does."""
        if not recipients:
            raise ValueError("AddRecipients needs at least one recipient")
        if len(recipients) > MAX_RECIPIENTS_PER_CALL:
            raise ValueError(
                f"AddRecipients takes at most {MAX_RECIPIENTS_PER_CALL} recipients a call, got {len(recipients)}"
            )
        if placeholders_flag is not None and placeholders_flag not in PLACEHOLDER_FLAGS:
            raise ValueError(f"placeholders_flag must be 1 (keep), 2 (strip) or 3 (reject), got {placeholders_flag!r}")
        params = {"id": campaign_id, "recipients": _recipients_param(recipients)}
        options = {"replace": 1 if replace else None, "placeholdersFlag": placeholders_flag}
        if any(v is not None for v in options.values()):
            params["params"] = options
        return AddRecipientsRequest(wire.encode(params))

    def post_add_recipients(self, request: AddRecipientsRequest) -> Answer:
        """Post a prepared AddRecipients request; its envelope (code 0, 98 or 99) with the
        results unread (``parse_add_recipients``). Raises the transport's errors, and
        PermanentError for a background task (code 100), never started by a list."""
        answer = self._transport.call("campaign", "addRecipients", body=request.body)
        if answer.code == codes.BACKGROUND_TASK:
            raise PermanentError(
                "unexpected background task for a list of numbers", code=answer.code, method="campaign/addRecipients"
            )
        return answer

    def add_recipients_file(
        self,
        campaign_id: str | int,
        file: bytes | BinaryIO,
        filename: str,
        *,
        encoding: str | None = None,
        skip_header: bool | None = None,
        delimiter: str | None = None,
        enclosure: str | None = None,
        replace: bool = False,
        placeholders_flag: int | None = None,
    ) -> int:
        """Campaign/AddRecipients with ``recipientsFile`` (CSV or XLS); returns the id of
        the background task Mobizon starts (code 100); follow it with ``task_status``."""
        if placeholders_flag is not None and placeholders_flag not in PLACEHOLDER_FLAGS:
            raise ValueError(f"placeholders_flag must be 1 (keep), 2 (strip) or 3 (reject), got {placeholders_flag!r}")
        options = {
            "replace": 1 if replace else None,
            "placeholdersFlag": placeholders_flag,
            "recipientsFileEncoding": encoding,
            "recipientsFileSkipHeader": skip_header,
            "recipientsFileDelimiter": delimiter,
            "recipientsFileEnclosure": enclosure,
        }
        fields = dict(wire.flatten({"id": campaign_id, "params": options}))
        content_type = "application/vnd.ms-excel" if filename.lower().endswith(".xls") else "text/csv"
        start = None if isinstance(file, (bytes, bytearray)) or not file.seekable() else file.tell()
        payload = bytes(file) if isinstance(file, (bytes, bytearray)) else (None if start is not None else file.read())

        def multipart() -> dict[str, Any]:
            if payload is not None:
                content: bytes | BinaryIO = payload
            else:
                file.seek(start)  # the retry after a domain switch sends the file again
                content = file
            return {"data": fields, "files": {"recipientsFile": (filename, content, content_type)}}

        answer = self._transport.call("campaign", "addRecipients", multipart=multipart)
        task_id = to_int(answer.data)
        if task_id is None:
            raise _malformed("campaign/addRecipients", MalformedAnswer("no background task id in the answer"))
        return task_id

    def send_campaign(self, campaign_id: str | int) -> int:
        """Campaign/Send; returns 1 (sent to moderation) or 2 (sending). Not idempotent:
        after a lost answer read the campaign's status before sending again."""
        answer = self._call("campaign", "send", {"id": campaign_id})
        status = to_int(answer.data)
        if status is None:
            raise _malformed("campaign/send", MalformedAnswer(f"no status in the answer ({answer.data!r:.40})"))
        return status

    def get_campaign(self, campaign_id: str | int) -> CampaignData:
        """Campaign/Get: the campaign's main data."""
        answer = self._call("campaign", "get", {"id": campaign_id})
        data = CampaignData.parse(answer.data)
        return data if data.id else dc_replace(data, id=str(campaign_id))

    def get_campaign_info(self, campaign_id: str | int, *, filled_template_text: bool = False) -> CampaignInfo:
        """Campaign/GetInfo: the main data and the counters (numbers, not strings);
        ``filled_template_text`` asks for the template filled with a recipient's data."""
        params = {"id": campaign_id, "getFilledTplCampaignText": 1 if filled_template_text else None}
        answer = self._call("campaign", "getInfo", params)
        info = CampaignInfo.parse(answer.data)
        return info if info.id else dc_replace(info, id=str(campaign_id))

    def get_links(self, campaign_id: str | int) -> list[ShortLink]:
        """Campaign/GetLinks: the campaign's short links with their click counts."""
        answer = self._call("campaign", "getLinks", {"campaignId": campaign_id})
        body = answer.data
        items = to_list(body.get("items")) if isinstance(body, dict) and "items" in body else to_list(body)
        return [ShortLink.parse(item) for item in items]

    def list_campaigns(
        self,
        *,
        criteria: Mapping[str, Any] | None = None,
        page: int = 0,
        page_size: int | None = None,
        sort: Mapping[str, str] | None = None,
    ) -> CampaignPage:
        """Campaign/List: one page of campaigns with status and counters, and the total.

        Without ids or dates in ``criteria`` Mobizon only sees the last 24 hours.
        Raises ValueError for more than 10 ``criteria["ids"]`` (Mobizon would silently
        search the first 10).
        """
        criteria = dict(criteria or {})
        ids = criteria.get("ids")
        if isinstance(ids, (list, tuple)) and len(ids) > MAX_LIST_CAMPAIGN_IDS:
            raise ValueError(f"Campaign/List searches at most {MAX_LIST_CAMPAIGN_IDS} ids a call, got {len(ids)}")
        params = {
            "criteria": criteria or None,
            "pagination": {"currentPage": page, "pageSize": page_size},
            "sort": dict(sort) if sort else None,
        }
        answer = self._call("campaign", "list", params)
        try:
            return CampaignPage.parse(answer.data)
        except MalformedAnswer as exc:
            raise _malformed("campaign/list", exc) from None

    def delete_campaign(self, campaign_id: str | int) -> bool:
        """Campaign/Delete; True when deleted. Code 10 (the campaign has started, or starts
        in under 5 minutes) raises TemporaryError; the adapter makes it permanent."""
        answer = self._call("campaign", "delete", {"id": campaign_id})
        value = answer.data
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true")
        return bool(value)

    # --- Message module -----------------------------------------------------------

    def send_sms_message(
        self,
        recipient: str,
        text: str,
        *,
        sender: str | None = None,
        name: str | None = None,
        deferred_to: str | datetime | None = None,
        mclass: int | None = None,
        validity: int | None = None,
        now: datetime | None = None,
    ) -> SentMessage:
        """Message/SendSmsMessage: one SMS; returns its campaign, message id and status.
        Not idempotent. Raises checks.InvalidCampaign for broken limits before the call."""
        checks.check_message(
            recipient=recipient, text=text, name=name, deferred_to=deferred_to, mclass=mclass, validity=validity,
            now=now,
        )
        options = {
            "name": name,
            "deferredToTs": None if deferred_to is None else checks.format_deferred(deferred_to, now),
            "mclass": mclass,
            "validity": validity,
        }
        params = {"recipient": recipient, "text": text, "from": sender, "params": options}
        answer = self._call("message", "sendSmsMessage", params)
        try:
            return SentMessage.parse(answer.data)
        except MalformedAnswer as exc:
            raise _malformed("message/sendSmsMessage", exc) from None

    def get_sms_status(self, ids: Sequence[str | int]) -> list[SmsStatus]:
        """Message/GetSMSStatus for any number of message ids, 100 a call. Ids that are
        unknown or not the account's are absent from the result."""
        ids = list(ids)
        statuses: list[SmsStatus] = []
        for start in range(0, len(ids), MAX_STATUS_IDS):
            answer = self._call("message", "getSMSStatus", {"ids": ids[start : start + MAX_STATUS_IDS]})
            try:
                statuses.extend(SmsStatus.parse(item) for item in to_list(answer.data))
            except MalformedAnswer as exc:
                raise _malformed("message/getSMSStatus", exc) from None
        return statuses

    def list_messages(
        self,
        *,
        criteria: Mapping[str, Any],
        page: int = 0,
        page_size: int = 100,
        sort: Mapping[str, str] | None = None,
        with_number_info: bool = False,
    ) -> MessagePage:
        """Message/List: one page (pages count from 0; sizes 25, 50 or 100).
        Raises ValueError for another page size or more than 100 campaign ids."""
        if page_size not in MESSAGE_PAGE_SIZES:
            raise ValueError(f"Message/List pages hold 25, 50 or 100 messages, got {page_size!r}")
        criteria = dict(criteria)
        ids = criteria.get("campaignIds")
        if isinstance(ids, (list, tuple)) and len(ids) > MAX_LIST_MESSAGE_CAMPAIGNS:
            raise ValueError(f"Message/List searches at most {MAX_LIST_MESSAGE_CAMPAIGNS} campaigns, got {len(ids)}")
        params = {
            "criteria": criteria or None,
            "pagination": {"currentPage": page, "pageSize": page_size},
            "sort": dict(sort) if sort else None,
            "withNumberInfo": 1 if with_number_info else None,
        }
        answer = self._call("message", "list", params)
        try:
            return MessagePage.parse(answer.data)
        except MalformedAnswer as exc:
            raise _malformed("message/list", exc) from None

    def iter_messages(
        self,
        *,
        criteria: Mapping[str, Any],
        page_size: int = 100,
        sort: Mapping[str, str] | None = None,
        with_number_info: bool = False,
    ) -> Iterator[MessageItem]:
        """Every message matching ``criteria``, page after page from 0 to the last.
        Arguments are checked now; the calls happen as the iterator is consumed."""
        if page_size not in MESSAGE_PAGE_SIZES:
            raise ValueError(f"Message/List pages hold 25, 50 or 100 messages, got {page_size!r}")
        return self._pages(dict(criteria), page_size, sort, with_number_info)

    def _pages(
        self, criteria: dict, page_size: int, sort: Mapping[str, str] | None, with_number_info: bool
    ) -> Iterator[MessageItem]:
        seen = 0
        previous: tuple[str, ...] = ()
        page = 0
        while True:
            result = self.list_messages(
                criteria=criteria, page=page, page_size=page_size, sort=sort, with_number_info=with_number_info
            )
            ids = tuple(item.id for item in result.items)
            if not ids:
                return
            if ids == previous:
                # A server ignoring currentPage would make this loop forever.
                raise TemporaryError(f"page {page} repeats page {page - 1}", method="message/list", maybe_done=False)
            yield from result.items
            seen += len(ids)
            if len(ids) < page_size or (result.total is not None and seen >= result.total):
                return
            previous = ids
            page += 1

    # --- TaskQueue ----------------------------------------------------------------

    def task_status(self, task_id: str | int) -> TaskStatus:
        """TaskQueue/GetStatus of a background task; waits so that calls from this client
        are at least a second apart (PROVIDERS.md: "call it at most once a second")."""
        with self._task_lock:
            if self._last_task_call is not None:
                wait = self._last_task_call + TASK_STATUS_INTERVAL - self._clock()
                if wait > 0:
                    self._sleep(wait)
            self._last_task_call = self._clock()
            answer = self._call("taskqueue", "getStatus", {"id": task_id})
        try:
            return TaskStatus.parse(task_id, answer.data)
        except MalformedAnswer as exc:
            raise _malformed("taskqueue/getStatus", exc) from None


def _recipients_param(recipients: Sequence[str] | Sequence[Mapping[str, str]]) -> Any:
    """``recipients[]=…`` for numbers, ``recipients[i][recipient]=…&recipients[i][name]=…``
    for template recipients, as the AddRecipients examples write them."""
    if all(isinstance(r, str) for r in recipients):
        return wire.Appended(recipients)
    if not all(isinstance(r, Mapping) for r in recipients):
        raise ValueError("recipients must be all phone numbers or all mappings with a 'recipient' key")
    rows = []
    for index, recipient in enumerate(recipients):
        phone = recipient.get("recipient")
        if not phone:
            raise ValueError(f"recipient {index} has no 'recipient' (its phone number)")
        row = {"recipient": str(phone)}
        # A None value is left out, so params[placeholdersFlag] decides (keep, strip, reject).
        row.update((str(k), None if v is None else str(v)) for k, v in recipient.items() if k != "recipient")
        rows.append(row)
    return rows
