"""One Mobizon API call: the URL with the key, the POST, the envelope, and every failure
translated into ``campaigns.providers.errors`` in this one place.

    POST {api_url}/service/{module}/{method}?output=json&api=v1&apiKey=KEY
    content-type: application/x-www-form-urlencoded       (PROVIDERS.md, Transport)
    -> HTTP 200 {"code": N, "data": …, "message": "…"}

Transport failures (all TemporaryError unless said otherwise):
    connect error / connect or pool timeout   maybe_done False (the request never left)
    read/write timeout, broken connection     maybe_done True  (it may have been done)
    HTTP 5xx, body not JSON, no envelope      maybe_done True
    HTTP 429                                  RateLimited (Retry-After honoured)
    HTTP 401/403 without envelope             AuthError
    other HTTP 3xx/4xx without envelope       PermanentError (the API URL is wrong)
Envelope codes: see ``codes``. Code 13 (wrong API domain) switches to the domain its
``data`` names (keeping the scheme) and retries once.

The key never leaves this module except inside the request's URL: messages name the
method and the host, never a URL; the httpx loggers are filtered (``campaigns.log_redaction``).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

import httpx

from campaigns.providers.errors import AuthError, PermanentError, RateLimited, TemporaryError
from campaigns.providers.mobizon import codes
from campaigns.log_redaction import install_on_loggers
from campaigns.redact import redact, register_secret

log = logging.getLogger("campaigns.providers.mobizon")

DEFAULT_API_URL = "https://api.mobizon.kz"
MIN_SECRET_LENGTH = 12  # Mobizon's keys are 40 characters
HEADERS = {
    "content-type": "application/x-www-form-urlencoded",
    "accept": "application/json",
    "cache-control": "no-cache",
}
# The documented API domains (PROVIDERS.md, Transport): code 13 may only send the key to
# one of these, or to another port of the same host (a simulator), never to any host it names.
MOBIZON_API_HOSTS = frozenset(
    {"api.mobizon.kz", "api.mobizon.uz", "api.mobizon.com.br", "api.mobizon.ua", "api.mobizon.com"}
)
_NETLOC = re.compile(r"[A-Za-z0-9.-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class Answer:
    """A Mobizon envelope whose code is data, not an error: 0, 98, 99 or 100."""

    code: int
    data: Any
    message: str


def normalize_api_url(api_url: str) -> str:
    """``scheme://host[:port]`` from a configured API URL (a missing scheme means https).

    Raises ValueError for a URL with a path, a query, credentials or an odd scheme.
    """
    text = (api_url or "").strip().rstrip("/")
    if not text:
        raise ValueError("the Mobizon API URL is empty; it is the scheme and host, e.g. https://api.mobizon.kz")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"the Mobizon API URL must be http(s)://host, e.g. https://api.mobizon.kz; got {redact(text)!r}"
        )
    if parts.path or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(
            "the Mobizon API URL must be the scheme and host only (the client adds /service/…), "
            f"e.g. https://api.mobizon.kz; got {redact(text)!r}"
        )
    return f"{parts.scheme}://{parts.netloc}"


def _retry_after(response: httpx.Response, default: float = 1.0) -> float:
    raw = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return default


def _snippet(response: httpx.Response) -> str:
    text = response.text[:120].replace("\n", " ").strip()
    return redact(text) or "an empty body"


class MobizonTransport:
    """Sends one call and returns its ``Answer`` or raises a ProviderError."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        api_key: str,
        api_url: str = DEFAULT_API_URL,
        timeout: httpx.Timeout | None = None,
        on_domain_change: Callable[[str], None] | None = None,
    ):
        if not api_key or not api_key.strip():
            raise ValueError("a Mobizon API key is required (MOBIZON_API_KEY)")
        if len(api_key) >= MIN_SECRET_LENGTH:
            # Masked wherever it appears from now on. Shorter keys are placeholders such as
            # the simulator's "sandbox", which must not turn every "sandbox" into "***".
            register_secret(api_key)
        install_on_loggers()
        self._http = http
        self._api_key = api_key
        self._api_url = normalize_api_url(api_url)
        self._timeout = timeout
        self._on_domain_change = on_domain_change

    @property
    def api_url(self) -> str:
        return self._api_url

    @property
    def host(self) -> str:
        return urlsplit(self._api_url).netloc

    def __repr__(self) -> str:
        return f"MobizonTransport(api_url={self._api_url!r})"

    def close(self) -> None:
        self._http.close()

    def call(
        self,
        module: str,
        method: str,
        *,
        body: bytes = b"",
        multipart: Callable[[], dict[str, Any]] | None = None,
    ) -> Answer:
        """POST one call and return its envelope when the code is 0, 98, 99 or 100.

        ``body`` is the form body; ``multipart`` builds ``data``/``files`` arguments for
        an upload instead (called again for the retry after a domain switch).
        Raises TemporaryError, RateLimited, PermanentError or AuthError.
        """
        name = f"{module}/{method}"
        for attempt in (1, 2):
            started = time.monotonic()
            response = self._post(name, module, method, body, multipart)
            code, data, message = self._envelope(name, response)
            log.debug("mobizon %s: code %s in %.3fs", name, code, time.monotonic() - started)
            if code == codes.WRONG_DOMAIN:
                if attempt == 2:
                    raise PermanentError(
                        f"the API domain is still wrong after switching to {self.host}; "
                        "set MOBIZON_API_URL to the account's domain",
                        code=code,
                        method=name,
                        data=redact(str(data)),
                    )
                self._switch_domain(name, data)
                continue
            if code in codes.DATA_CODES:
                return Answer(code=code, data=data, message=message)
            raise codes.error_for(code, message, data, method=name, retry_after=_retry_after(response))
        raise AssertionError("unreachable")

    # --- HTTP -----------------------------------------------------------------------

    def _post(
        self, name: str, module: str, method: str, body: bytes, multipart: Callable[[], dict[str, Any]] | None
    ) -> httpx.Response:
        url = f"{self._api_url}/service/{module}/{method}"
        params = {"output": "json", "api": "v1", "apiKey": self._api_key}
        kwargs: dict[str, Any] = {"params": params}
        if self._timeout is not None:
            kwargs["timeout"] = self._timeout
        if multipart is not None:
            kwargs.update(multipart())
            kwargs["headers"] = {k: v for k, v in HEADERS.items() if k != "content-type"}
        else:
            kwargs["content"] = body
            kwargs["headers"] = HEADERS
        host = self.host
        # `from None`: httpx's exceptions carry the request, whose URL holds the key.
        try:
            return self._http.post(url, **kwargs)
        except (httpx.ConnectTimeout, httpx.PoolTimeout):
            raise TemporaryError(f"timed out connecting to {host}", method=name, maybe_done=False) from None
        except httpx.TimeoutException:
            raise TemporaryError(f"no answer from {host} in time", method=name, maybe_done=True) from None
        except (httpx.ConnectError, httpx.ProxyError) as exc:
            reason = redact(str(exc)) or type(exc).__name__
            raise TemporaryError(f"cannot connect to {host}: {reason}", method=name, maybe_done=False) from None
        except httpx.UnsupportedProtocol:
            raise PermanentError(
                f"unsupported scheme in the API URL for {host}; use https://", method=name
            ) from None
        except httpx.HTTPError as exc:
            # Read/write errors, a connection closed mid-answer, an undecodable body: the
            # request may have been processed (PROVIDERS.md: lost responses are normal).
            reason = redact(str(exc)) or type(exc).__name__
            raise TemporaryError(
                f"connection to {host} failed mid-call ({type(exc).__name__}: {reason})", method=name, maybe_done=True
            ) from None

    def _envelope(self, name: str, response: httpx.Response) -> tuple[int, Any, str]:
        status = response.status_code
        if status == 429:
            raise RateLimited(f"HTTP 429 from {self.host}", method=name, retry_after=_retry_after(response))
        if status >= 500:
            raise TemporaryError(f"HTTP {status} from {self.host}", method=name, maybe_done=True)
        try:
            body = response.json()
        except ValueError:
            body = None
        code = codes_to_int(body.get("code")) if isinstance(body, dict) else None
        if code is None:
            if status in (401, 403):
                raise AuthError(f"HTTP {status} from {self.host}: the API key was refused", method=name)
            if status != 200:
                raise PermanentError(
                    f"HTTP {status} from {self.host}: is MOBIZON_API_URL the account's API domain?", method=name
                )
            raise TemporaryError(
                f"the answer from {self.host} is not a Mobizon envelope: {_snippet(response)}",
                method=name,
                maybe_done=True,
            )
        message = body.get("message")
        return code, body.get("data"), message if isinstance(message, str) else ""

    # --- code 13 --------------------------------------------------------------------

    def _switch_domain(self, name: str, data: Any) -> None:
        """Follow code 13 to the domain its ``data`` names (PROVIDERS.md: "follow it once
        and remember it"), keeping the scheme. Raises PermanentError when ``data`` names
        no domain or one that is not Mobizon's."""
        netloc = _domain_in(data)
        if netloc is None:
            raise PermanentError(
                "wrong API domain for this account, and the answer names no other; set MOBIZON_API_URL",
                code=codes.WRONG_DOMAIN,
                method=name,
            )
        if not self._trusted(netloc):
            raise PermanentError(
                f"wrong API domain for this account; the answer names {netloc}, which is not a Mobizon API domain, "
                "so the key was not sent there; set MOBIZON_API_URL if it is right",
                code=codes.WRONG_DOMAIN,
                method=name,
                data=netloc,
            )
        old = self.host
        scheme = urlsplit(self._api_url).scheme
        self._api_url = f"{scheme}://{netloc}"
        log.warning("Mobizon: %s answered 'wrong API domain'; switching from %s to %s", name, old, netloc)
        if self._on_domain_change is not None:
            self._on_domain_change(self._api_url)

    def _trusted(self, netloc: str) -> bool:
        host = urlsplit(f"//{netloc}").hostname or ""
        current = urlsplit(self._api_url).hostname or ""
        if host in MOBIZON_API_HOSTS:
            return True
        return host == current or (host in _LOOPBACK and current in _LOOPBACK)


def codes_to_int(value: Any) -> int | None:
    """An envelope code that may arrive as ``0`` or ``"0"``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _domain_in(data: Any) -> str | None:
    """The ``host[:port]`` code 13's data names: ``"api.mobizon.uz"``,
    ``"https://api.mobizon.uz"``, or an object holding either."""
    if isinstance(data, dict):
        candidates = [v for v in data.values() if isinstance(v, str)]
    elif isinstance(data, list):
        candidates = [v for v in data if isinstance(v, str)]
    else:
        candidates = [data] if isinstance(data, str) else []
    for candidate in candidates:
        text = candidate.strip()
        netloc = urlsplit(text).netloc if "://" in text else text.split("/")[0]
        if netloc and _NETLOC.fullmatch(netloc):
            return netloc.lower()
    return None
