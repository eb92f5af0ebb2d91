"""The in-process call for code that imports the package::

    from campaigns import submit_campaign

    status = submit_campaign("customers.csv", text="Hello {name}", country="KZ")
    status = submit_campaign(open("list.xlsx", "rb"), text="Sale today", provider="mobizon",
                             idempotency_key="crm-run-42", wait=False)

The same checks and the same pipeline as ``campaigns submit``, with the settings read from
the environment (or given). In the embedded default (no CAMPAIGNS_BROKER_URL) the call
runs the campaign to its end in this process unless ``wait=False`` (then ``campaigns
serve`` or a later command runs it); with a broker it queues the campaign for the workers
and returns, or with ``wait=True`` follows it until it ends.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from campaigns.settings import Settings

SETTLED = frozenset({"done", "failed", "cancelled", "paused"})


def submit_campaign(
    file: str | Path | BinaryIO,
    *,
    text: str,
    name: str | None = None,
    provider: str = "sandbox",
    sender: str | None = None,
    country: str | None = None,
    placeholders: str = "keep",
    rate_limit: int | None = None,
    rate_period: int | None = None,
    deferred_to: str | None = None,
    validity: int | None = None,
    mclass: int | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
    excel_engine: str = "calamine",
    ignore_suppression: bool = False,
    idempotency_key: str | None = None,
    wait: bool | None = None,
    timeout: float | None = None,
    settings: Settings | None = None,
) -> dict:
    """Submit a recipient file (a path, or a binary file object, read once) as a campaign;
    returns its status object (the keys of ``campaigns status --json``).

    ``wait`` defaults to True in the embedded mode and False with a broker. With
    ``idempotency_key`` a second call with the same key returns the first call's campaign.
    Raises FileRefused (the file is refused: nothing stored), InvalidCampaign (a
    ValueError listing each problem), UnknownProvider, ValueError for options that make no
    sense, IdempotencyConflict, and TimeoutError after ``timeout`` seconds of waiting (the
    campaign goes on).
    """
    from campaigns.services.enqueue import Idempotency, enqueue_file, request_fingerprint
    from campaigns.services.status import campaign_status
    from campaigns.services.submit import SubmitRequest
    from campaigns.store.engine import open_database
    from campaigns.store.uow import UnitOfWork

    settings = settings or Settings.from_env()
    wait = settings.embedded if wait is None else wait
    if settings.embedded and provider == "sandbox" and settings.sandbox_url is None:
        settings = settings.with_(poll_seconds=min(settings.poll_seconds, 1.0))
    engine = open_database(settings.database_url)
    try:
        with _local_file(file, settings) as path:
            request = SubmitRequest(
                text=text, name=name or path.name, provider=provider, sender=sender, country=country,
                placeholders=placeholders, rate_limit=rate_limit, rate_period=rate_period, deferred_to=deferred_to,
                validity=validity, mclass=mclass, encoding=encoding, sheet=sheet, excel_engine=excel_engine,
                ignore_suppression=ignore_suppression,
            )
            idempotency = None
            if idempotency_key is not None:
                idempotency = Idempotency("python", idempotency_key,
                                          request_fingerprint(request, _digest(path)))
            steps: list = []
            once = enqueue_file(path, request, settings, engine, steps.extend, idempotency=idempotency)
        uow_factory = lambda: UnitOfWork(engine)  # noqa: E731
        if settings.embedded:
            if not wait:
                return campaign_status(once.campaign_id, uow_factory)
            from workers.embedded import EmbeddedRunner

            with EmbeddedRunner(settings, engine) as runner:
                runner.schedule_all(steps)
                return runner.run([once.campaign_id], timeout=timeout)[once.campaign_id]
        _enqueue(settings, steps)
        if not wait:
            return campaign_status(once.campaign_id, uow_factory)
        return _follow(once.campaign_id, uow_factory, timeout)
    finally:
        engine.dispose()


@contextmanager
def _local_file(file, settings: Settings) -> Iterator[Path]:
    """A path to read: the path given, or a file object copied into the spool folder."""
    if isinstance(file, (str, Path)):
        yield Path(file)
        return
    from campaigns.sources.spool import remove_spooled, spool_path

    path = spool_path(Path(settings.data_dir) / "spool", Path(getattr(file, "name", "") or "upload").name)
    try:
        with open(path, "wb") as out:
            shutil.copyfileobj(file, out, 1024 * 1024)
        yield path
    finally:
        remove_spooled(path)


def _digest(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1024 * 1024), b""):
            h.update(block)
    return h.hexdigest()


def _enqueue(settings: Settings, steps: list) -> None:
    from workers.app import make_celery
    from workers.dispatch import CeleryDispatcher, dispatch_all

    app = make_celery(settings)
    try:
        dispatch_all(CeleryDispatcher(app), steps)
    finally:
        app.close()


def _follow(campaign_id: int, uow_factory, timeout: float | None, every: float = 0.5) -> dict:
    import time

    from campaigns.services.status import campaign_status

    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        status = campaign_status(campaign_id, uow_factory)
        if status["state"] in SETTLED:
            return status
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"campaign {campaign_id} is still {status['state']} after {timeout:.0f} s")
        time.sleep(every)
