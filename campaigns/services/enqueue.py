"""Start a campaign from any door (the HTTP API, the Python call, the Celery task): check
the provider, submit the file, hand the first step to the runtime, at most once per
idempotency key when one is given.

The runtime is a ``dispatch(steps)`` callable: the embedded runner's or Celery's.
"""

from __future__ import annotations

import os
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, ContextManager, Iterable, Iterator, Mapping

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
    return _enqueue(lambda: nullcontext(Path(path)), request, settings, engine, dispatch, idempotency)


def enqueue_source(
    source: str, request: SubmitRequest, settings: Settings, engine: Engine,
    dispatch: Callable[[Iterable], None], *, workdir: Path, idempotency: Idempotency | None = None,
    headers: Mapping[str, str] | None = None,
) -> Once:
    """As ``enqueue_file``, for a file read from ``source`` (a path, ``file://``,
    ``s3://``, ``https://``: campaigns.sources), fetched only when the key is new. The
    campaign's name defaults to the source file's name.

    Raises what enqueue_file raises, and SourceError (``temporary`` when a retry may work).
    """
    return _enqueue(lambda: _fetched(source, settings, workdir, headers), request, settings, engine, dispatch,
                    idempotency)


@contextmanager
def _fetched(source: str, settings: Settings, workdir: Path, headers) -> Iterator[Path]:
    """The source as a local file named by its own name (a download is moved into a spool
    folder under that name, so messages about the file name it as its owner does)."""
    from campaigns.sources import fetch_source
    from campaigns.sources.spool import remove_spooled, spool_path

    with fetch_source(source, settings, workdir=workdir, headers=headers) as fetched:
        if Path(fetched.path).resolve().parent != Path(workdir).resolve():
            yield Path(fetched.path)  # a local file, read where it is
            return
        path = spool_path(Path(workdir), fetched.name)
        os.replace(fetched.path, path)
        try:
            yield path
        finally:
            remove_spooled(path)


def _enqueue(
    open_file: Callable[[], ContextManager[Path]], request: SubmitRequest, settings: Settings, engine: Engine,
    dispatch: Callable[[Iterable], None], idempotency: Idempotency | None,
) -> Once:
    check_provider(request.provider, settings)

    def submit() -> int:
        with open_file() as path:
            result = submit_campaign(path, request if request.name else replace(request, name=path.name), settings,
                                     engine)
        dispatch(result.next)
        return result.campaign_id

    if idempotency is None:
        return Once(submit(), True)
    return submit_once(idempotency.scope, idempotency.key, idempotency.fingerprint, submit,
                       lambda: UnitOfWork(engine))
