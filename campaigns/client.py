"""A Python client of the HTTP API (``campaigns serve``), on httpx.

    with CampaignsClient("http://127.0.0.1:8000", token) as api:
        campaign = api.submit("customers.csv", text="Hello {name}", country="KZ")
        final = api.wait(campaign["id"], timeout=600)
        api.report(campaign["id"], "report.xlsx")

Errors, drawn once::

    CampaignsError (status, detail, problem)
    ├── AuthError     401, 403: no token, an unknown or revoked one, or too small a scope
    ├── NotFound      404: no campaign with this id
    ├── Refused       422: the request, its options or its file are refused
    └── Unavailable   status None: the server could not be reached or did not answer,
                      after the retries

Retries. ``submit`` sends an ``Idempotency-Key`` (a new uuid4 unless given), so a retry of
a request the server already did returns the first campaign (200) instead of making a
second one: it retries connection errors, timeouts, 502/503/504, 429 and the 409 the
server answers while the first request with the key is still running, waiting the
``Retry-After`` when one is given, else an exponential backoff with jitter. GET calls
retry the same way. ``cancel`` and ``resume`` are not idempotent by key: they retry only
when the connection could not be made, i.e. nothing was sent.

A file to submit is streamed from disk, never read whole into memory. A path is opened
again for each attempt; a file object is sought back to where it stood when ``submit``
was called, and when it cannot seek, a failure after its first bytes were read is not
retried (they cannot be sent again).

No message of an error holds the token.
"""

from __future__ import annotations

import email.utils
import os
import random
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Union

import httpx

__all__ = ["CampaignsClient", "CampaignsError", "AuthError", "NotFound", "Refused", "Unavailable", "Retries",
           "FINAL_STATES"]

FINAL_STATES = frozenset({"done", "failed", "paused", "cancelled"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# An upload's answer comes after the server read, checked and stored the whole file.
SUBMIT_READ_TIMEOUT = 600.0
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
CHUNK = 64 * 1024
FileSource = Union[str, os.PathLike, IO[bytes]]


class CampaignsError(Exception):
    """An error answer of the API (``status``, its ``detail`` and the whole problem
    document), or ``status`` None when no answer came (see Unavailable)."""

    def __init__(self, status: int | None, detail: str, problem: dict | None = None):
        super().__init__(f"{status} {detail}" if status is not None else detail)
        self.status = status
        self.detail = detail
        self.problem = problem or {}


class AuthError(CampaignsError):
    """401 (no token, or an unknown or revoked one) or 403 (the scope does not allow it)."""


class NotFound(CampaignsError):
    """404: no such campaign."""


class Refused(CampaignsError):
    """422: the request, its options or its recipient file are refused; ``problem["errors"]``
    names the fields."""


class Unavailable(CampaignsError):
    """No answer: the connection failed or timed out, after the retries."""


@dataclass(frozen=True)
class Retries:
    """How transient failures are retried: at most ``attempts`` tries in all, waiting
    ``backoff * 2**n`` (with jitter, at most ``max_delay``) between them, or the server's
    Retry-After (at most ``max_delay``)."""

    attempts: int = 5
    backoff: float = 0.5
    max_delay: float = 30.0

    def delay(self, failed: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the ``failed``-th failed try (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        ceiling = min(self.backoff * (2 ** (failed - 1)), self.max_delay)
        return random.uniform(ceiling / 2, ceiling)


class _Once:
    """A non-seekable file object, read forward once; remembers whether it was read."""

    def __init__(self, fh: IO[bytes]):
        self._fh = fh
        self.touched = False

    def read(self, size: int = -1) -> bytes:
        self.touched = True
        return self._fh.read(size)


class _From:
    """A seekable file object from a start position on (httpx seeks file parts to 0)."""

    def __init__(self, fh: IO[bytes], start: int):
        self._fh = fh
        self._start = start

    def rewind(self) -> "_From":
        self._fh.seek(self._start)
        return self

    def read(self, size: int = -1) -> bytes:
        return self._fh.read(size)


class _Upload:
    """The file part of a submit, ready again for each attempt."""

    def __init__(self, source: FileSource):
        self._path: Path | None = None
        self._opened: IO[bytes] | None = None
        self._from: _From | None = None
        self._once: _Once | None = None
        if isinstance(source, (str, os.PathLike)):
            self._path = Path(source)
            self.name = self._path.name
        else:
            self.name = os.path.basename(str(getattr(source, "name", "") or "")) or "upload"
            try:
                seekable = source.seekable()
            except (AttributeError, OSError, ValueError):
                seekable = False
            if seekable:
                self._from = _From(source, source.tell())
            else:
                self._once = _Once(source)

    def part(self):
        """The file object for the next attempt."""
        if self._path is not None:
            self.close()
            self._opened = self._path.open("rb")
            return self._opened
        if self._from is not None:
            return self._from.rewind()
        return self._once

    @property
    def replayable(self) -> bool:
        """False once the bytes of a file that cannot seek were read."""
        return self._once is None or not self._once.touched

    def close(self) -> None:
        if self._opened is not None:
            self._opened.close()
            self._opened = None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _is_busy(response: httpx.Response) -> bool:
    """The 409 of an idempotency key whose first request is still running."""
    return response.status_code == 409 and "retry-after" in response.headers


class CampaignsClient:
    """The API at ``base_url`` with a bearer ``token``. ``timeout``: seconds or an
    ``httpx.Timeout`` for every request (a submit waits at least SUBMIT_READ_TIMEOUT for
    its answer); ``retries``: a number of attempts or a ``Retries``; ``transport``: an
    httpx transport (tests pass ``httpx.MockTransport``). A context manager; ``close()``."""

    def __init__(self, base_url: str, token: str, *, timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
                 retries: int | Retries = Retries(), transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self._token = token
        self._retries = retries if isinstance(retries, Retries) else Retries(attempts=max(int(retries), 1))
        self._sleep = sleep
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=self._timeout, transport=transport,
                                  headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})

    def __enter__(self) -> "CampaignsClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- campaigns ---------------------------------------------------------------------

    def submit(self, file: FileSource | None = None, *, recipients: list[dict] | None = None, text: str,
               name: str | None = None, provider: str | None = None, country: str | None = None,
               placeholders: str | None = None, sender: str | None = None, rate_limit: int | None = None,
               rate_period: int | None = None, deferred_to: str | None = None, validity: int | None = None,
               mclass: int | None = None, encoding: str | None = None, sheet: str | int | None = None,
               excel_engine: str | None = None, dry_run: bool = False, idempotency_key: str | None = None) -> dict:
        """Submit a campaign: a recipient ``file`` (a path or a binary file object, streamed
        as multipart) or ``recipients`` (a list of dicts with ``recipient`` and placeholder
        values, sent as JSON). Returns the campaign's status (the first campaign when the
        key was seen before), or with ``dry_run`` the validation report (nothing stored).
        Raises Refused (the file or options), AuthError, CampaignsError, Unavailable."""
        if (file is None) == (recipients is None):
            raise ValueError("give either file or recipients")
        options = {"text": text, "name": name, "provider": provider, "country": country,
                   "placeholders": placeholders, "sender": sender, "rate_limit": rate_limit,
                   "rate_period": rate_period, "deferred_to": deferred_to, "validity": validity, "mclass": mclass,
                   "encoding": encoding, "sheet": sheet, "excel_engine": excel_engine}
        options = {k: v for k, v in options.items() if v is not None}
        key = idempotency_key or str(uuid.uuid4())
        headers = {} if dry_run else {"Idempotency-Key": key}
        params = {"dry_run": "true"} if dry_run else {}
        timeout = httpx.Timeout(connect=self._timeout.connect, write=self._timeout.write, pool=self._timeout.pool,
                                read=max(self._timeout.read or 0, SUBMIT_READ_TIMEOUT))
        if recipients is not None:
            body = {**options, "recipients": recipients}
            return self._send("POST", "/v1/campaigns", "idempotent", params=params, headers=headers, json=body,
                              timeout=timeout).json()
        upload = _Upload(file)
        fields = {k: str(v) for k, v in options.items()}
        try:
            return self._send("POST", "/v1/campaigns", "idempotent", params=params, headers=headers, data=fields,
                              files=lambda: {"file": (upload.name, upload.part(), "application/octet-stream")},
                              replayable=lambda: upload.replayable, timeout=timeout).json()
        finally:
            upload.close()

    def get(self, campaign_id: int) -> dict:
        """The campaign's status. Raises NotFound."""
        return self._send("GET", f"/v1/campaigns/{int(campaign_id)}", "idempotent").json()

    def list(self, state: str | None = None, limit: int | None = None, *, page_size: int = 100) -> Iterator[dict]:
        """An iterator over every campaign (in ``state`` when given), newest first, fetching
        pages of ``page_size`` as it goes, following the cursors; at most ``limit`` in all."""
        params: dict[str, Any] = {"limit": min(page_size, limit or page_size, 500)}
        if state is not None:
            params["state"] = state
        return self._pages("/v1/campaigns", params, limit)

    def cancel(self, campaign_id: int) -> dict:
        """Cancel the campaign; its status after. Raises NotFound, CampaignsError (409: it
        cannot be cancelled)."""
        return self._send("POST", f"/v1/campaigns/{int(campaign_id)}/cancel", "unsent").json()

    def resume(self, campaign_id: int) -> dict:
        """Resume a paused campaign; its status after. Raises NotFound, CampaignsError (409)."""
        return self._send("POST", f"/v1/campaigns/{int(campaign_id)}/resume", "unsent").json()

    def recipients(self, campaign_id: int, status: str | None = None, *, page_size: int = 1000) -> Iterator[dict]:
        """An iterator over the campaign's ledger in row order (only ``status`` when given:
        valid, invalid, duplicate, added, rejected, delivered, undelivered, pending),
        following the cursors. Raises NotFound (on the first item)."""
        params: dict[str, Any] = {"limit": min(page_size, 1000)}
        if status is not None:
            params["status"] = status
        return self._pages(f"/v1/campaigns/{int(campaign_id)}/recipients", params, None)

    def report(self, campaign_id: int, path: str | os.PathLike) -> Path:
        """Download the report to ``path`` (CSV or XLSX by its suffix), streamed; the file
        appears whole or not at all (written beside it, then renamed). Returns the path.
        Raises ValueError for another suffix, NotFound."""
        target = Path(path)
        fmt = target.suffix.lower().lstrip(".")
        if fmt not in ("csv", "xlsx"):
            raise ValueError(f"the report's file name must end in .csv or .xlsx, got {target.name!r}")
        url = f"/v1/campaigns/{int(campaign_id)}/report"

        def attempt() -> Path:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as out, self._http.stream("GET", url, params={"format": fmt}) as response:
                    if response.status_code >= 400:
                        response.read()
                        return response  # type: ignore[return-value]
                    for chunk in response.iter_bytes(CHUNK):
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, target)
                return target
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)

        return self._retrying(attempt, "idempotent")

    def wait(self, campaign_id: int, timeout: float, *, every: float = 1.0) -> dict:
        """Poll the campaign until its state is final (done, failed, paused, cancelled);
        returns its status. Raises TimeoutError after ``timeout`` seconds, NotFound."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.get(campaign_id)
            if status["state"] in FINAL_STATES:
                return status
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"campaign {campaign_id} is still {status['state']} after {timeout:g} s")
            self._sleep(min(every, left))

    # -- the plumbing --------------------------------------------------------------------

    def _pages(self, url: str, params: dict, limit: int | None) -> Iterator[dict]:
        given = 0
        while True:
            page = self._send("GET", url, "idempotent", params=params).json()
            for item in page["items"]:
                if limit is not None and given >= limit:
                    return
                given += 1
                yield item
            cursor = page.get("next_cursor")
            if cursor is None or (limit is not None and given >= limit):
                return
            params = {**params, "cursor": cursor}

    def _send(self, method: str, url: str, safety: str, *, files: Callable[[], dict] | None = None,
              replayable: Callable[[], bool] = lambda: True, **kwargs) -> httpx.Response:
        def attempt():
            return self._http.request(method, url, files=files() if files else None, **kwargs)

        return self._retrying(attempt, safety, replayable)

    def _retrying(self, attempt: Callable[[], Any], safety: str,
                  replayable: Callable[[], bool] = lambda: True) -> Any:
        """Run ``attempt`` (which returns a result, or an error Response), retrying what
        ``safety`` allows: "idempotent" retries every transient failure, "unsent" only a
        connection never made. Raises the error of the last try."""
        policy = self._retries
        for tried in range(1, policy.attempts + 1):
            last = tried == policy.attempts
            try:
                result = attempt()
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # Nothing was sent: a retry is safe for every call.
                if last or not replayable():
                    raise self._unavailable(exc) from None
                self._sleep(policy.delay(tried))
                continue
            except httpx.TransportError as exc:
                if safety != "idempotent" or last or not replayable():
                    raise self._unavailable(exc) from None
                self._sleep(policy.delay(tried))
                continue
            if not isinstance(result, httpx.Response):
                return result
            if result.status_code < 400:
                return result
            transient = result.status_code in RETRY_STATUSES or _is_busy(result)
            if safety != "idempotent" or not transient or last or not replayable():
                raise self._error(result)
            self._sleep(policy.delay(tried, _retry_after(result)))
        raise AssertionError("unreachable")  # pragma: no cover

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def _unavailable(self, exc: httpx.TransportError) -> Unavailable:
        detail = f"no answer from {self._http.base_url}: {type(exc).__name__}: {exc}"
        return Unavailable(None, self._scrub(detail), {})

    def _error(self, response: httpx.Response) -> CampaignsError:
        try:
            problem = response.json()
            if not isinstance(problem, dict):
                raise ValueError
        except ValueError:
            problem = {"status": response.status_code, "title": response.reason_phrase,
                       "detail": response.text[:500]}
        detail = self._scrub(str(problem.get("detail") or problem.get("title") or response.reason_phrase))
        status = response.status_code
        kind = {401: AuthError, 403: AuthError, 404: NotFound, 422: Refused}.get(status, CampaignsError)
        problem = {k: (self._scrub(v) if isinstance(v, str) else v) for k, v in problem.items()}
        return kind(status, detail, problem)
