"""The cascade gateway's three interfaces on the wire (seed 001): what a send or a state
request looks like and how its answer reads, for JSON, GET and XML. Pure functions: no
HTTP here (``client``), so each is tested against the document's own examples.

    json  POST sendmessagejson.php   {"login", "password", "message": [{…, "phones": [{phone,
                                     client_id_message}]}]} -> {"message": [[{id_message, …} |
                                     {phone, error}], {"error"}]};  "state": [{id_message}] ->
                                     {"state": [{id_message, state, state_viber, …}]}
    get   GET  sendmessage.php       ?login&password&phone=a,b&send_viber=1… -> "id,id" or an
                                     error text;  ?id_message=N -> "deliver" or an error text
    xml   POST xml/message.php       <request><security>…</security><message>…<abonent phone
                                     client_id_message/></message></request> -> <response>
                                     <message><information id_message=… phone=…>state or error
          POST xml/state_message.php <state><id_message>N</id_message></state> -> <state …>state

Any answer may instead be one request-level error (``{"error": …}``, an error text,
``<response><error>…``): the decoders raise ``WireError`` with its text. A decoder that
cannot read an answer at all raises ``Unreadable`` (the request may have been done).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence
from urllib.parse import urlencode

from campaigns.providers.cascade import codes

MAX_URL = 2000  # "Не стоит использовать URL длиной более 2,000 символов" (seed 001, GET)
MAX_VIBER_TEXT = 1000  # text_viber: "Не должен превышать более 1000 символов"
MAX_BUTTON_TEXT = 19  # button_text: "Не более 19 символов"


class WireError(Exception):
    """The answer is a request-level error text (``text``)."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


class Unreadable(Exception):
    """The answer is not in the interface's format (a proxy's page, a cut body)."""


@dataclass(frozen=True)
class Abonent:
    """One phone of a message, with its ``client_id_message`` (a number, seed 001)."""

    phone: str
    client_id: int | None = None


@dataclass(frozen=True)
class Message:
    """One element of ``message``: the channels in their order (channel -> 1..9; a channel
    not named is sent as 0, off), what each channel says, and its phones."""

    phones: tuple[Abonent, ...]
    order: Mapping[str, int]
    text_viber: str | None = None
    sender_viber: str | None = None
    button_text: str | None = None
    button_url: str | None = None
    image_url: str | None = None
    validity_viber: int | None = None  # validity_period_viber, minutes (gateway default 60)
    viber_read_final: bool | None = None  # finale_viber_read
    text_sms: str | None = None
    sender_sms: str | None = None
    template_id: int | None = None  # templateId (VK)
    template_data: Mapping[str, Any] | None = None  # templateData (VK)
    name_delivery: str | None = None
    time_send: str | None = None  # "YYYY-MM-DD hh:mm"

    def fields(self) -> dict[str, Any]:
        """The message's fields in the document's order, without ``phones``; values are
        strings but ``templateData`` (an object)."""
        out: dict[str, Any] = {f"send_{ch}": str(self.order.get(ch, 0)) for ch in codes.CHANNELS}
        optional = (
            ("name_delivery", self.name_delivery), ("time_send", self.time_send),
            ("sender_viber", self.sender_viber), ("text_viber", self.text_viber),
            ("button_text", self.button_text), ("button_url", self.button_url), ("image_url", self.image_url),
            ("validity_period_viber", self.validity_viber),
            ("finale_viber_read", None if self.viber_read_final is None else int(self.viber_read_final)),
            ("sender_sms", self.sender_sms), ("text_sms", self.text_sms),
            ("templateId", self.template_id),
        )
        out.update((k, str(v)) for k, v in optional if v is not None and v != "")
        if self.template_data is not None:
            out["templateData"] = dict(self.template_data)
        return out


@dataclass(frozen=True)
class PhoneAnswer:
    """What the gateway answered for one phone: its ids, or an ``error`` text (a duplicate
    ``client_id_message`` may come with the first message's ids and an error text)."""

    phone: str
    client_id: str | None = None
    id_message: str | None = None
    ids: Mapping[str, str] = field(default_factory=dict)  # channel -> id ("0": not sent there)
    parts: int | None = None  # count_message
    error: str | None = None

    @property
    def accepted(self) -> bool:
        return bool(self.id_message) and self.id_message != "0"


@dataclass(frozen=True)
class State:
    """One message's state: overall, per channel, SMS parts and the price per channel."""

    id_message: str
    state: str
    channels: Mapping[str, str] = field(default_factory=dict)  # channel -> its state
    prices: Mapping[str, float] = field(default_factory=dict)  # channel -> charged
    sms_parts: int | None = None
    changed_at: str | None = None


# --- helpers ----------------------------------------------------------------------------


def digits(phone: str) -> str:
    """The phone's digits, as the gateway takes them."""
    return "".join(ch for ch in phone if ch.isdigit())


def _str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _price(value: Any) -> float | None:
    """Prices arrive as strings ("0.50", "0,50", ""); absent or unreadable is None."""
    text = _str(value)
    if text is None:
        return None
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return None


def _one_line(text: str) -> str:
    """XML documents "must not contain line breaks; breaks in the data are sent as \\n"."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")


def phone_answer(item: Mapping[str, Any]) -> PhoneAnswer:
    """A phone entry of a JSON answer (or an XML ``information``'s attributes)."""
    ids = {ch: str(item[f"id_{ch}"]) for ch in codes.CHANNELS if _str(item.get(f"id_{ch}")) is not None}
    return PhoneAnswer(
        phone=digits(str(item.get("phone") or "")), client_id=_str(item.get("client_id_message")),
        id_message=_str(item.get("id_message")), ids=ids, parts=_int(item.get("count_message")),
        error=_str(item.get("error")),
    )


def state_of(item: Mapping[str, Any], text: str | None = None) -> State:
    """A state entry of a JSON answer (or an XML ``state``'s attributes and ``text``)."""
    channels = {ch: str(item[f"state_{ch}"]).strip() for ch in codes.CHANNELS if _str(item.get(f"state_{ch}"))}
    prices = {ch: p for ch in codes.CHANNELS if (p := _price(item.get(f"price_{ch}"))) is not None}
    overall = text if text is not None else item.get("state")
    return State(
        id_message=str(item.get("id_message") or ""), state=(_str(overall) or ""), channels=channels, prices=prices,
        sms_parts=_int(item.get("num_parts_sms")), changed_at=_str(item.get("time_change_state")),
    )


# --- JSON ---------------------------------------------------------------------------------


def json_send(auth: Mapping[str, str], messages: Sequence[Message]) -> dict[str, Any]:
    """The JSON document of a send (seed 001, sendmessagejson.php, "message")."""
    body: dict[str, Any] = dict(auth)
    body["message"] = [
        {**m.fields(), "phones": [_json_phone(a) for a in m.phones]}
        for m in messages
    ]
    return body


def _json_phone(abonent: Abonent) -> dict[str, str]:
    entry = {"phone": digits(abonent.phone)}
    if abonent.client_id is not None:
        entry["client_id_message"] = str(abonent.client_id)
    return entry


def json_send_answer(body: Any, count: int) -> list[list[PhoneAnswer] | str]:
    """One item per request message, in order: its phones' answers, or its error text.
    Raises WireError for a request-level error, Unreadable for anything else."""
    if isinstance(body, dict) and "error" in body and "message" not in body:
        raise WireError(str(body["error"]))
    items = body.get("message") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise Unreadable("no message list in the answer")
    out: list[list[PhoneAnswer] | str] = []
    for item in items[:count]:
        if isinstance(item, dict):
            out.append(str(item.get("error") or "the gateway gave no answer for this message"))
        elif isinstance(item, list):
            out.append([phone_answer(p) for p in item if isinstance(p, dict)])
        else:
            raise Unreadable("a message answer is neither a list nor an error")
    if len(out) != count:
        raise Unreadable(f"{len(out)} message answers for {count} messages")
    return out


def json_state(auth: Mapping[str, str], ids: Sequence[str]) -> dict[str, Any]:
    """The JSON document of a state request (seed 001, "state")."""
    return {**auth, "state": [{"id_message": str(i)} for i in ids]}


def json_state_answer(body: Any) -> list[State]:
    if isinstance(body, dict) and "error" in body and "state" not in body:
        raise WireError(str(body["error"]))
    items = body.get("state") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise Unreadable("no state list in the answer")
    return [state_of(item) for item in items if isinstance(item, dict)]


# --- GET ----------------------------------------------------------------------------------


def get_send_params(auth: Mapping[str, str], message: Message, abonents: Sequence[Abonent]) -> list[tuple[str, str]]:
    """The query of a GET send of ``message`` to ``abonents``: phones comma-separated, and
    their ``client_id_message``s comma-separated in the same order (the GET example lists
    no client_id_message; the gateway's fields are shared by its interfaces, and without
    it a lost answer could not be resent safely). ``templateData`` travels as JSON."""
    params = list(auth.items()) + [("phone", ",".join(digits(a.phone) for a in abonents))]
    for key, value in message.fields().items():
        params.append((key, json.dumps(value, ensure_ascii=False) if key == "templateData" else value))
    if any(a.client_id is not None for a in abonents):
        params.append(("client_id_message", ",".join("" if a.client_id is None else str(a.client_id) for a in abonents)))
    return params


def get_url_length(base: str, params: Sequence[tuple[str, str]]) -> int:
    return len(base) + 1 + len(urlencode(params))


def split_for_get(base: str, auth: Mapping[str, str], message: Message) -> list[tuple[Abonent, ...]]:
    """The message's phones split so that no GET URL is longer than MAX_URL. Raises
    ValueError when even one phone does not fit (a text too long for GET)."""
    groups: list[tuple[Abonent, ...]] = []
    current: list[Abonent] = []
    for abonent in message.phones:
        trial = current + [abonent]
        if get_url_length(base, get_send_params(auth, message, trial)) <= MAX_URL:
            current = trial
            continue
        if not current:
            raise ValueError(
                f"a GET request for this message is longer than {MAX_URL} characters even for one phone; "
                "use CASCADE_PROTOCOL=json or xml for long texts"
            )
        groups.append(tuple(current))
        current = [abonent]
    if current:
        groups.append(tuple(current))
    return groups


def get_send_answer(text: str, abonents: Sequence[Abonent]) -> list[PhoneAnswer]:
    """The plain-text answer of a GET send: ids in phone order ("1178440060,1178440061"),
    or an error text for the whole request (WireError)."""
    body = plain_text(text)
    parts = [p.strip() for p in body.split(",")]
    if not body or not all(p.isdigit() for p in parts):
        raise WireError(body or "an empty answer")
    if len(parts) != len(abonents):
        raise Unreadable(f"{len(parts)} ids for {len(abonents)} phones")
    return [
        PhoneAnswer(digits(a.phone), None if a.client_id is None else str(a.client_id), part)
        for a, part in zip(abonents, parts)
    ]


def plain_text(text: str) -> str:
    """A GET answer's text; Unreadable for markup (a proxy's error page is no error text)."""
    body = (text or "").strip()
    if body.startswith("<"):
        raise Unreadable("the answer is a markup page, not the gateway's plain text")
    return body


def get_state_answer(text: str, id_message: str) -> State:
    """The plain-text state of one message ("deliver"); an error text is kept as its state
    (seed 001: any other status is an error text)."""
    return State(id_message=str(id_message), state=(text or "").strip())


# --- XML ----------------------------------------------------------------------------------


def _xml(root: ET.Element) -> bytes:
    return b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root, encoding="unicode").encode("utf-8")


def _security(root: ET.Element, auth: Mapping[str, str]) -> None:
    if auth:
        security = ET.SubElement(root, "security")
        ET.SubElement(security, "login", value=auth.get("login", ""))
        ET.SubElement(security, "password", value=auth.get("password", ""))


def xml_send(auth: Mapping[str, str], messages: Sequence[Message]) -> bytes:
    """The XML document of a send (seed 001, xml/message.php), on one line."""
    root = ET.Element("request")
    _security(root, auth)
    for m in messages:
        element = ET.SubElement(root, "message")
        for key, value in m.fields().items():
            child = ET.SubElement(element, key)
            if key == "templateData":
                for name, item in value.items():
                    ET.SubElement(child, str(name)).text = _one_line(str(item))
            else:
                child.text = _one_line(value)
        for a in m.phones:
            attrs = {"phone": digits(a.phone)}
            if a.client_id is not None:
                attrs["client_id_message"] = str(a.client_id)
            ET.SubElement(element, "abonent", attrs)
    return _xml(root)


def _parse(body: bytes | str) -> ET.Element:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise Unreadable(f"the answer is not XML ({exc})") from None
    if root.tag != "response":
        raise Unreadable(f"the answer's root is <{root.tag}>, not <response>")
    error = root.find("error")
    if error is not None and root.find("message") is None and root.find("state") is None:
        raise WireError((error.text or "").strip())
    return root


def xml_send_answer(body: bytes | str, count: int) -> list[list[PhoneAnswer] | str]:
    """As ``json_send_answer``, from ``<response><message><information …>``: an
    ``information`` with an id_message is accepted (its text a state or a note), one
    without is that phone's error text."""
    root = _parse(body)
    out: list[list[PhoneAnswer] | str] = []
    for element in root.findall("message")[:count]:
        error = element.find("error")
        if error is not None and element.find("information") is None:
            out.append((error.text or "").strip() or "the gateway gave no answer for this message")
            continue
        answers = []
        for info in element.findall("information"):
            text = (info.text or "").strip()
            item = dict(info.attrib)
            if not _str(item.get("id_message")) or item.get("id_message") == "0" or text not in codes.STATES:
                item["error"] = text or None
            answers.append(phone_answer(item))
        out.append(answers)
    if len(out) != count:
        raise Unreadable(f"{len(out)} message answers for {count} messages")
    return out


def xml_state(auth: Mapping[str, str], ids: Sequence[str]) -> bytes:
    """The XML document of a state request (seed 001, xml/state_message.php)."""
    root = ET.Element("request")
    _security(root, auth)
    state = ET.SubElement(root, "state")
    for i in ids:
        ET.SubElement(state, "id_message").text = str(i)
    return _xml(root)


def xml_state_answer(body: bytes | str) -> list[State]:
    root = _parse(body)
    return [state_of(dict(e.attrib), (e.text or "").strip()) for e in root.findall("state")]
