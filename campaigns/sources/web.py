"""A recipient file behind an ``https://`` URL (or ``http://`` on this machine), through httpx.

Plain ``http://`` is accepted only for a loopback host (``localhost``, ``127.0.0.0/8``,
``::1``): tests and local tools. Anywhere else it would carry the file, and any
``Authorization`` header, in clear, so it is refused; a redirect is checked the same way.

The body is streamed to disk and the download stops as soon as it passes
``settings.max_file_bytes`` (a ``Content-Length`` above the limit is refused before any
of the body is read). Request headers go only to the URL's own origin: a redirect to
another host, port or scheme gets none of them. Their values never appear in a message.
"""

from __future__ import annotations

import errno
import ipaddress
from pathlib import Path
from typing import Mapping

import httpx

from campaigns.sources.errors import SourceError, too_large

_CHUNK_BYTES = 64 * 1024
_MAX_REDIRECTS = 5


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: httpx.URL, shown: str) -> None:
    """Raises SourceError unless ``url`` is https, or http on a loopback host."""
    if url.scheme == "https" or (url.scheme == "http" and is_loopback(url.host)):
        return
    if url.scheme == "http":
        raise SourceError(shown, f"plain http is refused for {url.host} (only for this machine): use https")
    raise SourceError(shown, f"a redirect to an unsupported scheme ({url.scheme}) is refused")


def download(
    url: str, dest: Path, settings, shown: str, *, headers: Mapping[str, str] | None = None
) -> int:
    """Stream ``url`` into the file ``dest`` and return the bytes written.

    Raises SourceError: refused scheme, HTTP status other than 2xx (temporary for 408,
    429 and 5xx), a body over ``settings.max_file_bytes``, too many redirects, and
    (temporary) timeouts and network failures.
    """
    headers = dict(headers or {})
    secrets = [value for value in headers.values() if value]
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise SourceError(shown, f"not a valid URL ({_scrub(str(exc), secrets)})") from None
    check_url(target, shown)
    origin = (target.scheme, target.host, target.port)

    def before_each_request(request: httpx.Request) -> None:
        check_url(request.url, shown)
        if (request.url.scheme, request.url.host, request.url.port) != origin:
            for name in headers:  # httpx drops only Authorization across origins; drop them all
                request.headers.pop(name, None)

    timeout = httpx.Timeout(settings.http_timeout, connect=settings.http_connect_timeout)
    try:
        with httpx.Client(
            timeout=timeout, follow_redirects=True, max_redirects=_MAX_REDIRECTS,
            event_hooks={"request": [before_each_request]},
        ) as client, client.stream("GET", target, headers=headers) as response:
            _check_response(response, settings.max_file_bytes, shown)
            return _save(response, dest, settings.max_file_bytes, shown)
    except SourceError:
        raise
    except httpx.TooManyRedirects:
        raise SourceError(shown, f"more than {_MAX_REDIRECTS} redirects") from None
    except httpx.TimeoutException as exc:
        raise SourceError(
            shown, f"timed out ({type(exc).__name__}); temporary, try again later", temporary=True
        ) from None
    except httpx.LocalProtocolError:
        # h11 quotes the offending header, escaped: no scrubbing would be sure to catch it
        raise SourceError(shown, "the request cannot be sent (a header name or value is invalid)") from None
    except (httpx.UnsupportedProtocol, httpx.DecodingError) as exc:
        raise SourceError(shown, f"cannot be fetched: {_scrub(str(exc), secrets)}") from None
    except httpx.TransportError as exc:  # connection refused or reset, DNS, proxy, a broken reply
        raise SourceError(
            shown, f"network failure ({type(exc).__name__}: {_scrub(str(exc), secrets)}); "
            "temporary, try again later",
            temporary=True,
        ) from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise SourceError(shown, f"cannot be fetched: {_scrub(str(exc), secrets)}") from None


def _check_response(response: httpx.Response, limit: int, shown: str) -> None:
    status = response.status_code
    if not 200 <= status < 300:
        reason = f"HTTP {status} {response.reason_phrase}".strip()
        if status in (404, 410):
            raise SourceError(shown, f"not found ({reason})")
        if status in (401, 403):
            raise SourceError(shown, f"access denied ({reason})")
        if status in (408, 429) or status >= 500:
            raise SourceError(shown, f"server failed ({reason}); temporary, try again later", temporary=True)
        raise SourceError(shown, f"refused by the server ({reason})")
    announced = response.headers.get("content-length", "")
    # with Content-Encoding the announced size is the compressed one; the stream decides
    if announced.isdigit() and "content-encoding" not in response.headers and int(announced) > limit:
        raise SourceError(shown, too_large(limit, int(announced)))


def _save(response: httpx.Response, dest: Path, limit: int, shown: str) -> int:
    written = 0
    with open(dest, "wb") as file:
        for chunk in response.iter_bytes(_CHUNK_BYTES):
            written += len(chunk)
            if written > limit:  # stop now: the rest of the body is never read
                raise SourceError(shown, too_large(limit))
            try:
                file.write(chunk)
            except OSError as exc:
                raise SourceError(
                    shown, f"cannot write the download into the work folder: {exc.strerror}",
                    temporary=exc.errno == errno.ENOSPC,
                ) from None
    return written


def _scrub(text: str, secrets: list[str]) -> str:
    """``text`` without any request header value in it (httpx and h11 quote bad headers)."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
