"""An SMSC simulator owned by the project: send.php, status.php, get.php (history) and
balance.php over real HTTP, with SMSC's error codes, its flood rules and fault injection.

    sim = SmscSimulator(SmscConfig(login="alex", password="secret"))
    with SimulatorServer(create_smsc_app(sim)) as server:
        client = SmscClient(httpx.Client(), login="alex", password="secret", api_url=server.base_url)
        ...
        assert sim.sent_to("77011234567") == 1          # exactly once

What it enforces (PROVIDERS.md, seed 003):
- error 2 for wrong credentials, 4 while ``blocked_ip``, 1 for bad parameters (no phones,
  no text, text over 1000 characters, an id that is not 1..40 of [A-Za-z0-9.-_]), 5 for a
  bad ``time``/``valid``, 6 for a forbidden word, 3 when the balance cannot pay, 7 and 8 per
  phone (bad format, ``undeliverable``), answered with the id;
- error 9 for a send identical to one accepted within ``duplicate_window`` seconds, and for
  any request that would be the 15th under way at once (``max_concurrent``);
- history: error 9 past 3 identical requests a minute or 30 an hour, ``prev_id`` paging,
  at most 1000 a page, error 3 when nothing matches;
- statuses: -1 waiting when sent, 0 at the operator after half of ``delivery_seconds``,
  then 1 delivered (20 for numbers in ``fail_delivery``); -3 for an unknown (id, phone).

Callbacks (seed 004): a ``campaigns.simulator.smsc_callbacks.CallbackPoster`` started on
the simulator posts each status a message reaches, and incoming SMS (``POST /_sim/inbound``),
signed, to the client's handler, retrying as SMSC does; ``state()`` shows its counts and
the messages' statuses (``final_statuses``).

Faults (``campaigns.simulator.faults.FaultRule``, methods "send", "status", "get",
"balance"): ``http_error``, ``hang``, ``malformed``, ``drop`` before the work, ``lost``
after it (the message is sent, the client sees a 502 or a dropped connection), ``code``
for any SMSC error code. ``latency`` (real seconds) makes concurrency real; ``pause()``
holds every request at the door until ``resume()``.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import re
import threading
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Iterable
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from campaigns.simulator.clock import SimClock
from campaigns.simulator.faults import FaultPlan, FaultRule

SCRIPTS = ("send", "status", "get", "balance")
_ID = re.compile(r"[A-Za-z0-9._-]{1,40}")
_PHONE = re.compile(r"\+?\d{10,15}")
_VALID = re.compile(r"\d{1,2}:\d{2}|\d{1,3}")
_BAD_GATEWAY = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>"


@dataclass(frozen=True)
class SmscConfig:
    # who may call: None accepts any login/password/apikey (a sandbox)
    login: str | None = None
    password: str | None = None
    api_key: str | None = None
    # messages the balance pays for; None: unlimited
    balance: int | None = None
    undeliverable: frozenset[str] = frozenset()  # digits: send error 8
    fail_delivery: frozenset[str] = frozenset()  # digits: sent, then status 20
    forbidden_words: tuple[str, ...] = ()  # send error 6
    blocked_ip: bool = False  # every request: error 4
    delivery_seconds: float = 0.0  # simulated seconds from sent to the final status
    duplicate_window: float = 60.0  # identical sends refused with 9 for this long
    max_concurrent: int = 15  # the request that would be the 15th under way gets 9
    history_identical_per_minute: int = 3
    history_per_hour: int = 30
    latency: float = 0.0  # real seconds every request takes
    speed: float = 1.0  # simulated seconds per real second


@dataclass
class SentMessage:
    int_id: int
    id: str
    phone: str
    text: str
    sender: str | None
    sent_at: float
    final: int = 1


@dataclass
class _Account:
    messages: list[SentMessage] = field(default_factory=list)
    by_pair: dict[tuple[str, str], SentMessage] = field(default_factory=dict)
    recent_sends: dict[str, float] = field(default_factory=dict)
    history_same: dict[str, deque] = field(default_factory=dict)
    history_all: deque = field(default_factory=deque)
    spent: int = 0


class SmscSimulator:
    """One SMSC account. Thread-safe; ``sent_to``/``messages`` tell tests what went out."""

    def __init__(self, config: SmscConfig | None = None, *, faults: Iterable[FaultRule] = ()):
        self.config = config or SmscConfig()
        self.clock = SimClock(self.config.speed)
        self.faults = FaultPlan(faults)
        self.calls: Counter[str] = Counter()
        self.releasing = threading.Event()  # SimulatorServer sets it on stop: hangs answer at once
        self._open = threading.Event()
        self._open.set()
        self._lock = threading.Lock()
        self._ids = itertools.count(1_000_001)
        self._account = _Account()
        self.in_flight = 0
        self.callbacks = None  # a CallbackPoster (smsc_callbacks) once one is started

    # --- what tests look at and steer --------------------------------------------

    def configure(self, **changes: Any) -> None:
        with self._lock:
            self.config = replace(self.config, **changes)
            if "speed" in changes:
                self.clock.set_speed(self.config.speed)

    @property
    def messages(self) -> list[SentMessage]:
        with self._lock:
            return list(self._account.messages)

    def sent_to(self, phone: str) -> int:
        """How many messages went to ``phone`` (digits)."""
        digits = _digits(phone)
        with self._lock:
            return sum(1 for m in self._account.messages if m.phone == digits)

    def sent_counts(self) -> Counter[str]:
        with self._lock:
            return Counter(m.phone for m in self._account.messages)

    def pause(self) -> None:
        """Hold every request at the door (counted as under way) until ``resume``."""
        self._open.clear()

    def resume(self) -> None:
        self._open.set()

    def state(self) -> dict[str, Any]:
        with self._lock:
            counts = Counter(m.phone for m in self._account.messages)
            return {
                "messages": len(self._account.messages),
                "phones": len(counts),
                "sent_twice": sorted(p for p, n in counts.items() if n > 1),
                "calls": dict(self.calls),
                "in_flight": self.in_flight,
                "faults": self.faults.rules(),
                "final_statuses": dict(Counter(
                    str(self._state_of(m, self.clock.now())) for m in self._account.messages
                )),
                "callbacks": self.callbacks.state() if self.callbacks is not None else None,
            }

    # --- the scripts ----------------------------------------------------------------

    def handle(self, script: str, params: dict[str, str]) -> dict | list:
        """The JSON answer of one request (fmt=3)."""
        with self._lock:
            config, now = self.config, self.clock.now()
            if not self._authorized(params):
                return _error(2, "authorise error")
            if config.blocked_ip:
                return _error(4, "IP address is temporarily blocked")
            if script == "send":
                return self._send(params, config, now)
            if script == "status":
                return self._status(params, now)
            if script == "get":
                return self._history(params, config, now)
            if config.balance is None:
                return {"balance": "1000000.00"}
            return {"balance": f"{max(0, config.balance - self._account.spent)}.00"}

    def _authorized(self, params: dict[str, str]) -> bool:
        c = self.config
        if c.login is None and c.api_key is None:
            return bool(params.get("apikey") or (params.get("login") and params.get("psw")))
        if c.api_key is not None and params.get("apikey") == c.api_key:
            return True
        return c.login is not None and params.get("login") == c.login and params.get("psw") == c.password

    def _send(self, params: dict[str, str], config: SmscConfig, now: float) -> dict:
        request_id = params.get("id", "")
        if request_id and not _ID.fullmatch(request_id):
            return _error(1, "invalid id")
        if params.get("valid") and not _VALID.fullmatch(params["valid"]):
            return _error(5, "invalid valid format")
        if params.get("time") and not re.fullmatch(r"[\d.: +-]+", params["time"]):
            return _error(5, "invalid time format")
        pairs = _recipients(params)
        if pairs is None:
            return _error(1, "parameters error")
        request_id = request_id or str(next(self._ids))
        # "a second identical send request within a minute" (PROVIDERS.md)
        fingerprint = hashlib.sha256(json.dumps(sorted(params.items())).encode()).hexdigest()
        for key, at in list(self._account.recent_sends.items()):
            if now - at >= config.duplicate_window:
                del self._account.recent_sends[key]
        if fingerprint in self._account.recent_sends:
            return _error(9, "duplicate request, wait a minute")
        if any(w and w.lower() in text.lower() for _, text in pairs for w in config.forbidden_words):
            return _error(6, "message is denied", id=request_id)
        answers, accepted = [], []
        for phone, text in pairs:
            digits = _digits(phone)
            if not _PHONE.fullmatch(phone.strip()):
                answers.append({"phone": digits or phone, "mccmnc": "0", "cost": "0", "status": "0", "error": "7"})
            elif digits in config.undeliverable:
                answers.append({"phone": digits, "mccmnc": "0", "cost": "0", "status": "0", "error": "8"})
            else:
                answers.append({"phone": digits, "mccmnc": "40101", "cost": "10", "status": "0", "error": "0"})
                accepted.append((digits, text))
        if not accepted:
            code = 7 if any(a["error"] == "7" for a in answers) else 8
            return _error(code, "invalid phone" if code == 7 else "can't deliver sms", id=request_id)
        if config.balance is not None and self._account.spent + len(accepted) > config.balance:
            return _error(3, "no money", id=request_id)
        self._account.recent_sends[fingerprint] = now
        for digits, text in accepted:
            message = SentMessage(
                next(self._ids), request_id, digits, text, params.get("sender"), now,
                final=20 if digits in config.fail_delivery else 1,
            )
            self._account.messages.append(message)
            self._account.by_pair[(request_id, digits)] = message
        self._account.spent += len(accepted)
        answer: dict[str, Any] = {"id": request_id, "cnt": len(accepted)}
        if params.get("op") == "1":
            answer["phones"] = answers
        return answer

    def _state_of(self, message: SentMessage, now: float) -> int:
        age = now - message.sent_at
        if age >= self.config.delivery_seconds:
            return message.final
        return 0 if age >= self.config.delivery_seconds / 2 else -1

    def _status(self, params: dict[str, str], now: float) -> dict | list:
        ids = [i for i in params.get("id", "").split(",") if i]
        phones = [_digits(p) for p in re.split(r"[,;]", params.get("phone", "")) if p.strip()]
        if not ids or len(ids) != len(phones):
            return _error(1, "parameters error")
        items = []
        for request_id, phone in zip(ids, phones):
            message = self._account.by_pair.get((request_id, phone))
            if message is None:
                if len(ids) == 1:
                    return _error(3, "message not found")
                items.append({"status": -3, "err": 0, "id": request_id, "phone": phone})
                continue
            status = self._state_of(message, now)
            changed = message.sent_at if status == -1 else now
            items.append({
                "status": status, "last_date": _date(changed), "last_timestamp": int(changed),
                "err": 0 if status != 20 else 1, "id": request_id, "phone": phone,
            })
        return items[0] if len(ids) == 1 else items

    def _history(self, params: dict[str, str], config: SmscConfig, now: float) -> dict | list:
        if params.get("get_messages") != "1":
            return _error(1, "parameters error")
        try:
            count = int(params.get("cnt") or 100)
            prev_id = int(params["prev_id"]) if params.get("prev_id") else None
            start = _day(params.get("start"))
            end = _day(params.get("end"))
        except ValueError:
            return _error(1, "parameters error")
        if not 1 <= count <= 1000:
            return _error(1, "parameters error")
        # seed 003: no more than 3 identical requests a minute or 30 requests an hour
        key = json.dumps(sorted(params.items()))
        same = self._account.history_same.setdefault(key, deque())
        every = self._account.history_all
        for window, span in ((same, 60.0), (every, 3600.0)):
            while window and now - window[0] >= span:
                window.popleft()
        if len(same) >= config.history_identical_per_minute or len(every) >= config.history_per_hour:
            return _error(9, "too many requests")
        same.append(now)
        every.append(now)
        wanted = {_digits(p) for p in re.split(r"[,;]", params.get("phone", "")) if p.strip()}
        found = []
        for m in reversed(self._account.messages):
            if prev_id is not None and m.int_id >= prev_id:
                continue
            if wanted and m.phone not in wanted:
                continue
            day = datetime.fromtimestamp(m.sent_at, timezone.utc).date()
            if (start and day < start) or (end and day > end):
                continue
            found.append(self._history_item(m, now))
            if len(found) == count:
                break
        return found or _error(3, "messages not found")

    def _history_item(self, m: SentMessage, now: float) -> dict:
        status = self._state_of(m, now)
        return {
            "status": status, "last_date": _date(now), "last_timestamp": int(now), "err": 0,
            "send_date": _date(m.sent_at), "send_timestamp": int(m.sent_at), "phone": m.phone,
            "cost": "10", "sender_id": m.sender or "SMSC.KZ", "status_name": "", "message": m.text,
            "mccmnc": "40101", "country": "", "operator": "", "region": "", "type": 0,
            "id": m.id, "int_id": str(m.int_id), "sms_cnt": 1, "format": 0, "crc": 0,
        }


def _error(code: int, text: str, **extra: Any) -> dict:
    return {"error": text, "error_code": code, **extra}


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _date(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%d.%m.%Y %H:%M:%S")


def _day(text: str | None):
    return datetime.strptime(text, "%d.%m.%Y").date() if text else None


def _recipients(params: dict[str, str]) -> list[tuple[str, str]] | None:
    """(phone, text) of a send: ``phones`` + ``mes``, or ``list`` lines "phones:text"."""
    if params.get("list"):
        pairs = []
        for line in params["list"].splitlines():
            if not line.strip():
                continue
            phones, sep, text = line.partition(":")
            if not sep or not text.strip() or len(text) > 1000:
                return None
            pairs.extend((p, text.replace("\\n", "\n")) for p in re.split(r"[,;]", phones) if p.strip())
        return pairs or None
    text = params.get("mes", "")
    phones = [p for p in re.split(r"[,;]", params.get("phones", "")) if p.strip()]
    if not phones or not text.strip() or len(text) > 1000:
        return None
    return [(p, text) for p in phones]


# --- HTTP ---------------------------------------------------------------------------


class _Dropped(Response):
    """Starts an answer and closes the connection before the body is complete."""

    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"256")]})
        await send({"type": "http.response.body", "body": b'{"id": ', "more_body": True})


def _fault_response(rule: FaultRule) -> Response:
    if rule.kind == "drop" or (rule.kind == "lost" and rule.drop):
        return _Dropped()
    if rule.kind in ("http_error", "lost"):
        return Response(_BAD_GATEWAY, status_code=rule.status, media_type="text/html")
    if rule.kind == "malformed":
        body = _BAD_GATEWAY if rule.body == "html" else '{"id": "1", "cn'
        return Response(body, status_code=200, media_type="text/html")
    return JSONResponse(_error(rule.code, f"simulated error {rule.code}"))


async def _wait(sim: SmscSimulator, seconds: float | None, *, until_open: bool = False) -> None:
    loop = asyncio.get_running_loop()
    deadline = None if seconds is None else loop.time() + seconds
    while not sim.releasing.is_set():
        if until_open and sim._open.is_set():
            return
        if deadline is not None and loop.time() >= deadline:
            return
        await asyncio.sleep(0.01)


async def _script(request: Request) -> Response:
    sim: SmscSimulator = request.app.state.simulator
    script = request.path_params["script"]
    if script not in SCRIPTS:
        return Response("Not Found", status_code=404)
    params = dict(request.query_params)
    body = await request.body()
    if body:
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    sim.calls[script] += 1
    # "fifteen and more simultaneous requests under one login" (seed 003): refused with 9
    with sim._lock:
        crowded = sim.in_flight + 1 >= sim.config.max_concurrent
        if not crowded:
            sim.in_flight += 1
    if crowded:
        return JSONResponse(_error(9, "too many concurrent requests"))
    try:
        await _wait(sim, None, until_open=True)
        if sim.config.latency:
            await _wait(sim, sim.config.latency)
        rule = sim.faults.pick(script)
        if rule is not None and not rule.after_work:
            if rule.kind != "hang":
                return _fault_response(rule)
            await _wait(sim, rule.seconds)
        answer = sim.handle(script, params)
        if rule is not None and rule.after_work:
            if rule.kind != "hang":
                return _fault_response(rule)
            await _wait(sim, rule.seconds)
        return JSONResponse(answer)
    finally:
        with sim._lock:
            sim.in_flight -= 1


async def _sim_inbound(request: Request) -> Response:
    """An incoming SMS posted to the client's handler: {"phone", "mes", "sms_id"?}."""
    sim: SmscSimulator = request.app.state.simulator
    if sim.callbacks is None:
        return JSONResponse({"error": "no callback poster is running"}, status_code=409)
    try:
        body = json.loads(await request.body() or b"{}")
        incoming = sim.callbacks.incoming(str(body["phone"]), str(body["mes"]), sms_id=body.get("sms_id"))
    except (ValueError, TypeError, KeyError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse({"id": incoming})


async def _sim_state(request: Request) -> Response:
    return JSONResponse(request.app.state.simulator.state())


async def _sim_faults(request: Request) -> Response:
    sim: SmscSimulator = request.app.state.simulator
    if request.method == "DELETE":
        sim.faults.clear()
    elif request.method == "POST":
        try:
            body = json.loads(await request.body() or b"{}")
            rules = body.get("rules", [body]) if isinstance(body, dict) else body
            sim.faults.add(*[FaultRule.from_json(r) for r in rules])
        except (ValueError, TypeError, AttributeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse({"rules": sim.faults.rules()})


def create_smsc_app(simulator: SmscSimulator | SmscConfig | None = None) -> Starlette:
    """The ASGI app serving ``simulator`` under /sys/{script}.php, with /_sim/state and
    /_sim/faults for tests in other processes. Serve it with SimulatorServer(app)."""
    sim = simulator if isinstance(simulator, SmscSimulator) else SmscSimulator(simulator)
    app = Starlette(routes=[
        Route("/sys/{script}.php", _script, methods=["GET", "POST"]),
        Route("/_sim/health", lambda request: JSONResponse({"ok": True}), methods=["GET"]),
        Route("/_sim/state", _sim_state, methods=["GET"]),
        Route("/_sim/faults", _sim_faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sim/inbound", _sim_inbound, methods=["POST"]),
    ])
    app.state.simulator = sim
    return app
