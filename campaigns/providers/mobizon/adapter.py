"""Mobizon behind the provider port: server-side campaigns.

    create_campaign    Campaign/Create with data[...] from the CampaignSpec
    find_campaign      Campaign/List by text and creation date, after a lost Create answer
    check_campaign     Campaign/List by id: the campaign to add to is the one we created
    add_chunk          Campaign/AddRecipients; one outcome per recipient, 98/99 are data
    prepare_chunk      the same split: encoded now, sent later, the counts before the outcomes
    launch             Campaign/Send: 1 -> MODERATION, 2 -> RUNNING
    campaign_statuses  Campaign/List by criteria[ids], 10 ids a call
    message_statuses   Message/List by criteria[campaignIds], paged to the end
    cancel             Campaign/Delete; code 10 -> PermanentError
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Callable, Iterator, Sequence

import httpx

from campaigns.providers.errors import PermanentError, TemporaryError, WrongCampaign
from campaigns.providers.mobizon import codes
from campaigns.providers.mobizon.checks import InvalidCampaign
from campaigns.providers.mobizon.client import (
    MAX_LIST_CAMPAIGN_IDS, AddRecipientsRequest, MobizonClient, parse_add_recipients,
)
from campaigns.providers.mobizon.transport import Answer
from campaigns.providers.mobizon.types import FINAL_SMS_STATUSES, CampaignItem, RecipientResult, recipient_codes
from campaigns.providers.port import (
    CampaignSpec, CampaignStatus, ChunkAnswer, ChunkRecipient, MessageStatus, RecipientOutcome,
)
from campaigns.settings import Settings, SettingsError

SANDBOX_API_KEY = "sandbox"  # the simulator accepts any non-empty key
LAUNCH_STATUSES = {1: "MODERATION", 2: "RUNNING"}  # Campaign/Send: "1 - moderation, 2 - sending"
STATUS_PAGE_SIZE = 25  # Campaign/List pages must hold the 10 ids of one batch
FIND_PAGE_SIZE = 50
FIND_MAX_PAGES = 20


def _digits(text: str | None) -> str:
    if not text:
        return ""
    if text.isdigit():  # the usual case: nothing to drop
        return text
    return "".join(ch for ch in text if ch.isdigit())


class MobizonProvider:
    """The Provider port over a MobizonClient. ``today`` gives the date used to search
    recent campaigns (injectable for tests)."""

    server_side_campaigns = True

    def __init__(self, client: MobizonClient, *, name: str = "mobizon", today: Callable[[], date] = date.today):
        self.client = client
        self.name = name
        self._today = today

    def __repr__(self) -> str:
        return f"MobizonProvider(name={self.name!r}, client={self.client!r})"

    def close(self) -> None:
        self.client.close()

    def create_campaign(self, spec: CampaignSpec) -> str:
        """Campaign/Create from ``spec``; PermanentError when the spec breaks Mobizon's rules."""
        try:
            return self.client.create_campaign(
                name=spec.name or None,
                text=spec.text,
                type=spec.type,
                sender=spec.sender,
                rate_limit=spec.rate_limit,
                rate_period=spec.rate_period,
                deferred_to=spec.deferred_to,
                mclass=spec.mclass,
                validity=spec.validity,
            )
        except InvalidCampaign as exc:
            raise PermanentError(str(exc), method="campaign/create", data=exc.problems) from None

    def find_campaign(self, spec: CampaignSpec, *, exclude: Sequence[str] = ()) -> str | None:
        """The newest campaign in status NEW with ``spec``'s name and text, created
        yesterday to tomorrow (the account's timezone may differ from ours), whose id is
        not in ``exclude``; None when there is none."""
        today = self._today()
        criteria = {
            "text": spec.text,
            "createDateFrom": (today - timedelta(days=1)).isoformat(),
            "createDateTo": (today + timedelta(days=1)).isoformat(),
        }
        excluded = {str(x) for x in exclude}
        candidates: list[CampaignItem] = []
        seen = 0
        for page in range(FIND_MAX_PAGES):
            result = self.client.list_campaigns(criteria=criteria, page=page, page_size=FIND_PAGE_SIZE)
            candidates.extend(item for item in result.items if self._same(item, spec) and item.id not in excluded)
            seen += len(result.items)
            if len(result.items) < FIND_PAGE_SIZE or seen >= result.total:
                break
        if not candidates:
            return None
        newest = max(candidates, key=lambda item: (item.create_ts or "", int(_digits(item.id) or 0)))
        return newest.id

    @staticmethod
    def _same(item: CampaignItem, spec: CampaignSpec) -> bool:
        return (
            item.status == "NEW"
            and not item.is_deleted
            and (item.text or "") == spec.text
            and (item.name or "") == (spec.name or "")
        )

    def check_campaign(self, campaign_id: str, spec: CampaignSpec) -> None:
        """Before adding to ``campaign_id``: it must be the campaign created for ``spec``,
        listed by Campaign/List (not deleted) with ``spec``'s name and text. Raises
        WrongCampaign saying what differs, the client's errors when Mobizon cannot tell."""
        page = self.client.list_campaigns(criteria={"ids": [str(campaign_id)]}, page_size=STATUS_PAGE_SIZE)
        item = next((i for i in page.items if i.id == str(campaign_id)), None)
        if item is None or item.is_deleted:
            raise WrongCampaign(
                f"campaign {campaign_id} is no longer at the provider (deleted there, or made by a sandbox "
                "simulator that ended without saving it)", method="campaign/list",
            )
        if (item.text or "") != spec.text or (item.name or "") != (spec.name or ""):
            raise WrongCampaign(
                f"campaign {campaign_id} at the provider is another campaign (its name or text differ)",
                method="campaign/list",
            )

    def add_chunk(
        self,
        campaign_id: str,
        chunk_key: str,
        recipients: Sequence[ChunkRecipient],
        *,
        resend: bool = False,
        spec: CampaignSpec | None = None,
    ) -> list[RecipientOutcome]:
        """Campaign/AddRecipients for one chunk (≤ 500); one outcome per recipient, in order.

        Template recipients (``spec.type`` 3, or, without ``spec``, any recipient with
        fields) travel with their placeholder values; ``spec.placeholders_flag`` becomes
        params[placeholdersFlag]. On a ``resend`` code 4 means "already added". Raises
        TemporaryError (code 10, transport, a result list that does not match the chunk).
        """
        return self.prepare_chunk(campaign_id, chunk_key, recipients, resend=resend, spec=spec).send().outcomes()

    def prepare_chunk(
        self,
        campaign_id: str,
        chunk_key: str,
        recipients: Sequence[ChunkRecipient],
        *,
        resend: bool = False,
        spec: CampaignSpec | None = None,
    ) -> PreparedAdd:
        """``add_chunk`` split in two (``campaigns.providers.port.prepare_chunk``): the
        request built and encoded now (ValueError for a chunk Mobizon would refuse), sent by
        ``send()``."""
        template = spec.type == 3 if spec is not None else any(r.fields for r in recipients)
        if template:
            payload = [{"recipient": r.phone, **r.fields} for r in recipients]
        else:
            payload = [r.phone for r in recipients]
        flag = spec.placeholders_flag if spec is not None and template else None
        request = self.client.prepare_add_recipients(campaign_id, payload, placeholders_flag=flag)
        return PreparedAdd(self.client, request, tuple(recipients), chunk_key, resend)

    def launch(self, campaign_id: str) -> str:
        """Campaign/Send; the status right after (MODERATION or RUNNING)."""
        status = self.client.send_campaign(campaign_id)
        if status in LAUNCH_STATUSES:
            return LAUNCH_STATUSES[status]
        # An undocumented answer: the campaign was sent, so read what it is now.
        current = self.campaign_statuses([campaign_id]).get(str(campaign_id))
        if current is None:
            raise TemporaryError(
                f"sent, but the answer ({status}) and the list give no status", method="campaign/send", maybe_done=True
            )
        return current.status

    def campaign_statuses(self, campaign_ids: Sequence[str]) -> dict[str, CampaignStatus]:
        """Status and counters of ``campaign_ids`` through Campaign/List, 10 ids a call
        (Mobizon searches only the first 10). Ids Mobizon does not return are absent."""
        wanted = [str(x) for x in dict.fromkeys(campaign_ids)]
        statuses: dict[str, CampaignStatus] = {}
        for start in range(0, len(wanted), MAX_LIST_CAMPAIGN_IDS):
            batch = wanted[start : start + MAX_LIST_CAMPAIGN_IDS]
            page = self.client.list_campaigns(criteria={"ids": batch}, page_size=STATUS_PAGE_SIZE)
            for item in page.items:
                if item.id in batch:
                    statuses[item.id] = CampaignStatus(
                        campaign_id=item.id, status=item.status or "UNKNOWN", counters=item.counters.as_dict()
                    )
        return statuses

    def message_statuses(self, campaign_id: str) -> Iterator[MessageStatus]:
        """Every message of the campaign with its status, through Message/List pages of 100."""
        for item in self.client.iter_messages(criteria={"campaignIds": [campaign_id]}, page_size=100):
            status = item.status or "UNKNOWN"
            yield MessageStatus(
                message_id=item.id, phone=item.to or "", status=status, final=status in FINAL_SMS_STATUSES
            )

    def cancel(self, campaign_id: str) -> None:
        """Campaign/Delete. PermanentError when Mobizon refuses (code 10: the campaign has
        started, or a deferred one starts in under 5 minutes) or it is not found (code 2)."""
        try:
            deleted = self.client.delete_campaign(campaign_id)
        except TemporaryError as exc:
            if exc.code == 10:
                raise PermanentError(
                    "the campaign can no longer be deleted: it has started, or starts in under 5 minutes",
                    code=10,
                    method="campaign/delete",
                ) from None
            raise
        if not deleted:
            raise PermanentError("Mobizon did not delete the campaign", method="campaign/delete")


class PreparedAdd:
    """One chunk's AddRecipients request, encoded; ``send()`` posts it."""

    def __init__(
        self, client: MobizonClient, request: AddRecipientsRequest, recipients: tuple[ChunkRecipient, ...],
        chunk_key: str, resend: bool,
    ):
        self.client = client
        self.request = request
        self.recipients = recipients
        self.chunk_key = chunk_key
        self.resend = resend

    def send(self) -> ChunkAnswer:
        """Post the request. Returns once the answer's envelope and each result's code are
        read: the counts decide whether the next chunk may go, each recipient's outcome is
        worked out when asked. Raises what ``add_chunk`` raises, all before returning: an
        answer that is not one well-formed result per recipient is read in full here."""
        answer = self.client.post_add_recipients(self.request)
        recipients, resend = self.recipients, self.resend
        codes_ = recipient_codes(answer.data, len(recipients))
        if codes_ is None:
            # Results that may not pair with the chunk, or not parse: refused (TemporaryError)
            # or accepted now, before anything else is sent.
            return ChunkAnswer.settled(recipients, self._outcomes(answer))
        # One result a recipient with a readable code: the parse and the pairing below cannot
        # fail, and pairing only reorders the results, so these are the outcomes' counts.
        # Code 4 on a resend means "already added" (PROVIDERS.md), as _outcome reads it.
        added = codes_.count(0) + (codes_.count(4) if resend else 0)
        return ChunkAnswer(added, len(recipients) - added, lambda: self._outcomes(answer))

    def _outcomes(self, answer: Answer) -> list[RecipientOutcome]:
        """Each recipient's outcome from the full answer; TemporaryError when a result cannot
        be read or the results do not pair with the chunk."""
        items = _match(self.recipients, parse_add_recipients(answer).items, self.chunk_key)
        return [_outcome(r, item, self.resend) for r, item in zip(self.recipients, items)]


def _match(
    recipients: Sequence[ChunkRecipient], items: Sequence[RecipientResult], chunk_key: str
) -> list[RecipientResult]:
    """Each recipient's result: by number (``number``, then ``recipient``), else by position
    when the counts agree. Raises TemporaryError when neither works: resending the chunk is
    safe (duplicates come back as code 4), guessing is not."""
    if len(items) == len(recipients) and all(
        (key := _digits(r.phone)) and (key == _digits(item.number) or key == _digits(item.recipient))
        for r, item in zip(recipients, items)
    ):
        # Each result names its own recipient, in order (what Mobizon answers): the search
        # below would pick exactly these, since the lowest unused match of recipient i is i.
        return list(items)
    index: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        for key in {_digits(item.number), _digits(item.recipient)} - {""}:
            index.setdefault(key, []).append(i)
    used: set[int] = set()
    matched: list[RecipientResult] = []
    for recipient in recipients:
        choice = next((i for i in index.get(_digits(recipient.phone), ()) if i not in used), None)
        if choice is None:
            break
        used.add(choice)
        matched.append(items[choice])
    else:
        return matched
    if len(items) == len(recipients):
        return list(items)
    raise TemporaryError(
        f"chunk {chunk_key}: {len(items)} results for {len(recipients)} recipients",
        method="campaign/addRecipients",
        maybe_done=True,
    )


def _outcome(recipient: ChunkRecipient, item: RecipientResult, resend: bool) -> RecipientOutcome:
    if item.code == 0:
        added, meaning = True, item.meaning
    elif item.code == 4 and resend:
        # The earlier attempt's answer was lost after Mobizon added the number (PROVIDERS.md).
        added, meaning = True, codes.ALREADY_ADDED
    else:
        added, meaning = False, item.meaning
    return RecipientOutcome(
        phone=recipient.phone, code=item.code, meaning=meaning, added=added, message_id=item.message_id
    )


def mobizon_provider_from_settings(
    settings: Settings,
    *,
    api_url: str | None = None,
    api_key: str | None = None,
    name: str = "mobizon",
    on_domain_change: Callable[[str], None] | None = None,
) -> MobizonProvider:
    """A MobizonProvider with its own ``httpx.Client`` (timeouts from ``settings``).

    Without ``api_url``: the account of ``MOBIZON_API_URL`` and ``MOBIZON_API_KEY``
    (SettingsError when the key is not set). With ``api_url`` (the simulator behind the
    ``sandbox`` provider): that URL, and ``api_key`` or ``"sandbox"``.
    """
    if api_url is None:
        url = settings.mobizon_api_url
        key = api_key or settings.mobizon_api_key
        if not key:
            raise SettingsError("MOBIZON_API_KEY is not set: put the Mobizon account's API key in the environment")
    else:
        url, key = api_url, api_key or SANDBOX_API_KEY
    timeout = httpx.Timeout(settings.http_timeout, connect=settings.http_connect_timeout)
    http = httpx.Client(timeout=timeout, headers={"user-agent": "campaigns (Mobizon client)"})
    try:
        client = MobizonClient(http, api_key=key, api_url=url, on_domain_change=on_domain_change)
    except BaseException:
        http.close()
        raise
    return MobizonProvider(client, name=name)
