"""Provider calls measured in one place: a wrapper around any Provider (the port), put
on where providers are made for workers and the web runtime (``instrumented``).

Each port call (create_campaign, add_chunk, launch, campaign_statuses, message_statuses,
cancel, find_campaign) counts once with its outcome, translated from the provider's one
error hierarchy (campaigns.providers.errors); a chunk prepared ahead (``prepare_chunk``)
counts as ``add_chunk`` when sent. Every other attribute is the provider's own.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator

from campaigns import telemetry

CALLS = frozenset({"create_campaign", "find_campaign", "add_chunk", "launch", "campaign_statuses", "cancel"})


def outcome_of(exc: BaseException | None) -> str:
    """The outcome label of a call that raised ``exc`` (None: it succeeded)."""
    if exc is None:
        return "ok"
    from campaigns.providers.errors import AuthError, PermanentError, RateLimited, TemporaryError

    if isinstance(exc, RateLimited):
        return "rate_limited"
    if isinstance(exc, TemporaryError):
        return "temporary"
    if isinstance(exc, AuthError):
        return "auth"
    if isinstance(exc, PermanentError):
        return "permanent"
    return "error"


def _timed(provider: str, method: str, call: Callable[..., Any]) -> Callable[..., Any]:
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            result = call(*args, **kwargs)
        except BaseException as exc:
            telemetry.provider_call(provider, method, outcome_of(exc), time.perf_counter() - start)
            raise
        telemetry.provider_call(provider, method, "ok", time.perf_counter() - start)
        return result

    return timed


class _TimedChunk:
    def __init__(self, prepared, provider: str):
        self._prepared = prepared
        self._provider = provider

    def send(self):
        return _timed(self._provider, "add_chunk", self._prepared.send)()

    def __getattr__(self, name: str):
        return getattr(self._prepared, name)


class InstrumentedProvider:
    """``inner`` with each port call counted under the provider's ``name``."""

    def __init__(self, inner, name: str):
        self.inner = inner
        self._label = name

    def __getattr__(self, attr: str):
        value = getattr(self.inner, attr)
        if attr in CALLS and callable(value):
            return _timed(self._label, attr, value)
        if attr == "prepare_chunk" and callable(value):
            def prepare(*args, **kwargs):
                # building the request calls nothing; sending it is the add_chunk call
                return _TimedChunk(value(*args, **kwargs), self._label)
            return prepare
        if attr == "message_statuses" and callable(value):
            return lambda *args, **kwargs: self._statuses(value, args, kwargs)
        return value

    def _statuses(self, call, args, kwargs) -> Iterator:
        # paged to the end: one call of the port, timed over every page
        start = time.perf_counter()
        try:
            yield from call(*args, **kwargs)
        except BaseException as exc:
            if not isinstance(exc, GeneratorExit):
                telemetry.provider_call(self._label, "message_statuses", outcome_of(exc), time.perf_counter() - start)
            raise
        telemetry.provider_call(self._label, "message_statuses", "ok", time.perf_counter() - start)

    def __repr__(self) -> str:
        return f"InstrumentedProvider({self.inner!r})"


def instrumented(provider, name: str):
    """``provider`` measured under ``name`` (a provider already measured is returned as is)."""
    if isinstance(provider, InstrumentedProvider):
        return provider
    return InstrumentedProvider(provider, name)
