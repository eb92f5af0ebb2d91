"""The SMSC simulator's calls to the client's handler (seed 004): every status a message
reaches (0 at the operator, then its final one) and every incoming SMS, posted signed to
the handler's URL, retried on any answer but 200 or 404 (SMSC: every 4 minutes, 50
attempts; both configurable so a test takes seconds).

    poster = CallbackPoster(sim, "http://127.0.0.1:8000/callbacks/smsc", secret="s3cret")
    poster.start()                       # a thread: scans the messages, posts, retries
    poster.incoming("77011234567", "STOP", sms_id=request_id)
    poster.stop()
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import httpx

from campaigns.callbacks.smsc import CHARSETS, signature

if TYPE_CHECKING:
    from campaigns.simulator.smsc import SentMessage, SmscSimulator

log = logging.getLogger(__name__)
RETRY_SECONDS = 240.0  # "1 запрос каждые 4 минуты, всего 50 попыток" (seed 004)
ATTEMPTS = 50


@dataclass
class _Post:
    kind: str
    fields: dict[str, str]
    attempts: int = 0
    due: float = 0.0


@dataclass
class _Watched:
    message: "SentMessage"
    posted: set[int] = field(default_factory=set)


class CallbackPoster:
    """Posts ``sim``'s statuses and incoming messages to ``url``. ``algorithm`` is md5, sha1
    or crc32; ``fmt`` None (form), "3" (JSON) or "2" (XML); ``charset`` the handler URL's.
    Retries wait ``retry_seconds`` real seconds, ``attempts`` times at most."""

    def __init__(
        self, sim: "SmscSimulator", url: str, *, secret: str | None, algorithm: str = "md5", fmt: str | None = None,
        charset: str = "utf-8", retry_seconds: float = RETRY_SECONDS, attempts: int = ATTEMPTS, timeout: float = 5.0,
        senders: int = 4,
    ):
        self.sim = sim
        self.secret = secret
        self.algorithm = algorithm
        self.fmt = fmt
        self.charset = charset
        self.retry_seconds = retry_seconds
        self.attempts = attempts
        query = {"charset": charset, **({"fmt": fmt} if fmt else {})}
        self.url = url + ("&" if "?" in url else "?") + urlencode(query)
        self._http = httpx.Client(timeout=timeout)
        self._lock = threading.Lock()
        self._outbox: deque[_Post] = deque()
        self._watched: list[_Watched] = []
        self._seen = 0
        self._incoming_ids = itertools.count(5_000_001)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._senders = senders
        self.stats: Counter[str] = Counter()  # delivered, failed_attempts, given_up, posted_<status>

    # --- control ------------------------------------------------------------------

    def start(self) -> "CallbackPoster":
        self._threads = [threading.Thread(target=self._scan, name="smsc-callbacks-scan", daemon=True)]
        self._threads += [threading.Thread(target=self._send, name=f"smsc-callbacks-{i}", daemon=True)
                          for i in range(self._senders)]
        for thread in self._threads:
            thread.start()
        self.sim.callbacks = self
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._http.close()

    def state(self) -> dict:
        with self._lock:
            return {**self.stats, "waiting": len(self._outbox), "watching": len(self._watched)}

    def incoming(self, phone: str, text: str, *, sms_id: str | None = None, to: str = "79001234567") -> str:
        """Post an incoming SMS from ``phone`` (answering request ``sms_id`` when given);
        returns its id."""
        incoming_id = str(next(self._incoming_ids))
        now = int(self.sim.clock.now())
        fields = {"id": incoming_id, "phone": phone, "mes": text, "to": to, "sent": str(now), "time": str(now)}
        if sms_id:
            fields["sms_id"] = sms_id
        self._queue("inbound", fields)
        return incoming_id

    # --- the work -------------------------------------------------------------------

    def _queue(self, kind: str, fields: dict[str, str]) -> None:
        if self.secret:
            fields[self.algorithm] = signature(kind, fields, self.secret, self.algorithm, self.charset)
        with self._lock:
            self._outbox.append(_Post(kind, fields))

    def _scan(self) -> None:
        """Watch every message until its final status is queued."""
        while not self._stop.wait(0.05):
            new = self.sim.messages[self._seen:]
            self._seen += len(new)
            self._watched += [_Watched(m) for m in new]
            now = self.sim.clock.now()
            still = []
            for watched in self._watched:
                status = self.sim._state_of(watched.message, now)
                # -1 waiting is not posted; the operator's 0 always precedes the final status
                for reached in [] if status == -1 else [0] if status == 0 else [0, status]:
                    if reached not in watched.posted:
                        watched.posted.add(reached)
                        self._queue("status", self._status_fields(watched.message, reached, now))
                if status in (-1, 0):
                    still.append(watched)
            self._watched = still

    def _status_fields(self, m: "SentMessage", status: int, now: float) -> dict[str, str]:
        fields = {"id": m.id, "phone": m.phone, "status": str(status), "ts": str(int(now)),
                  "time": time.strftime("%d.%m.%y %H:%M:%S", time.gmtime(now)), "cnt": "1", "type": "0",
                  "cost": "10"}
        if status >= 20:
            fields["err"] = "1"
        if m.sender:
            fields["sender"] = m.sender
        return fields

    def _next(self) -> _Post | None:
        with self._lock:
            for _ in range(len(self._outbox)):
                post = self._outbox.popleft()
                if post.due <= time.monotonic():
                    return post
                self._outbox.append(post)
        return None

    def _send(self) -> None:
        while not self._stop.is_set():
            post = self._next()
            if post is None:
                self._stop.wait(0.02)
                continue
            post.attempts += 1
            try:
                answer = self._post(post)
            except httpx.HTTPError:
                answer = None
            with self._lock:
                if answer in (200, 404):
                    self.stats["delivered"] += 1
                    if post.kind == "status":
                        self.stats[f"posted_{post.fields['status']}"] += 1
                    continue
                self.stats["failed_attempts"] += 1
                if post.attempts >= self.attempts:
                    self.stats["given_up"] += 1
                    continue
                post.due = time.monotonic() + self.retry_seconds
                self._outbox.append(post)

    def _post(self, post: _Post) -> int:
        codec = CHARSETS.get(self.charset, self.charset)
        if self.fmt == "3":
            import json

            body = json.dumps(post.fields, ensure_ascii=False).encode(codec)
            headers = {"content-type": "application/json"}
        elif self.fmt == "2":
            from xml.sax.saxutils import escape

            inner = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in post.fields.items())
            body = f"<data>{inner}</data>".encode(codec)
            headers = {"content-type": "text/xml"}
        else:
            body = urlencode(post.fields, encoding=codec).encode("ascii")
            headers = {"content-type": "application/x-www-form-urlencoded"}
        return self._http.post(self.url, content=body, headers=headers).status_code
