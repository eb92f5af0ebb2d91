"""A scripted Mobizon for ``httpx.MockTransport``: the Mobizon tests' fake of the provider.

Replies are queued per method (``campaign/create``); the last one repeats. A reply is a
JSON body, an ``httpx.Response``, an exception to raise, or a function of the request.
Every request is recorded with its decoded form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import parse_qsl

import httpx

from campaigns.providers.mobizon import MobizonClient

KEY = "k3yS3cret0123456789abcdefABCDEF0123456789"


def ok(data: Any = None, code: int = 0, message: str = "") -> dict:
    return {"code": code, "data": data, "message": message}


@dataclass
class Seen:
    request: httpx.Request

    @property
    def method(self) -> str:
        """``campaign/create`` from ``/service/campaign/create``."""
        return self.request.url.path.split("/service/", 1)[1]

    @property
    def body(self) -> bytes:
        return self.request.content

    @property
    def form(self) -> list[tuple[str, str]]:
        return parse_qsl(self.request.content.decode("ascii"), keep_blank_values=True)

    @property
    def fields(self) -> dict[str, str]:
        return dict(self.form)


class FakeMobizon:
    def __init__(self):
        self.seen: list[Seen] = []
        self._replies: dict[str, list] = {}

    def reply(self, method: str, *replies: Any) -> "FakeMobizon":
        self._replies.setdefault(method.lower(), []).extend(replies)
        return self

    def calls(self, method: str) -> list[Seen]:
        return [s for s in self.seen if s.method.lower() == method.lower()]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        seen = Seen(request)
        self.seen.append(seen)
        queue = self._replies.get(seen.method.lower())
        if not queue:
            return httpx.Response(200, json=ok(None, code=5, message="Unknown method"))
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            reply = reply(request)
        if isinstance(reply, httpx.Response):
            return reply
        return httpx.Response(200, json=reply)


def make_client(fake: Callable, **kwargs: Any) -> MobizonClient:
    kwargs.setdefault("api_key", KEY)
    return MobizonClient(httpx.Client(transport=httpx.MockTransport(fake)), **kwargs)
