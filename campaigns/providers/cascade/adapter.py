"""The cascade gateway behind the provider port: no campaigns at the gateway, messages
sent by the pipeline itself at the campaign's pace (``server_side_campaigns`` is False).

    create_campaign    no call: a local id "<local id>.<nonce>" (nonce 1..2047, random) that
                       every client_id_message is derived from
    find_campaign      None: nothing exists at the gateway before the first send
    add_chunk          one send (JSON/XML: one request; GET: one a message): a message for
                       each distinct text (one for a plain campaign), the channels in the
                       campaign's order, every phone with its client_id_message
    launch             no call: the campaign runs as its chunks are sent
    message_states     state (plus state_viber / state_vk / state_sms and prices): how the
                       pipeline follows, recording the channel that delivered and its price
    message_statuses   nothing: the gateway lists no messages (the pipeline follows states)
    cancel             no call: nothing to delete; the pipeline stops sending

Never twice: ``client_id_message`` is derived from the campaign and the recipient's source
row (``client_id``), and the gateway does not send a message whose client_id_message this
account already sent (seed 001). So a resend of a chunk, after a timeout, a lost answer or
a killed worker, is answered for each recipient already sent by a duplicate refusal, often
with the first message's ids: recorded as sent, never sent again. A repeat within the
minute is refused whole ("identical request", ``codes.Repeated``): the chunk waits out the
minute and is resent then. The state of a message is read by its gateway id, so a lost
answer cannot be looked up before the resend; the resend is the lookup, made safe by the
client_id_message.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Callable, Iterator, Sequence

import httpx

from campaigns.providers.cascade import codes
from campaigns.providers.cascade.client import CascadeClient
from campaigns.providers.cascade.options import CascadeOptions
from campaigns.providers.cascade.wire import Abonent, Message, PhoneAnswer
from campaigns.providers.errors import PermanentError, ProviderError
from campaigns.providers.port import CampaignSpec, CampaignStatus, ChunkRecipient, MessageStatus, RecipientOutcome
from campaigns.settings import Settings, SettingsError

TEMPLATE = 3  # CampaignSpec.type: template campaign
KEEP, STRIP, REJECT = 1, 2, 3  # CampaignSpec.placeholders_flag
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_-]+)\}")
NONCES = 2047  # 11 bits
CAMPAIGN_BITS, ROW_BITS = 21, 31  # client_id_message = nonce·2⁵² + campaign·2³¹ + row < 2⁶³


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


def client_id(campaign_id: str, row_number: int) -> int:
    """The ``client_id_message`` of the recipient at ``row_number`` of the campaign whose
    gateway-side id is ``campaign_id`` ("<local id>.<nonce>"): a number below 2⁶³, the same
    on every attempt, different for every recipient of every campaign of this database (the
    local id's low 21 bits: two million campaigns) and, by the nonce, most likely of any
    other database sharing the account. Raises ValueError for an id this adapter did not make."""
    local, sep, nonce = campaign_id.partition(".")
    if not sep or not local.isdigit() or not nonce.isdigit() or not 1 <= int(nonce) <= NONCES:
        raise ValueError(f"not a cascade campaign id: {campaign_id!r}")
    if not 0 <= row_number < 1 << ROW_BITS:
        raise ValueError(f"row number {row_number} out of range")
    campaign = int(local) % (1 << CAMPAIGN_BITS)
    return (int(nonce) << (CAMPAIGN_BITS + ROW_BITS)) | (campaign << ROW_BITS) | row_number


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


def _detail(state) -> str:
    """The gateway's own words for one message: each channel's state, or its error text."""
    if state.channels:
        return ", ".join(f"{ch} {word}" for ch, word in state.channels.items())[:120]
    return state.state[:120]


class CascadeProvider:
    """The Provider port over a CascadeClient. ``nonce`` makes the random part of local
    campaign ids (injectable for tests)."""

    server_side_campaigns = False

    def __init__(
        self,
        client: CascadeClient,
        *,
        name: str = "cascade",
        nonce: Callable[[], int] = lambda: 1 + secrets.randbelow(NONCES),
        limiter=None,
    ):
        self.client = client
        self.name = name
        self._nonce = nonce
        self._limiter = limiter  # closed with the provider (made for it by the factory)

    def __repr__(self) -> str:
        return f"CascadeProvider(name={self.name!r}, client={self.client!r})"

    def close(self) -> None:
        self.client.close()
        if self._limiter is not None:
            self._limiter.close()

    # --- campaigns exist only here ----------------------------------------------------

    def create_campaign(self, spec: CampaignSpec) -> str:
        return f"{spec.local_id}.{self._nonce()}"

    def find_campaign(self, spec: CampaignSpec, *, exclude: Sequence[str] = ()) -> str | None:
        return None

    def launch(self, campaign_id: str) -> str:
        return "RUNNING"

    def cancel(self, campaign_id: str) -> None:
        """Nothing to delete at the gateway: messages sent stay sent; the pipeline sends no more."""
        return None

    def campaign_statuses(self, campaign_ids: Sequence[str]) -> dict[str, CampaignStatus]:
        return {cid: CampaignStatus(campaign_id=cid, status="RUNNING") for cid in campaign_ids}

    def message_statuses(self, campaign_id: str) -> Iterator[MessageStatus]:
        """The gateway has no list of messages: the pipeline follows ``message_states``."""
        return iter(())

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
        """Send one chunk; one outcome per recipient, in order. ``resend`` changes nothing
        in the request: the same client_id_messages make the gateway refuse what it sent.

        Raises PermanentError (no spec, bad options, a refusal of the whole request),
        AuthError, Repeated (an identical request within the minute: wait and resend),
        RateLimited, or TemporaryError (retry; maybe_done says it may have been sent)."""
        if spec is None:
            raise PermanentError("the gateway sends the campaign's texts: add_chunk needs the campaign's spec")
        try:
            options = CascadeOptions.from_mapping(spec.options)
        except (TypeError, ValueError) as exc:
            raise PermanentError(f"the campaign's channel options cannot be used: {exc}") from None
        outcomes: dict[int, RecipientOutcome] = {}
        groups: dict[tuple, list[int]] = {}
        contents: dict[tuple, dict] = {}
        ids: dict[int, int] = {}
        for i, r in enumerate(recipients):
            if r.row_number is None:
                raise PermanentError("a cascade recipient needs its source row (client_id_message is derived from it)")
            content, missing = self._content(options, spec, r)
            if missing and spec.placeholders_flag == REJECT:
                outcomes[i] = RecipientOutcome(
                    r.phone, codes.MISSING_PLACEHOLDERS, f"no value for {{{', '.join(sorted(set(missing)))}}} in this row",
                    False,
                )
                continue
            if len(content.get("text_viber") or "") > 1000:
                outcomes[i] = RecipientOutcome(r.phone, codes.TOO_LONG, "the Viber text is longer than 1000 characters",
                                               False)
                continue
            key = tuple(sorted((k, json.dumps(v, sort_keys=True, ensure_ascii=False)) for k, v in content.items()))
            groups.setdefault(key, []).append(i)
            contents[key] = content
            try:
                ids[i] = client_id(campaign_id, r.row_number)
            except ValueError as exc:
                raise PermanentError(str(exc)) from None
        keys = list(groups)
        messages = [
            Message(
                phones=tuple(Abonent(recipients[i].phone, ids[i]) for i in groups[k]), order=options.order,
                sender_viber=options.viber_sender or spec.sender, button_text=options.button_text,
                button_url=options.button_url, image_url=options.image_url, validity_viber=options.viber_validity,
                viber_read_final=options.viber_read_final, sender_sms=options.sms_sender or spec.sender,
                template_id=options.vk_template_id if "vk" in options.order else None,
                name_delivery=spec.name[:100] if spec.name else None,
                time_send=spec.deferred_to[:16] if spec.deferred_to else None, **contents[k],
            )
            for k in keys
        ]
        if messages:
            try:
                answers = self.client.send(messages)
            except ValueError as exc:  # a message the GET interface cannot carry
                raise PermanentError(str(exc), method="send") from None
            for key, answer in zip(keys, answers):
                self._record(recipients, groups[key], ids, answer, outcomes)
        return [outcomes[i] for i in range(len(recipients))]

    @staticmethod
    def _content(options: CascadeOptions, spec: CampaignSpec, r: ChunkRecipient) -> tuple[dict, list[str]]:
        """What one recipient's message says on each of the campaign's channels."""
        template = spec.type == TEMPLATE
        flag = spec.placeholders_flag
        missing: list[str] = []

        def fill(text: str) -> str:
            if not template:
                return text
            filled, lost = render(text, r.fields, flag)
            missing.extend(lost)
            return filled

        content: dict = {}
        if "viber" in options.order:
            content["text_viber"] = fill(options.viber_text or spec.text)
        if "sms" in options.order:
            content["text_sms"] = fill(options.sms_text or spec.text)
        if "vk" in options.order and options.vk_template_data is not None:
            content["template_data"] = {k: fill(str(v)) for k, v in options.vk_template_data.items()}
        return content, missing

    def _record(self, recipients, members: list[int], ids: dict[int, int], answer, outcomes) -> None:
        """Each member's outcome from its message's answer: ids (sent), a duplicate refusal
        (sent before), an error text (refused), or the message's error text for all."""
        if isinstance(answer, str):
            error = codes.request_error(answer, method="send", sending=True,
                                        repeat_seconds=getattr(self.client, "repeat_seconds", codes.REPEAT_SECONDS))
            if codes.about_whole_request(error):
                raise error  # "identical request", credentials, "try later", funds
            for i in members:
                outcomes[i] = RecipientOutcome(recipients[i].phone, codes.REFUSED, error.message, False)
            return
        by_client = {a.client_id: a for a in answer if a.client_id}
        by_phone: dict[str, list[PhoneAnswer]] = {}
        for a in answer:
            by_phone.setdefault(a.phone, []).append(a)
        for position, i in enumerate(members):
            phone = recipients[i].phone
            found = by_client.get(str(ids[i]))
            if found is None and by_phone.get(_digits(phone)):
                found = by_phone[_digits(phone)].pop(0)
            if found is None and len(answer) == len(members):
                found = answer[position]
            outcomes[i] = self._outcome(phone, found)

    @staticmethod
    def _outcome(phone: str, answer: PhoneAnswer | None) -> RecipientOutcome:
        if answer is None:
            return RecipientOutcome(phone, codes.REFUSED, "the gateway's answer does not mention this phone", False)
        if answer.accepted:
            ids = ", ".join(f"{ch} {answer.ids[ch]}" for ch in codes.CHANNELS if answer.ids.get(ch, "0") != "0")
            if answer.error and codes.is_duplicate(answer.error):
                meaning = codes.ALREADY_SENT
            elif answer.error:
                meaning = f"sent ({answer.error[:200]})"
            else:
                meaning = codes.SENT_MEANING + (f" ({ids})" if ids else "")
            return RecipientOutcome(phone, codes.SENT, meaning, True, answer.id_message)
        if answer.error and codes.is_duplicate(answer.error):
            # sent by an earlier attempt whose answer was lost; its gateway id is unknown
            return RecipientOutcome(phone, codes.SENT, f"{codes.ALREADY_SENT}; its state cannot be read", True)
        return RecipientOutcome(phone, codes.REFUSED, (answer.error or "refused by the gateway")[:500], False)

    # --- following ------------------------------------------------------------------

    def message_states(self, message_ids: Sequence[str]) -> list[MessageStatus]:
        """The current state of each message, in order, with the channel that delivered,
        the price charged on each channel and the gateway's words. The same messages asked
        about within the minute (the gateway refuses an identical request) are answered as
        still pending, without a call, so the other batches of a poll are still asked.
        Raises ProviderError."""
        try:
            states = self.client.state(message_ids)
        except codes.Repeated:
            return [MessageStatus(message_id=str(mid), phone="", status=codes.STATUS_NAMES[codes.PENDING], final=False)
                    for mid in message_ids]
        result = []
        for mid, state in zip(message_ids, states):
            name, final = codes.state_name(state.state)
            delivered = next((ch for ch, word in state.channels.items() if word == codes.DELIVERED), None)
            result.append(
                MessageStatus(
                    message_id=str(mid), phone="", status=name, final=final, channel=delivered,
                    prices=dict(state.prices) or None, detail=_detail(state),
                )
            )
        return result


def cascade_provider_from_settings(settings: Settings, *, name: str = "cascade") -> CascadeProvider:
    """A CascadeProvider for CASCADE_LOGIN + CASCADE_PASSWORD or CASCADE_TOKEN at
    CASCADE_API_URL over CASCADE_PROTOCOL, with its own httpx.Client and limiter (Redis when
    CAMPAIGNS_REDIS_URL is set, so every worker shares the once-a-minute rule). Raises
    SettingsError when the URL or the credentials are missing or wrong."""
    from campaigns.pacing.limiter import make_limiter

    if not settings.cascade_api_url:
        raise SettingsError("the cascade gateway needs CASCADE_API_URL (its scheme and host) in the environment")
    if not (settings.cascade_token or (settings.cascade_login and settings.cascade_password)):
        raise SettingsError("the cascade gateway needs CASCADE_LOGIN and CASCADE_PASSWORD, or CASCADE_TOKEN, "
                            "in the environment")
    timeout = httpx.Timeout(settings.http_timeout, connect=settings.http_connect_timeout)
    http = httpx.Client(timeout=timeout, headers={"user-agent": "campaigns (cascade client)"})
    limiter = make_limiter(settings)
    try:
        client = CascadeClient(
            http, api_url=settings.cascade_api_url, login=settings.cascade_login, password=settings.cascade_password,
            token=settings.cascade_token, protocol=settings.cascade_protocol, limiter=limiter,
            repeat_seconds=settings.cascade_repeat_seconds,
        )
    except ValueError as exc:
        http.close()
        limiter.close()
        raise SettingsError(str(exc)) from None
    except BaseException:
        http.close()
        limiter.close()
        raise
    return CascadeProvider(client, name=name, limiter=limiter)


__all__ = ["CascadeProvider", "cascade_provider_from_settings", "client_id", "ProviderError"]
