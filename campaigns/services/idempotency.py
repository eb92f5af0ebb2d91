"""Idempotent submission: one campaign per (scope, key), however many requests carry it.

The first request claims the key by inserting its row (a unique constraint decides between
requests that arrive at once, on SQLite and PostgreSQL alike), runs the submission and
records the campaign on the row. A request that finds the key claimed with the same
fingerprint gets that campaign, waiting while the first one is still running; with another
fingerprint it is refused. A submission that fails releases the key, so a corrected retry
can use it; a claim left by a process that died mid-submission is taken over once older
than ``ABANDONED_AFTER``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from campaigns.services.moves import as_utc, utcnow
from campaigns.store.models import IdempotencyKey
from campaigns.store.uow import UnitOfWork

log = logging.getLogger(__name__)
MAX_KEY_LENGTH = 255
ABANDONED_AFTER = timedelta(minutes=15)


class IdempotencyConflict(ValueError):
    """The key was used before with a different request."""


class IdempotencyBusy(RuntimeError):
    """The first request with this key is still running after the wait."""


@dataclass(frozen=True)
class Once:
    """What ``submit_once`` did: the campaign and whether this call created it."""

    campaign_id: int
    created: bool


def fingerprint(fields: dict, *parts: bytes | str) -> str:
    """A stable hex SHA-256 of a request: its fields (as canonical JSON) and any further
    parts (a file's digest)."""
    h = hashlib.sha256(json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str).encode())
    for part in parts:
        h.update(b"\0")
        h.update(part.encode() if isinstance(part, str) else part)
    return h.hexdigest()


def check_key(key: str) -> str:
    """``key`` when it can be used (1-255 printable characters); raises ValueError."""
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValueError(f"an idempotency key must be 1-{MAX_KEY_LENGTH} printable characters")
    return key


def submit_once(
    scope: str, key: str, print_: str, submit: Callable[[], int], uow_factory: Callable[[], UnitOfWork],
    *, wait: float = 60.0, every: float = 0.1,
) -> Once:
    """Run ``submit()`` (which returns a campaign id) at most once for ``(scope, key)``.

    Returns Once(campaign_id, created). Raises IdempotencyConflict when the key was used
    with another fingerprint, IdempotencyBusy when the first request is still running after
    ``wait`` seconds, and whatever ``submit`` raises (the key is then released).
    """
    check_key(key)
    deadline = time.monotonic() + wait
    while True:
        mine, claim = _claim(scope, key, print_, uow_factory)
        if mine:
            break  # ours: run the submission
        if claim.fingerprint != print_:
            raise IdempotencyConflict("this Idempotency-Key was used with a different request")
        if claim.campaign_id is not None:
            return Once(claim.campaign_id, False)
        if utcnow() - as_utc(claim.created_at) > ABANDONED_AFTER:
            _release(claim.id, uow_factory)  # its process died mid-submission: take it over
            continue
        if time.monotonic() > deadline:
            raise IdempotencyBusy("a request with this Idempotency-Key is still being processed; retry later")
        time.sleep(every)
    try:
        campaign_id = submit()
    except BaseException:
        _release(claim.id, uow_factory)
        raise
    # Only our own claim row: one taken over as abandoned (deleted and claimed again by
    # another request) is not ours to finish.
    with uow_factory() as uow:
        done = uow.session.execute(update(IdempotencyKey).where(
            IdempotencyKey.id == claim.id, IdempotencyKey.campaign_id.is_(None)).values(campaign_id=campaign_id))
        uow.commit()
    if done.rowcount != 1:
        log.warning("idempotency key %r of %s was taken over while its first request ran (longer than %s); "
                    "campaign %s was made by that first request", key, scope, ABANDONED_AFTER, campaign_id)
    return Once(campaign_id, True)


def _claim(scope: str, key: str, print_: str, uow_factory) -> tuple[bool, IdempotencyKey]:
    """(True, our new row) when this call inserted the key's row; else (False, the row
    someone else holds)."""
    with uow_factory() as uow:
        row = IdempotencyKey(scope=scope, key=key, fingerprint=print_, created_at=utcnow())
        uow.session.add(row)
        try:
            uow.commit()
            uow.session.expunge(row)
            return True, row
        except IntegrityError:
            uow.rollback()
        held = uow.session.scalar(select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key))
        if held is None:  # released between our insert and our read: try again
            return False, IdempotencyKey(id=-1, fingerprint=print_, campaign_id=None, created_at=utcnow())
        uow.session.expunge(held)
        return False, held


def _release(row_id: int, uow_factory) -> None:
    with uow_factory() as uow:
        uow.session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == row_id, IdempotencyKey.campaign_id.is_(None)))
        uow.commit()
