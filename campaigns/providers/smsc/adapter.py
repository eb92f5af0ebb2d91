"""SMSC behind the provider port: no campaigns at the provider, messages sent by the
pipeline itself at the campaign's pace (``server_side_campaigns`` is False).

    create_campaign    no call: a local id ("c<local id>.<random>") that prefixes every request id
    find_campaign      None: nothing exists at SMSC before the first send
    add_chunk          send.php: plain campaigns batch the phones into one request, template
                       campaigns send each recipient's text through ``list``; the request id is
                       derived from the campaign and the chunk, so a retry is recognised
    launch             no call: the campaign runs as its chunks are sent
    message_states     status.php for (request id, phone) pairs: how the pipeline follows
    message_statuses   the history (get.php) filtered by the campaign's request ids
    cancel             no call: nothing at SMSC to delete; the pipeline stops sending

A lost response is reconciled before anything is resent (PROVIDERS.md: SMSC refuses an
identical send for only 60 s, so a blind retry after a minute sends twice): a resend
first asks status.php which of the chunk's recipients SMSC already has, and error 9
("identical request within a minute": the first one got through) is answered the same
way. A recipient's ``message_id`` is "<request id>:<phone>", what status.php needs.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Callable, Iterator, Sequence

import httpx

from campaigns.pacing.limiter import Limiter, make_limiter
from campaigns.providers.errors import PermanentError, TemporaryError
from campaigns.providers.port import CampaignSpec, CampaignStatus, ChunkRecipient, MessageStatus, RecipientOutcome
from campaigns.providers.smsc import codes
from campaigns.providers.smsc.client import MAX_ID, MAX_TEXT, SendResult, SmscClient, valid_request_id
from campaigns.settings import Settings, SettingsError

TEMPLATE = 3  # CampaignSpec.type: template campaign
KEEP, STRIP, REJECT = 1, 2, 3  # CampaignSpec.placeholders_flag
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_-]+)\}")  # Mobizon's syntax, the project's (seed 002)
MISSING_PLACEHOLDERS = 20  # the same code Mobizon gives (seed 002, AddRecipients)
TOO_LONG = 1


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


def request_id(campaign_id: str, chunk_key: str) -> str:
    """send.php's ``id`` for one chunk: "<campaign>-<chunk>" with anything outside
    [A-Za-z0-9.-_] made a dot, shortened with a hash when longer than 40 characters."""
    raw = re.sub(r"[^A-Za-z0-9._-]", ".", f"{campaign_id}-{chunk_key}")
    if len(raw) > MAX_ID:
        raw = raw[: MAX_ID - 17] + "-" + hashlib.sha256(raw.encode()).hexdigest()[:16]
    return raw


def message_id(request: str, phone: str) -> str:
    return f"{request}:{_digits(phone)}"


def split_message_id(value: str) -> tuple[str, str]:
    """(request id, phone) of a message id; ValueError for one this adapter did not make."""
    request, sep, phone = value.rpartition(":")
    if not sep or not valid_request_id(request) or not phone.isdigit():
        raise ValueError(f"not an SMSC message id: {value!r}")
    return request, phone


def render(text: str, fields: dict[str, str], flag: int) -> tuple[str, list[str]]:
    """``text`` with {placeholders} filled from ``fields``; a missing one is kept (flag 1)
    or removed (flag 2). Returns the text and the missing names."""
    missing: list[str] = []

    def fill(match: re.Match) -> str:
        value = fields.get(match.group(1))
        if value is None or value == "":
            missing.append(match.group(1))
            return "" if flag == STRIP else match.group(0)
        return str(value)

    return _PLACEHOLDER.sub(fill, text), missing


class SmscProvider:
    """The Provider port over an SmscClient. ``token`` makes the random part of local
    campaign ids (injectable for tests)."""

    server_side_campaigns = False

    def __init__(
        self,
        client: SmscClient,
        *,
        name: str = "smsc",
        token: Callable[[], str] = lambda: secrets.token_hex(3),
        limiter: Limiter | None = None,
    ):
        self.client = client
        self.name = name
        self._token = token
        self._limiter = limiter  # closed with the provider (made for it by the factory)

    def __repr__(self) -> str:
        return f"SmscProvider(name={self.name!r}, client={self.client!r})"

    def close(self) -> None:
        self.client.close()
        if self._limiter is not None:
            self._limiter.close()

    # --- campaigns exist only here ----------------------------------------------------

    def create_campaign(self, spec: CampaignSpec) -> str:
        """A new local id for ``spec``: nothing is created at SMSC. The random part keeps
        request ids apart from those of another database's campaign with the same number."""
        return f"c{spec.local_id}.{self._token()}"

    def find_campaign(self, spec: CampaignSpec, *, exclude: Sequence[str] = ()) -> str | None:
        return None

    def launch(self, campaign_id: str) -> str:
        return "RUNNING"

    def cancel(self, campaign_id: str) -> None:
        """Nothing to delete at SMSC: messages already sent stay sent, and the pipeline
        sends no more."""
        return None

    def campaign_statuses(self, campaign_ids: Sequence[str]) -> dict[str, CampaignStatus]:
        """SMSC has no campaigns: each is RUNNING until the pipeline sees every message final."""
        return {cid: CampaignStatus(campaign_id=cid, status="RUNNING") for cid in campaign_ids}

    # --- sending ----------------------------------------------------------------------

    def add_chunk(
        self,
        campaign_id: str,
        chunk_key: str,
        recipients: Sequence[ChunkRecipient],
        *,
        resend: bool = False,
        spec: CampaignSpec | None = None,
    ) -> list[RecipientOutcome]:
        """Send one chunk: one send.php request under the chunk's request id. With
        ``resend`` (an earlier attempt may have reached SMSC), recipients SMSC already has
        are not sent again. Returns one outcome per recipient, in order.

        Raises PermanentError (no spec, no funds, forbidden text, bad parameters),
        AuthError, RateLimited, or TemporaryError (retry with ``resend``)."""
        if spec is None:
            raise PermanentError("SMSC sends the campaign's text itself: add_chunk needs the campaign's spec")
        request = request_id(campaign_id, chunk_key)
        texts: dict[int, str] = {}
        outcomes: dict[int, RecipientOutcome] = {}
        template = spec.type == TEMPLATE
        for i, r in enumerate(recipients):
            text, missing = render(spec.text, r.fields, spec.placeholders_flag) if template else (spec.text, [])
            if missing and spec.placeholders_flag == REJECT:
                outcomes[i] = RecipientOutcome(
                    r.phone, MISSING_PLACEHOLDERS, f"no value for {{{', '.join(missing)}}} in this row", False
                )
            elif len(text) > MAX_TEXT:
                outcomes[i] = RecipientOutcome(r.phone, TOO_LONG, f"the message is longer than SMSC's {MAX_TEXT} characters", False)
            else:
                texts[i] = text
        if resend and texts:
            self._reconcile(request, recipients, texts, outcomes)
        if texts:
            try:
                result = self._send(request, recipients, texts, spec, template)
            except codes.Flood:
                # 9: the same request reached SMSC within the last minute (or too many were
                # under way): find out which recipients it has before anything is resent
                found = self._reconcile(request, recipients, texts, outcomes)
                if not found:
                    raise TemporaryError(
                        "SMSC answered 9 (repeated request or too many at once) and has none of the chunk's "
                        "recipients yet; the chunk will be checked again before it is resent",
                        code=9, method="send", maybe_done=True,
                    ) from None
                result = self._send(request, recipients, texts, spec, template) if texts else None
            if result is not None:
                self._record(request, recipients, texts, result, outcomes)
        return [outcomes[i] for i in range(len(recipients))]

    def _send(self, request, recipients, texts, spec, template) -> SendResult:
        common = dict(id=request, sender=spec.sender, valid_minutes=spec.validity)
        if template:
            return self.client.send(messages=[(recipients[i].phone, texts[i]) for i in sorted(texts)], **common)
        return self.client.send(phones=[recipients[i].phone for i in sorted(texts)], text=spec.text, **common)

    def _reconcile(self, request, recipients, texts, outcomes) -> int:
        """Mark the recipients SMSC already has as sent (removing them from ``texts``);
        returns how many there were."""
        pending = sorted(texts)
        states = self.client.status([(request, recipients[i].phone) for i in pending])
        found = 0
        for i, state in zip(pending, states):
            if state.found:
                outcomes[i] = RecipientOutcome(
                    recipients[i].phone, codes.SENT, codes.ALREADY_SENT, True, message_id(request, recipients[i].phone)
                )
                del texts[i]
                found += 1
        return found

    def _record(self, request, recipients, texts, result: SendResult, outcomes) -> None:
        per_phone = {p.phone: p.error for p in result.phones}
        for i in sorted(texts):
            phone = recipients[i].phone
            error = per_phone.get(_digits(phone), result.error_code)
            if error:
                meaning = codes.SEND_MEANINGS.get(error, f"SMSC refused this number (error {error})")
                outcomes[i] = RecipientOutcome(phone, error, meaning, False)
            else:
                outcomes[i] = RecipientOutcome(phone, codes.SENT, codes.SENT_MEANING, True, message_id(request, phone))
        texts.clear()

    # --- following ------------------------------------------------------------------

    def message_states(self, message_ids: Sequence[str]) -> list[MessageStatus]:
        """The current status of each message (ids this adapter made), in order, through
        status.php. Raises ProviderError; ValueError for a foreign id."""
        pairs = [split_message_id(m) for m in message_ids]
        states = self.client.status(pairs)
        result = []
        for mid, state in zip(message_ids, states):
            name, final, _ = codes.status_name(state.status)
            result.append(MessageStatus(message_id=mid, phone=state.phone, status=name, final=final))
        return result

    def message_statuses(self, campaign_id: str) -> Iterator[MessageStatus]:
        """Every message of the campaign SMSC's history holds, newest first (get.php,
        paced to 30 pages an hour: RateLimited past that). For reconciliation; the
        pipeline follows statuses through ``message_states``."""
        prefix = f"{campaign_id}-"
        for item in self.client.iter_history():
            if item.id.startswith(prefix):
                name, final, _ = codes.status_name(item.status)
                yield MessageStatus(message_id=message_id(item.id, item.phone), phone=item.phone, status=name, final=final)


def smsc_provider_from_settings(settings: Settings, *, name: str = "smsc") -> SmscProvider:
    """An SmscProvider for SMSC_LOGIN + SMSC_PASSWORD or SMSC_API_KEY at SMSC_API_URL, with
    its own httpx.Client and limiter (``make_limiter``: Redis when CAMPAIGNS_REDIS_URL is
    set, so every worker shares SMSC's concurrency and history limits). Raises
    SettingsError when the credentials are missing."""
    if not (settings.smsc_api_key or (settings.smsc_login and settings.smsc_password)):
        raise SettingsError("SMSC needs SMSC_LOGIN and SMSC_PASSWORD, or SMSC_API_KEY, in the environment")
    timeout = httpx.Timeout(settings.http_timeout, connect=settings.http_connect_timeout)
    http = httpx.Client(timeout=timeout, headers={"user-agent": "campaigns (SMSC client)"})
    limiter = make_limiter(settings)
    try:
        client = SmscClient(
            http, login=settings.smsc_login, password=settings.smsc_password, api_key=settings.smsc_api_key,
            api_url=settings.smsc_api_url, limiter=limiter, hold_ttl=settings.http_timeout + 5,
        )
    except BaseException:
        http.close()
        limiter.close()
        raise
    return SmscProvider(client, name=name, limiter=limiter)
