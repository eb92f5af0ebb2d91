"""SMSC's calls to the client's handler (seed 004, "Передача статусов и сообщений на
обработчик Клиента"): delivery statuses, incoming SMS and call confirmations, one handler.

    kind       told by               signed string (md5 | sha1 | crc32 of it)
    inbound    ``mes`` present       phone:mes:to:<secret>
    call       ``waitcall`` present  phone:ts:<secret>
    status     otherwise             id:phone:status:<secret>

The body is form-encoded, or JSON with ``fmt=3`` (XML with ``fmt=2``) in the handler's URL;
values are in the URL's ``charset`` (utf-8, koi8-r or windows-1251, the default; koi8-r is
not used with ``fmt``). ``read_smsc`` reads and verifies one call; it never raises anything
but CallbackRefused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import zlib
from typing import Mapping
from urllib.parse import unquote_to_bytes
from xml.etree import ElementTree

from campaigns.callbacks.events import CALL, INBOUND, MAX_BODY, STATUS, CallbackRefused, Event

CHARSETS = {"utf-8": "utf-8", "utf8": "utf-8", "koi8-r": "koi8_r", "windows-1251": "cp1251", "cp1251": "cp1251"}
DEFAULT_CHARSET = "windows-1251"  # "По умолчанию используется кодировка windows-1251"
SIGNATURES = ("md5", "sha1", "crc32")
STATUS_FIELDS = ("id", "phone", "status", "err", "syserr", "time", "ts", "cnt", "cost", "type", "sender")
INBOUND_FIELDS = ("id", "sms_id", "phone", "mes", "to", "smsc", "sent", "time")
CALL_FIELDS = ("waitcall", "phone", "ts")
_MAX_FIELD = 4096


def charset_of(query: Mapping[str, str]) -> str:
    """The Python codec of the handler URL's ``charset`` (windows-1251 when absent).
    Raises CallbackRefused (400) for another charset."""
    name = (query.get("charset") or DEFAULT_CHARSET).strip().lower()
    codec = CHARSETS.get(name)
    if codec is None:
        raise CallbackRefused(400, f"charset {name[:40]!r} is not one SMSC sends (utf-8, koi8-r, windows-1251)")
    if codec == "koi8_r" and query.get("fmt") in ("2", "3"):
        codec = "cp1251"  # "При передаче параметра fmt кодировка koi8-r не используется"
    return codec


def read_smsc(body: bytes, query: Mapping[str, str], *, secret: str | None, insecure: bool = False) -> Event:
    """The event of one call to the handler: ``body`` as received, ``query`` the handler
    URL's parameters (charset, fmt). With ``secret`` exactly one of md5, sha1, crc32 must be
    in the body and equal the hash of the kind's string; without one the call is refused
    unless ``insecure``. Raises CallbackRefused: 413 for a body over MAX_BODY, 400 for one
    that cannot be read (not in the charset, a field repeated, a required field missing),
    403 for a missing or wrong signature (and for any call when no secret is configured)."""
    if len(body) > MAX_BODY:
        raise CallbackRefused(413, f"the body is larger than {MAX_BODY:,} bytes")
    if not secret and not insecure:
        raise CallbackRefused(403, "SMSC callbacks are refused: SMSC_CALLBACK_SECRET is not set")
    codec = charset_of(query)
    fmt = query.get("fmt") or "1"
    if fmt == "3":
        fields = _json_fields(body, codec)
    elif fmt == "2":
        fields = _xml_fields(body, codec)
    else:
        fields = _form_fields(body, codec)
    if "mes" in fields:
        kind, signed, kept = INBOUND, ("phone", "mes", "to"), INBOUND_FIELDS
    elif "waitcall" in fields:
        kind, signed, kept = CALL, ("phone", "ts"), CALL_FIELDS
    else:
        kind, signed, kept = STATUS, ("id", "phone", "status"), STATUS_FIELDS
    if secret:
        _verify(fields, signed, secret, codec)
    payload = {name: fields[name] for name in kept if name in fields}
    return Event("smsc", kind, _key(kind, payload), payload)


def signature(kind: str, fields: Mapping[str, str], secret: str, algorithm: str, charset: str = "utf-8") -> str:
    """The value SMSC sends in ``algorithm`` (md5, sha1 or crc32) for an event of ``kind``
    (the simulator signs with this; the receiver compares with it)."""
    names = {STATUS: ("id", "phone", "status"), INBOUND: ("phone", "mes", "to"), CALL: ("phone", "ts")}[kind]
    data = ":".join([*(fields.get(n, "") for n in names), secret]).encode(CHARSETS.get(charset, charset))
    return _hashes(data)[algorithm][0]


def _hashes(data: bytes) -> dict[str, tuple[str, ...]]:
    crc = zlib.crc32(data) & 0xFFFFFFFF
    # PHP's crc32() prints an unsigned decimal; its hash('crc32b') the hex form: take either
    return {
        "md5": (hashlib.md5(data).hexdigest(),),
        "sha1": (hashlib.sha1(data).hexdigest(),),
        "crc32": (str(crc), f"{crc:08x}"),
    }


def _verify(fields: Mapping[str, str], signed: tuple[str, ...], secret: str, codec: str) -> None:
    given = [name for name in SIGNATURES if name in fields]
    if not given:
        raise CallbackRefused(403, "the callback carries no md5, sha1 or crc32 signature")
    if len(given) > 1:
        raise CallbackRefused(403, "the callback carries more than one signature (" + ", ".join(given) + ")")
    name = given[0]
    if any(n not in fields for n in signed):
        missing = ", ".join(n for n in signed if n not in fields)
        raise CallbackRefused(400, f"the signed field {missing} is missing")
    try:
        data = ":".join([*(fields[n] for n in signed), secret]).encode(codec)
    except UnicodeEncodeError:
        raise CallbackRefused(403, f"the {name} signature does not match") from None
    value = fields[name].strip().lower().encode("ascii", "replace")
    # compare_digest with every accepted form, all of them compared (constant time)
    matches = [hmac.compare_digest(value, expected.encode()) for expected in _hashes(data)[name]]
    if not any(matches):
        raise CallbackRefused(403, f"the {name} signature does not match")


def _key(kind: str, p: Mapping[str, str]) -> str:
    """The event's identity: the same for every redelivery, different for another event."""
    if kind == STATUS:
        for name in ("id", "phone", "status"):
            if not p.get(name):
                raise CallbackRefused(400, f"a status without {name}")
        try:
            int(p["status"])
        except ValueError:
            raise CallbackRefused(400, "the status is not a number") from None
        key = f"s:{p['id']}:{_digits(p['phone'])}:{p['status']}:{p.get('ts') or p.get('time') or ''}"
    elif kind == INBOUND:
        if not p.get("phone"):
            raise CallbackRefused(400, "an incoming message without phone")
        key = f"i:{p['id']}" if p.get("id") else f"i:{_digits(p['phone'])}:{p.get('sent', '')}:{p.get('time', '')}:{hashlib.sha1(p['mes'].encode()).hexdigest()[:16]}"
    else:
        if not p.get("phone"):
            raise CallbackRefused(400, "a call confirmation without phone")
        key = f"c:{_digits(p['phone'])}:{p.get('ts', '')}"
    if len(key) > 255:
        key = key[:200] + ":" + hashlib.sha256(key.encode()).hexdigest()[:32]
    return key


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _put(fields: dict[str, str], name: str, value: str) -> None:
    if "\x00" in name or "\x00" in value:  # no text column can hold it; no SMSC field has one
        raise CallbackRefused(400, "the body holds a NUL character")
    if name in fields:
        raise CallbackRefused(400, f"the field {name[:40]!r} is repeated")
    if len(value) > _MAX_FIELD:
        raise CallbackRefused(400, f"the field {name[:40]!r} is longer than {_MAX_FIELD} characters")
    fields[name] = value


def _form_fields(body: bytes, codec: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for pair in body.split(b"&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition(b"=")
        try:
            name = unquote_to_bytes(raw_name.replace(b"+", b" ")).decode("ascii")
            value = unquote_to_bytes(raw_value.replace(b"+", b" ")).decode(codec)
        except UnicodeDecodeError:
            raise CallbackRefused(400, f"the body is not in the handler's charset ({codec})") from None
        _put(fields, name, value)
    return fields


def _json_fields(body: bytes, codec: str) -> dict[str, str]:
    try:
        text = body.decode("utf-8" if codec == "utf-8" else codec)
    except UnicodeDecodeError:
        raise CallbackRefused(400, f"the body is not in the handler's charset ({codec})") from None
    fields: dict[str, str] = {}

    def pairs(items):
        out = {}
        for name, value in items:
            if name in out:
                raise CallbackRefused(400, f"the field {name[:40]!r} is repeated")
            out[name] = value
        return out

    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except ValueError as exc:
        if isinstance(exc, CallbackRefused):
            raise
        raise CallbackRefused(400, "the body is not JSON (fmt=3)") from None
    if not isinstance(data, dict):
        raise CallbackRefused(400, "the JSON body is not an object")
    for name, value in data.items():
        if isinstance(value, (dict, list)):
            raise CallbackRefused(400, f"the field {name[:40]!r} is not a plain value")
        _put(fields, str(name), "" if value is None else str(value))
    return fields


def _xml_fields(body: bytes, codec: str) -> dict[str, str]:
    try:
        text = body.decode(codec)
    except UnicodeDecodeError:
        raise CallbackRefused(400, f"the body is not in the handler's charset ({codec})") from None
    if "<!" in text:  # no DTD, no entities: nothing an SMSC status needs
        raise CallbackRefused(400, "the XML body declares a DTD or entities")
    if text.startswith("<?xml"):
        text = text[text.find("?>") + 2:]
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        raise CallbackRefused(400, "the body is not XML (fmt=2)") from None
    fields: dict[str, str] = {}
    for child in root:
        if len(child):
            raise CallbackRefused(400, f"the field {child.tag[:40]!r} is not a plain value")
        _put(fields, child.tag, child.text or "")
    return fields
