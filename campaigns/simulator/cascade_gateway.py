"""The cascade gateway's behaviour (seed 001), without HTTP: accounts of messages tried on
Viber, VK and SMS in the order each request gives, ``client_id_message`` de-duplication,
the once-a-minute refusal of identical requests, and every state and error text of the
document. ``cascade.py`` serves it over real HTTP in the three interfaces.

Who receives what: a phone in ``no_viber`` has no Viber (the Viber attempt ends
``not_deliver`` and the next channel is tried), ``no_vk`` likewise for VK; a phone in
``unreachable`` is reached on no channel (the message ends ``not_deliver``), in
``expired`` it ends ``expired``, in ``partly`` ``partly_deliver``. Every other phone takes the
first channel tried. ``no_viber_endings`` / ``no_vk_endings`` name phones by their last
digits (the ``campaigns simulate cascade`` rehearsal: 3, 6, 9 have no Viber, 6 and 9 no VK). Each channel tried takes ``delivery_seconds`` (simulated); only the
channel that delivered is charged (``prices``; SMS per part).
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

from campaigns.ingest import segments
from campaigns.simulator.clock import SimClock
from campaigns.simulator.faults import FaultPlan, FaultRule

CHANNELS = ("viber", "vk", "sms")
REPEATED = "Попытка отправки более одного одинакового запроса в течение минуты"
AUTH = "Неверный логин или пароль"
DUPLICATE = "Сообщение с таким client_id_message уже было отправлено"
UNKNOWN_ID = "Сообщение с таким ID не принималось"
BAD_PHONE = "Неверный формат номера телефона"
NO_CHANNEL = "Не выбрано ни одного направления отправки"
NO_TEXT = {"viber": "Не указан текст VIBER сообщения", "sms": "Не указан текст SMS",
           "vk": "Не указан идентификатор шаблона VK"}
BUTTON = "Текст кнопки не более 19 символов, и к кнопке нужна ссылка"
IMAGE = "К изображению нужна кнопка (button_text и button_url)"


@dataclass(frozen=True)
class CascadeConfig:
    # who may call: None accepts any login/password or token (a sandbox)
    login: str | None = None
    password: str | None = None
    token: str | None = None
    no_viber: frozenset[str] = frozenset()
    no_vk: frozenset[str] = frozenset()
    # phones ending in one of these have no Viber / no VK (a rehearsal shows the fallback)
    no_viber_endings: tuple[str, ...] = ()
    no_vk_endings: tuple[str, ...] = ()
    unreachable: frozenset[str] = frozenset()
    expired: frozenset[str] = frozenset()
    partly: frozenset[str] = frozenset()
    prices: Mapping[str, float] = field(default_factory=lambda: {"viber": 0.45, "vk": 0.3, "sms": 1.2})
    delivery_seconds: float = 0.0  # simulated seconds each channel tried takes
    repeat_seconds: float = 60.0  # identical requests refused for this long (seed 001)
    latency: float = 0.0  # real seconds every request takes
    speed: float = 1.0  # simulated seconds per real second


@dataclass
class GatewayMessage:
    id_message: int
    client_id: str | None
    phone: str
    order: tuple[str, ...]  # channels in the order tried
    texts: dict[str, str]
    sent_at: float
    ends: str  # deliver, not_deliver, expired, partly_deliver
    channel: str | None  # the channel that delivers
    ids: dict[str, int]
    sms_parts: int = 1


def _digits(text: str) -> str:
    return "".join(ch for ch in str(text) if ch.isdigit())


class CascadeGateway:
    """One gateway account. Thread-safe; ``messages`` / ``sent_to`` tell tests what went out."""

    def __init__(self, config: CascadeConfig | None = None, *, faults: Iterable[FaultRule] = ()):
        self.config = config or CascadeConfig()
        self.clock = SimClock(self.config.speed)
        self.faults = FaultPlan(faults)
        self.calls: Counter[str] = Counter()
        self.refused_repeats = 0
        self.duplicates = 0
        self.releasing = threading.Event()  # SimulatorServer sets it on stop: hangs answer at once
        self._lock = threading.Lock()
        self._ids = itertools.count(1_179_038_981)  # the document's example id
        self._messages: list[GatewayMessage] = []
        self._by_id: dict[int, GatewayMessage] = {}
        self._by_client: dict[str, GatewayMessage] = {}
        self._recent: dict[str, float] = {}

    # --- what tests look at and steer --------------------------------------------

    def configure(self, **changes: Any) -> None:
        with self._lock:
            self.config = replace(self.config, **changes)
            if "speed" in changes:
                self.clock.set_speed(self.config.speed)

    @property
    def messages(self) -> list[GatewayMessage]:
        with self._lock:
            return list(self._messages)

    def sent_to(self, phone: str) -> int:
        digits = _digits(phone)
        with self._lock:
            return sum(1 for m in self._messages if m.phone == digits)

    def sent_counts(self) -> Counter[str]:
        with self._lock:
            return Counter(m.phone for m in self._messages)

    def state(self) -> dict[str, Any]:
        with self._lock:
            counts = Counter(m.phone for m in self._messages)
            return {
                "messages": len(self._messages), "phones": len(counts),
                "sent_twice": sorted(p for p, n in counts.items() if n > 1),
                "by_channel": dict(Counter(m.channel or "none" for m in self._messages)),
                "duplicates_refused": self.duplicates, "repeats_refused": self.refused_repeats,
                "calls": dict(self.calls), "faults": self.faults.rules(),
            }

    # --- requests ---------------------------------------------------------------------

    def authorized(self, login: str | None, password: str | None, token: str | None) -> bool:
        c = self.config
        if c.login is None and c.token is None:
            return bool(token or (login and password))
        if c.token is not None and token == c.token:
            return True
        return c.login is not None and login == c.login and password == c.password

    def repeated(self, fingerprint: bytes) -> bool:
        """Was an identical request taken within ``repeat_seconds``? Remembers this one."""
        key = hashlib.sha256(fingerprint).hexdigest()
        with self._lock:
            now = self.clock.now()
            for k, at in list(self._recent.items()):
                if now - at >= self.config.repeat_seconds:
                    del self._recent[k]
            if key in self._recent:
                self.refused_repeats += 1
                return True
            self._recent[key] = now
            return False

    def send(self, messages: list[Mapping[str, Any]]) -> list[list[dict] | dict]:
        """Each message's answer: its phones' entries, or {"error": text}."""
        with self._lock:
            now = self.clock.now()
            return [self._send_one(m, now) for m in messages]

    def _send_one(self, message: Mapping[str, Any], now: float) -> list[dict] | dict:
        order = []
        for channel in CHANNELS:
            try:
                position = int(str(message.get(f"send_{channel}") or 0))
            except ValueError:
                position = 0
            if position:
                order.append((position, channel))
        channels = tuple(channel for _, channel in sorted(order))
        if not channels:
            return {"error": NO_CHANNEL}
        texts = {}
        if "viber" in channels:
            texts["viber"] = str(message.get("text_viber") or "")
        if "sms" in channels:
            texts["sms"] = str(message.get("text_sms") or "")
        if "vk" in channels:
            texts["vk"] = str(message.get("templateId") or "")
        missing = [ch for ch in channels if not texts.get(ch, "").strip()]
        if missing:
            return {"error": NO_TEXT[missing[0]]}
        button_text, button_url = message.get("button_text"), message.get("button_url")
        if bool(button_text) != bool(button_url) or len(str(button_text or "")) > 19:
            return {"error": BUTTON}
        if message.get("image_url") and not button_text:
            return {"error": IMAGE}
        answers = []
        for entry in message.get("phones") or []:
            answers.append(self._to_phone(entry, channels, texts, now))
        return answers

    def _to_phone(self, entry: Mapping[str, Any], channels, texts, now: float) -> dict:
        phone = _digits(entry.get("phone") or "")
        client_id = str(entry.get("client_id_message") or "").strip() or None
        answer: dict[str, Any] = {"phone": phone}
        if client_id is not None:
            answer["client_id_message"] = client_id
        if not 10 <= len(phone) <= 15:
            return {**answer, "error": BAD_PHONE}
        if client_id is not None and client_id in self._by_client:
            # "if a message with this number was already sent from this account, it is not
            # sent again" (seed 001): refused, naming the message that was sent
            self.duplicates += 1
            return {**self._ids_of(self._by_client[client_id]), "error": DUPLICATE}
        c = self.config
        if phone in c.unreachable or phone in c.expired or phone in c.partly:
            channel = None
            ends = "expired" if phone in c.expired else "partly_deliver" if phone in c.partly else "not_deliver"
        else:
            lacking = {
                "viber": phone in c.no_viber or phone.endswith(c.no_viber_endings or ("\0",)),
                "vk": phone in c.no_vk or phone.endswith(c.no_vk_endings or ("\0",)),
                "sms": False,
            }
            channel = next((ch for ch in channels if not lacking[ch]), None)
            ends = "deliver" if channel else "not_deliver"
        message = GatewayMessage(
            id_message=next(self._ids), client_id=client_id, phone=phone, order=channels, texts=texts, sent_at=now,
            ends=ends, channel=channel, ids={ch: next(self._ids) for ch in channels},
            sms_parts=max(1, segments.count(texts.get("sms", ""))[0]) if "sms" in channels else 0,
        )
        self._messages.append(message)
        self._by_id[message.id_message] = message
        if client_id is not None:
            self._by_client[client_id] = message
        return self._ids_of(message)

    def _ids_of(self, m: GatewayMessage) -> dict[str, Any]:
        parts = m.sms_parts if m.order[0] == "sms" else 1
        return {
            "id_message": str(m.id_message), "client_id_message": m.client_id or "", "phone": m.phone,
            "count_message": str(parts),
            **{f"id_{ch}": str(m.ids.get(ch, 0)) for ch in CHANNELS},
        }

    def states(self, ids: Iterable[Any]) -> list[dict]:
        with self._lock:
            now = self.clock.now()
            return [self._state(str(i), now) for i in ids]

    def _state(self, raw_id: str, now: float) -> dict:
        message = self._by_id.get(int(raw_id)) if raw_id.isdigit() else None
        if message is None:
            return {"id_message": raw_id, "time_change_state": "", "state": UNKNOWN_ID}
        tried = message.order if message.channel is None else message.order[: message.order.index(message.channel) + 1]
        hops = int((now - message.sent_at) // self.config.delivery_seconds) if self.config.delivery_seconds else len(tried)
        out: dict[str, Any] = {"id_message": raw_id, "time_change_state": "2026-12-04 12:00:00", "num_parts_sms": ""}
        for position, channel in enumerate(message.order):
            if channel not in tried or position >= hops:
                word = "send"  # not sent (yet) on this channel
            elif channel == message.channel:
                word = "deliver"
            elif message.channel is None and position == len(tried) - 1:
                word = message.ends
            else:
                word = "not_deliver"
            out[f"state_{channel}"] = word
            charged = channel == message.channel and word == "deliver"
            price = self.config.prices.get(channel, 0.0) * (message.sms_parts if channel == "sms" else 1)
            out[f"price_{channel}"] = f"{price if charged else 0.0:.2f}"
        if "sms" in message.order and message.channel == "sms":
            out["num_parts_sms"] = str(message.sms_parts)
        out["state"] = message.ends if hops >= len(tried) else "send"
        return out
