"""CascadeClient: sends and state reads of the cascade gateway (seed 001) over one
httpx.Client, in the interface chosen by CASCADE_PROTOCOL (``json`` default, ``get``,
``xml``; the wire formats are in ``wire``).

Credentials: ``login`` + ``password`` (in the JSON or XML body, in the GET query) or a
``token`` sent as ``Authorization: Bearer`` (PROVIDERS.md). They are registered with
``campaigns.redact``; no exception or log line names a URL, only the host.

Transport failures (all TemporaryError):
    connect error / connect or pool timeout   maybe_done False (the request never left)
    read/write timeout, broken connection     maybe_done True  (it may have been done)
    HTTP 5xx, an answer that cannot be read   maybe_done True
    HTTP 429                                  RateLimited
Error texts: see ``codes``. "Identical requests at most once a minute" (seed 001): with a
``limiter``, a state request identical to one made within ``repeat_seconds`` is not made
(Repeated, with the seconds to wait), so polling never earns the gateway's refusal. Sends
are never held back here: an identical send is always a resend, and the gateway's answer
to it (refused as repeated, or each phone refused as a duplicate client_id_message) is
what the adapter needs to hear.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

import httpx

from campaigns.log_redaction import install_on_loggers
from campaigns.pacing.limiter import Limiter, account_key
from campaigns.pacing.policy import Policy
from campaigns.providers.cascade import codes, wire
from campaigns.providers.cascade.wire import Message, PhoneAnswer, State
from campaigns.providers.errors import PermanentError, ProviderError, RateLimited, TemporaryError
from campaigns.redact import redact, register_secret

log = logging.getLogger("campaigns.providers.cascade")

PROTOCOLS = ("json", "get", "xml")
STATE_BATCH = 100  # ids per JSON/XML state request
PATHS = {
    ("json", "send"): "sendmessagejson.php", ("json", "state"): "sendmessagejson.php",
    ("get", "send"): "sendmessage.php", ("get", "state"): "sendmessage.php",
    ("xml", "send"): "xml/message.php", ("xml", "state"): "xml/state_message.php",
}


class CascadeClient:
    """The gateway at ``api_url`` (scheme and host: every brand has its own host)."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        api_url: str,
        login: str | None = None,
        password: str | None = None,
        token: str | None = None,
        protocol: str = "json",
        limiter: Limiter | None = None,
        repeat_seconds: float = codes.REPEAT_SECONDS,
    ):
        if protocol not in PROTOCOLS:
            raise ValueError(f"CASCADE_PROTOCOL must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
        if not token and not (login and password):
            raise ValueError("the cascade gateway needs CASCADE_LOGIN and CASCADE_PASSWORD, or CASCADE_TOKEN")
        parts = urlsplit(api_url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("CASCADE_API_URL must be the gateway's scheme and host, e.g. https://gateway.example")
        for secret in (password, token):
            register_secret(secret)
        install_on_loggers()
        self._http = http
        self._api_url = api_url.rstrip("/")
        self.host = parts.hostname
        self.protocol = protocol
        self._auth = {} if token else {"login": login or "", "password": password or ""}
        self._headers = {"authorization": f"Bearer {token}"} if token else {}
        self.account = account_key(login or "", token or "", self._api_url)
        self._limiter = limiter
        self.repeat_seconds = repeat_seconds
        self._repeat = Policy(1, repeat_seconds, packet=1, strict=True)

    def __repr__(self) -> str:
        return f"CascadeClient(host={self.host!r}, protocol={self.protocol!r})"

    def close(self) -> None:
        self._http.close()

    # --- sending ----------------------------------------------------------------------

    def send(self, messages: Sequence[Message]) -> list[list[PhoneAnswer] | str]:
        """Send ``messages``: one item per message, in order, holding its phones' answers
        or the error text the gateway gave for the whole message. JSON and XML send them
        in one request; GET one request per message (several when a URL would pass 2,000
        characters). Raises ValueError for a message GET cannot carry, ProviderError."""
        if not messages:
            return []
        if self.protocol == "json":
            body = self._call("send", json=wire.json_send(self._auth, messages))
            return self._decode("send", lambda: wire.json_send_answer(self._json(body), len(messages)))
        if self.protocol == "xml":
            body = self._call("send", content=wire.xml_send(self._auth, messages), xml=True)
            return self._decode("send", lambda: wire.xml_send_answer(body.content, len(messages)))
        return [self._send_get(m) for m in messages]

    def _send_get(self, message: Message) -> list[PhoneAnswer]:
        base = f"{self._api_url}/{PATHS['get', 'send']}"
        answers: list[PhoneAnswer] = []
        for group in wire.split_for_get(base, self._auth, message):
            params = wire.get_send_params(self._auth, message, group)
            response = self._call("send", params=params)
            answers += self._decode("send", lambda: self._get_answers(response.text, group))
        return answers

    def _get_answers(self, text: str, group) -> list[PhoneAnswer]:
        """A GET send's answer: one error text for the whole request, which is the refusal
        of its phones unless it concerns the request itself (raised, as WireError)."""
        try:
            return wire.get_send_answer(text, group)
        except wire.WireError as exc:
            error = codes.request_error(exc.text, method="send", sending=True, repeat_seconds=self.repeat_seconds)
            if codes.about_whole_request(error):
                raise
            return [PhoneAnswer(wire.digits(a.phone), None if a.client_id is None else str(a.client_id), None,
                                error=exc.text) for a in group]

    # --- states -----------------------------------------------------------------------

    def state(self, ids: Sequence[str]) -> list[State]:
        """The state of each message id, in order (an id the gateway does not know comes
        back with an error text as its state). JSON and XML ask STATE_BATCH ids a request,
        GET one. Raises Repeated when the same request was made within the minute (with a
        limiter), ProviderError."""
        ids = [str(i) for i in ids]
        states: dict[str, State] = {}
        step = 1 if self.protocol == "get" else STATE_BATCH
        for start in range(0, len(ids), step):
            batch = ids[start : start + step]
            self._not_repeated(batch)
            for state in self._state_batch(batch):
                states.setdefault(state.id_message, state)
        return [states.get(i) or wire.State(i, "the gateway did not answer for this message") for i in ids]

    def _state_batch(self, batch: list[str]) -> list[State]:
        if self.protocol == "json":
            body = self._call("state", json=wire.json_state(self._auth, batch))
            return self._decode("state", lambda: wire.json_state_answer(self._json(body)))
        if self.protocol == "xml":
            body = self._call("state", content=wire.xml_state(self._auth, batch), xml=True)
            return self._decode("state", lambda: wire.xml_state_answer(body.content))
        response = self._call("state", params=[*self._auth.items(), ("id_message", batch[0])])
        text = self._decode("state", lambda: wire.plain_text(response.text))
        if text not in codes.STATES:
            error = codes.request_error(text, method="state", sending=False, repeat_seconds=self.repeat_seconds)
            if codes.about_whole_request(error):
                raise error  # the request was refused; anything else is this message's error text
        return [wire.get_state_answer(text, batch[0])]

    def _not_repeated(self, batch: list[str]) -> None:
        if self._limiter is None:
            return
        digest = hashlib.sha256(f"{self.protocol}:{','.join(batch)}".encode()).hexdigest()[:16]
        wait = self._limiter.acquire(f"cascade:{self.account}:state:{digest}", self._repeat)
        if wait:
            raise codes.Repeated(
                "the gateway takes an identical request at most once a minute (seed 001); this state request waits",
                method="state", retry_after=wait, maybe_done=False,
            )

    # --- HTTP -------------------------------------------------------------------------

    def _call(self, method: str, *, json: Any = None, content: bytes | None = None, params=None,
              xml: bool = False) -> httpx.Response:
        url = f"{self._api_url}/{PATHS[self.protocol, method]}"
        host = self.host
        try:
            if params is not None:
                response = self._http.get(url, params=params, headers=self._headers)
            elif xml:
                headers = {**self._headers, "content-type": "text/xml; charset=utf-8"}
                response = self._http.post(url, content=content, headers=headers)
            else:
                headers = {**self._headers, "content-type": "application/json; charset=utf-8"}
                body = _dumps(json)
                response = self._http.post(url, content=body, headers=headers)
        except (httpx.ConnectTimeout, httpx.PoolTimeout):
            raise TemporaryError(f"timed out connecting to {host}", method=method, maybe_done=False) from None
        except httpx.TimeoutException:
            raise TemporaryError(f"no answer from {host} in time", method=method, maybe_done=True) from None
        except (httpx.ConnectError, httpx.ProxyError) as exc:
            reason = redact(str(exc)) or type(exc).__name__
            raise TemporaryError(f"cannot connect to {host}: {reason}", method=method, maybe_done=False) from None
        except httpx.UnsupportedProtocol:
            raise PermanentError(f"unsupported scheme in CASCADE_API_URL for {host}; use https://", method=method) from None
        except httpx.HTTPError as exc:
            # a connection closed mid-answer: the request may have been done
            raise TemporaryError(
                f"connection to {host} failed mid-call ({type(exc).__name__})", method=method, maybe_done=True
            ) from None
        status = response.status_code
        if status == 429:
            raise RateLimited(f"HTTP 429 from {host}", method=method, retry_after=codes.REPEAT_SECONDS,
                              maybe_done=False)
        if status >= 500:
            raise TemporaryError(f"HTTP {status} from {host}", method=method, maybe_done=True)
        if status in (401, 403):
            raise codes.AuthError(f"HTTP {status} from {host}: the gateway refused the credentials", method=method)
        if status != 200:
            raise PermanentError(f"HTTP {status} from {host}: is CASCADE_API_URL right?", method=method)
        log.debug("cascade %s (%s): HTTP %s", method, self.protocol, status)
        return response

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise wire.Unreadable("the answer is not JSON") from None

    def _decode(self, method: str, read):
        """``read()``'s result; its WireError and Unreadable as ProviderErrors."""
        try:
            return read()
        except wire.WireError as exc:
            raise codes.request_error(exc.text, method=method, sending=method == "send",
                                      repeat_seconds=self.repeat_seconds) from None
        except wire.Unreadable as exc:
            raise TemporaryError(f"the answer from {self.host} cannot be read: {redact(str(exc))}", method=method,
                                 maybe_done=True) from None


def _dumps(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


__all__ = ["CascadeClient", "Message", "PhoneAnswer", "State", "PROTOCOLS", "ProviderError"]
