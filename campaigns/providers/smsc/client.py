"""SmscClient: send.php, status.php, get.php (history) and balance.php over one httpx.Client.

    POST {api_url}/sys/{script}.php   form body: login+psw or apikey, fmt=3, charset=utf-8, …
    -> JSON; an error is {"error": "…", "error_code": N} (seed 003; PROVIDERS.md)

The credentials travel in the POST body, never in a URL, so httpx's request log and
every exception name only the host. They are registered with ``campaigns.redact`` too,
so an echo of them in an answer is masked.

Transport failures (all TemporaryError):
    connect error / connect or pool timeout   maybe_done False (the request never left)
    read/write timeout, broken connection     maybe_done True  (it may have been done)
    HTTP 5xx, a body that is not JSON         maybe_done True
    HTTP 429                                  RateLimited
Error codes: see ``codes``. The official smsc_api.py retries a send on mirror hosts
after any exception and has no timeout (PROVIDERS.md); this client does neither: one
request, bounded by the timeout, and the caller reconciles before anything is resent.

With a ``limiter``, every request holds one of SMSC_MAX_CONCURRENT places shared by every
worker (SMSC answers 9 to 15+ concurrent requests under one login), and history pages are
paced to 3 identical a minute and 30 an hour (seed 003). Neither ever waits: a full
limiter raises RateLimited with the seconds to wait.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterator, Sequence
from urllib.parse import urlsplit

import httpx

from campaigns.pacing.limiter import Hold, Limiter, account_key
from campaigns.pacing.policy import SMSC_HISTORY_HOURLY, SMSC_HISTORY_IDENTICAL, SMSC_MAX_CONCURRENT
from campaigns.providers.errors import PermanentError, RateLimited, TemporaryError
from campaigns.log_redaction import install_on_loggers
from campaigns.providers.smsc import codes
from campaigns.redact import redact, register_secret

log = logging.getLogger("campaigns.providers.smsc")

DEFAULT_API_URL = "https://smsc.kz"
MAX_TEXT = 1000  # send.php: "mes – текст сообщения (до 1000 символов)" (PROVIDERS.md)
MAX_ID = 40  # send.php: "id – до 40 символов латинских букв, цифр и символов '.', '-', '_'"
MAX_HISTORY_PAGE = 1000  # get.php: "cnt … Максимальное значение равно 1000" (seed 003)
STATUS_BATCH = 100  # pairs per status.php call, keeping the body small
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")


@dataclass(frozen=True)
class PhoneResult:
    """One phone of a send (op=1): ``error`` 0 when it was accepted, else SMSC's code."""

    phone: str
    error: int = 0
    cost: str | None = None


@dataclass(frozen=True)
class SendResult:
    """send.php's answer: ``error_code`` is 7 or 8 when no phone could be sent to (the
    answer still carries the id), else 0 and ``phones`` says what became of each."""

    id: str
    count: int
    phones: list[PhoneResult] = field(default_factory=list)
    error_code: int = 0
    error: str = ""


@dataclass(frozen=True)
class MessageState:
    """status.php's answer for one (id, phone): ``status`` is SMSC's code (-3 not found)."""

    id: str
    phone: str
    status: int
    error: int = 0
    changed_at: int | None = None

    @property
    def found(self) -> bool:
        return self.status != codes.NOT_FOUND


@dataclass(frozen=True)
class HistoryItem:
    """One sent message from get.php?get_messages=1 (seed 003)."""

    int_id: int
    id: str
    phone: str
    status: int
    message: str = ""
    send_timestamp: int | None = None
    raw: dict = field(default_factory=dict, repr=False)


def valid_request_id(value: str) -> bool:
    """True for an id send.php accepts: 1..40 characters of [A-Za-z0-9.-_]."""
    return 0 < len(value) <= MAX_ID and all(ch in _ID_CHARS for ch in value)


def normalize_api_url(api_url: str) -> str:
    """``scheme://host[:port]`` from SMSC_API_URL (https when the scheme is missing).
    Raises ValueError for a URL with a path, query or credentials."""
    text = (api_url or "").strip().rstrip("/")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"SMSC_API_URL must be http(s)://host, e.g. https://smsc.kz; got {redact(text)!r}")
    if parts.path not in ("", "/sys") or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"SMSC_API_URL must be the scheme and host only, e.g. https://smsc.kz; got {redact(text)!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


class SmscClient:
    """One SMSC account. Methods raise ``campaigns.providers.errors``; ``close()`` closes
    the httpx.Client."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        login: str | None = None,
        password: str | None = None,
        api_key: str | None = None,
        api_url: str = DEFAULT_API_URL,
        limiter: Limiter | None = None,
        max_concurrent: int = SMSC_MAX_CONCURRENT,
        hold_ttl: float = 60.0,
    ):
        if api_key:
            self._auth = {"apikey": api_key}
        elif login and password:
            self._auth = {"login": login, "psw": password}
        else:
            raise ValueError("SMSC credentials are missing: set SMSC_LOGIN and SMSC_PASSWORD, or SMSC_API_KEY")
        register_secret(password)
        register_secret(api_key)
        install_on_loggers()
        self._http = http
        self._api_url = normalize_api_url(api_url)
        self._limiter = limiter
        self._max_concurrent = max_concurrent
        self._hold_ttl = hold_ttl
        # the pacing keys name the account by a hash, never by its secret
        self.account = account_key(login, password, api_key, self._api_url)

    @property
    def host(self) -> str:
        return urlsplit(self._api_url).netloc

    def __repr__(self) -> str:
        return f"SmscClient(api_url={self._api_url!r})"

    def close(self) -> None:
        self._http.close()

    # --- send.php -------------------------------------------------------------------

    def send(
        self,
        *,
        id: str,
        text: str | None = None,
        phones: Sequence[str] = (),
        messages: Sequence[tuple[str, str]] = (),
        sender: str | None = None,
        valid_minutes: int | None = None,
    ) -> SendResult:
        """Send ``text`` to ``phones`` in one request, or per-recipient texts
        (``messages`` of (phone, text), sent as ``list``), under the request ``id``.

        Returns a SendResult (errors 7 and 8 included: they are recipient outcomes).
        Raises ValueError for arguments SMSC would refuse, ``codes.Flood`` for error 9,
        AuthError, PermanentError, RateLimited or TemporaryError.
        """
        if not valid_request_id(id):
            raise ValueError(f"an SMSC request id is 1..{MAX_ID} characters of [A-Za-z0-9.-_], got {id!r}")
        form: dict[str, str] = {"id": id, "op": "1"}
        if messages:
            if phones or text is not None:
                raise ValueError("give either phones and text, or messages")
            for phone, body in messages:
                _check_text(body)
            # "list": one "phones:message" per line; a line break inside a message is
            # written as \n
            form["list"] = "\n".join(f"{_digits(p)}:{_one_line(body)}" for p, body in messages)
        else:
            if not phones or text is None:
                raise ValueError("give phones and text, or messages")
            _check_text(text)
            form["phones"] = ",".join(_digits(p) for p in phones)
            form["mes"] = text
        if sender:
            form["sender"] = sender
        if valid_minutes:
            # "valid – срок жизни сообщения … в формате чч:мм"
            form["valid"] = f"{valid_minutes // 60:02d}:{valid_minutes % 60:02d}"
        body = self._call("send", form)
        error_code = _int(body.get("error_code"))
        if error_code:
            if error_code not in codes.RECIPIENT_CODES:
                raise codes.send_error(error_code, str(body.get("error") or ""))
            return SendResult(
                id=str(body.get("id") or id), count=0, phones=_phone_results(body),
                error_code=error_code, error=redact(str(body.get("error") or "")),
            )
        return SendResult(id=str(body.get("id") or id), count=_int(body.get("cnt")), phones=_phone_results(body))

    # --- status.php -----------------------------------------------------------------

    def status(self, pairs: Sequence[tuple[str, str]]) -> list[MessageState]:
        """The status of each (request id, phone), in order, ``STATUS_BATCH`` pairs a call.
        A pair SMSC does not know comes back with status -3. Raises ProviderError."""
        states: list[MessageState] = []
        for start in range(0, len(pairs), STATUS_BATCH):
            states.extend(self._status_batch(list(pairs[start : start + STATUS_BATCH])))
        return states

    def _status_batch(self, pairs: list[tuple[str, str]]) -> list[MessageState]:
        form = {"id": ",".join(i for i, _ in pairs), "phone": ",".join(_digits(p) for _, p in pairs)}
        body = self._call("status", form, error_as_data=True)
        if isinstance(body, dict) and "error_code" in body:
            code = _int(body.get("error_code"))
            if code == 3:  # "message not found": for a single pair, not an error
                return [MessageState(i, _digits(p), codes.NOT_FOUND) for i, p in pairs]
            raise codes.read_error(code, str(body.get("error") or ""), method="status")
        items = body if isinstance(body, list) else [body]
        by_pair: dict[tuple[str, str], dict] = {}
        for item in items:
            if isinstance(item, dict) and "id" in item and "phone" in item:
                by_pair[(str(item["id"]), _digits(str(item["phone"])))] = item
        states = []
        for position, (request_id, phone) in enumerate(pairs):
            item = by_pair.get((request_id, _digits(phone)))
            if item is None and len(items) == len(pairs) and isinstance(items[position], dict):
                item = items[position]  # answers without id/phone come back in request order
            if item is None:
                states.append(MessageState(request_id, _digits(phone), codes.NOT_FOUND))
                continue
            status = _int(item.get("status"), codes.NOT_FOUND)
            if "error_code" in item:
                status = codes.NOT_FOUND
            states.append(
                MessageState(
                    request_id, _digits(phone), status, error=_int(item.get("err")),
                    changed_at=_int(item.get("last_timestamp"), 0) or None,
                )
            )
        return states

    # --- get.php?get_messages=1 (seed 003) --------------------------------------------

    def history(
        self,
        *,
        phones: Sequence[str] = (),
        start: date | None = None,
        end: date | None = None,
        count: int = MAX_HISTORY_PAGE,
        prev_id: int | None = None,
    ) -> list[HistoryItem]:
        """One page of sent messages, newest first: at most ``count`` (≤ 1000), before
        ``prev_id`` when given. Paced by the limiter (3 identical a minute, 30 an hour:
        RateLimited when over). Raises ProviderError."""
        if not 1 <= count <= MAX_HISTORY_PAGE:
            raise ValueError(f"a history page holds 1..{MAX_HISTORY_PAGE} messages, got {count}")
        form = {"get_messages": "1", "cnt": str(count)}
        if phones:
            form["phone"] = ",".join(_digits(p) for p in phones)
        if start is not None:
            form["start"] = start.strftime("%d.%m.%Y")
        if end is not None:
            form["end"] = end.strftime("%d.%m.%Y")
        if prev_id is not None:
            form["prev_id"] = str(prev_id)
        self._pace_history(form)
        body = self._call("get", form, error_as_data=True)
        if isinstance(body, dict) and "error_code" in body:
            code = _int(body.get("error_code"))
            if code == 3:  # nothing sent in the period
                return []
            raise codes.read_error(code, str(body.get("error") or ""), method="history")
        items = body if isinstance(body, list) else []
        return [
            HistoryItem(
                int_id=_int(item.get("int_id")), id=str(item.get("id") or ""), phone=_digits(str(item.get("phone") or "")),
                status=_int(item.get("status"), codes.NOT_FOUND), message=str(item.get("message") or ""),
                send_timestamp=_int(item.get("send_timestamp"), 0) or None, raw=item,
            )
            for item in items
            if isinstance(item, dict)
        ]

    def iter_history(self, *, page: int = MAX_HISTORY_PAGE, **criteria) -> Iterator[HistoryItem]:
        """Every sent message matching ``criteria`` (see ``history``), newest first,
        paging with ``prev_id`` (the last page's smallest int_id) until a short page.
        Each page counts against the history limits; RateLimited stops the iteration."""
        prev_id = None
        while True:
            items = self.history(count=page, prev_id=prev_id, **criteria)
            yield from items
            if len(items) < page:
                return
            prev_id = min(item.int_id for item in items)

    def _pace_history(self, form: dict[str, str]) -> None:
        if self._limiter is None:
            return
        digest = hashlib.sha256(json.dumps(form, sort_keys=True).encode()).hexdigest()[:16]
        # identical first: a refusal there must not spend one of the hour's thirty
        for key, policy in (
            (f"smsc:{self.account}:history:{digest}", SMSC_HISTORY_IDENTICAL),
            (f"smsc:{self.account}:history", SMSC_HISTORY_HOURLY),
        ):
            wait = self._limiter.acquire(key, policy)
            if wait:
                raise RateLimited(
                    "SMSC history is limited to 3 identical requests a minute and 30 an hour (seed 003)",
                    method="history", retry_after=wait,
                )

    # --- balance.php ----------------------------------------------------------------

    def balance(self) -> str:
        """The account's balance as SMSC writes it; a cheap call that proves the
        credentials. Raises ProviderError."""
        body = self._call("balance", {}, error_as_data=True)
        if isinstance(body, dict) and "error_code" in body:
            raise codes.read_error(_int(body.get("error_code")), str(body.get("error") or ""), method="balance")
        if not isinstance(body, dict) or "balance" not in body:
            raise TemporaryError(f"the answer from {self.host} has no balance", method="balance")
        return str(body["balance"])

    # --- HTTP -----------------------------------------------------------------------

    def _call(self, script: str, form: dict[str, str], *, error_as_data: bool = False) -> Any:
        """POST one request and return its decoded JSON. Raises ProviderError."""
        hold = self._hold(script)
        try:
            response = self._post(script, form)
        finally:
            if isinstance(hold, Hold):
                hold.release()
        return self._decode(script, response)

    def _hold(self, script: str) -> Hold | None:
        if self._limiter is None:
            return None
        place = self._limiter.hold(f"smsc:{self.account}:requests", self._max_concurrent, ttl=self._hold_ttl)
        if isinstance(place, Hold):
            return place
        # places free up as soon as a request ends; the ttl only bounds a dead worker's
        raise RateLimited(
            f"{self._max_concurrent} requests to SMSC are already under way (SMSC refuses 15 at once)",
            method=script, retry_after=min(place, 1.0),
        )

    def _post(self, script: str, form: dict[str, str]) -> httpx.Response:
        data = {**self._auth, **form, "fmt": "3", "charset": "utf-8"}
        host = self.host
        try:
            return self._http.post(f"{self._api_url}/sys/{script}.php", data=data)
        except (httpx.ConnectTimeout, httpx.PoolTimeout):
            raise TemporaryError(f"timed out connecting to {host}", method=script, maybe_done=False) from None
        except httpx.TimeoutException:
            raise TemporaryError(f"no answer from {host} in time", method=script, maybe_done=True) from None
        except (httpx.ConnectError, httpx.ProxyError) as exc:
            reason = redact(str(exc)) or type(exc).__name__
            raise TemporaryError(f"cannot connect to {host}: {reason}", method=script, maybe_done=False) from None
        except httpx.UnsupportedProtocol:
            raise PermanentError(f"unsupported scheme in SMSC_API_URL for {host}; use https://", method=script) from None
        except httpx.HTTPError as exc:
            # a connection closed mid-answer: the request may have been done (PROVIDERS.md)
            raise TemporaryError(
                f"connection to {host} failed mid-call ({type(exc).__name__})", method=script, maybe_done=True
            ) from None

    def _decode(self, script: str, response: httpx.Response) -> Any:
        status = response.status_code
        if status == 429:
            raise RateLimited(f"HTTP 429 from {self.host}", method=script, retry_after=codes.FLOOD_RETRY_AFTER)
        if status >= 500:
            raise TemporaryError(f"HTTP {status} from {self.host}", method=script, maybe_done=True)
        try:
            body = response.json()
        except ValueError:
            body = None
        if status != 200 or not isinstance(body, (dict, list)):
            if status != 200:
                raise PermanentError(f"HTTP {status} from {self.host}: is SMSC_API_URL right?", method=script)
            snippet = redact(response.text[:120].replace("\n", " ").strip()) or "an empty body"
            raise TemporaryError(f"the answer from {self.host} is not JSON: {snippet}", method=script, maybe_done=True)
        log.debug("smsc %s: HTTP %s", script, status)
        return body


def _check_text(text: str) -> None:
    if not text.strip():
        raise ValueError("an SMSC message cannot be empty")
    if len(text) > MAX_TEXT:
        raise ValueError(f"an SMSC message holds at most {MAX_TEXT} characters, this one has {len(text)}")


def _one_line(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")


def _phone_results(body: dict) -> list[PhoneResult]:
    """op=1's per-phone list: a non-zero ``error`` is the phone's send.php code (7, 8);
    a text there instead of a code still means the phone was refused."""
    results = []
    for item in body.get("phones") or []:
        if not isinstance(item, dict):
            continue
        raw = str(item.get("error") or "").strip()
        error = _int(raw) if raw.lstrip("-").isdigit() else (8 if raw else 0)
        results.append(PhoneResult(_digits(str(item.get("phone") or "")), error, item.get("cost")))
    return results
