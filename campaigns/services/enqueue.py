"""Start a campaign from any door (the HTTP API, the Python call, the Celery task): check
the provider, submit the file, hand the first step to the runtime, at most once per
idempotency key when one is given.

The runtime is a ``dispatch(steps)`` callable: the embedded runner's or Celery's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

from sqlalchemy import Engine

from campaigns.services.idempotency import Once, fingerprint, submit_once
from campaigns.services.submit import SubmitRequest, submit_campaign
from campaigns.settings import Settings
from campaigns.store.uow import UnitOfWork


class UnknownProvider(ValueError):
    """The provider is unknown or not configured (its key or URL is missing)."""


@dataclass(frozen=True)
class Idempotency:
    """A submission's idempotency key in its scope (``token:<id>``, ``task``…) and the
    fingerprint of the request it came with."""

    scope: str
    key: str
    fingerprint: str


def request_fingerprint(request: SubmitRequest, *parts: bytes | str) -> str:
    """The fingerprint of a submission: its options and its recipients' digest."""
    return fingerprint(asdict(request), *parts)


def check_provider(name: str, settings: Settings) -> None:
    """Raise UnknownProvider when ``name`` cannot be used with ``settings``. The sandbox
    of the embedded mode needs nothing (its simulator is started in-process)."""
    if settings.embedded and name == "sandbox" and settings.sandbox_url is None:
        return
    from campaigns.providers.registry import make_provider

    try:
        make_provider(name, settings).close()
    except ValueError as exc:
        raise UnknownProvider(str(exc)) from None


def enqueue_file(
    path: Path, request: SubmitRequest, settings: Settings, engine: Engine,
    dispatch: Callable[[Iterable], None], *, idempotency: Idempotency | None = None,
) -> Once:
    """Submit ``path`` as a campaign and dispatch its first step; returns Once(campaign_id,
    created). With ``idempotency``, a key already used returns its campaign (created False).

    Raises UnknownProvider, InvalidCampaign, FileRefused (nothing stored), ValueError for
    options that make no sense, IdempotencyConflict / IdempotencyBusy.
    """
    check_provider(request.provider, settings)

    def submit() -> int:
        result = submit_campaign(path, request, settings, engine)
        dispatch(result.next)
        return result.campaign_id

    if idempotency is None:
        return Once(submit(), True)
    return submit_once(idempotency.scope, idempotency.key, idempotency.fingerprint, submit,
                       lambda: UnitOfWork(engine))
