"""Bearer tokens of the HTTP API: made, listed, revoked and verified.

A token reads ``cmp_<id>_<secret>``: the id finds its row, the secret (32 random bytes,
URL-safe) is compared with the stored SHA-256 of it in constant time. Only that hash is
kept, so a copy of the database gives no token; the token itself is shown once, when it
is made. A fast hash is enough here: the secret has 256 bits of entropy, nothing to guess
(a password's slow hash protects a low-entropy secret, and would cost every request).

Scopes are ordered: ``read`` reads; ``submit`` also submits, cancels and resumes;
``admin`` also manages tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from campaigns.services.moves import as_utc, utcnow
from campaigns.store.models import ApiToken
from campaigns.store.uow import UnitOfWork

SCOPES = ("read", "submit", "admin")
PREFIX = "cmp_"
_TOKEN = re.compile(r"cmp_([0-9]{1,18})_([A-Za-z0-9_-]{20,128})")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# last_used_at is written at most this often per token, so reads stay reads.
TOUCH_EVERY = timedelta(minutes=1)


class TokenError(ValueError):
    """A token name or scope that cannot be used, or a name already taken."""


class TokenNotFound(LookupError):
    """No token has this name."""


@dataclass(frozen=True)
class TokenIdentity:
    """Who a verified token is: its id, name and scope."""

    id: int
    name: str
    scope: str
    stale: bool = False  # its last use was recorded over TOUCH_EVERY ago (touch_token)

    def allows(self, needed: str) -> bool:
        """True when this token's scope includes ``needed`` (read < submit < admin)."""
        return SCOPES.index(self.scope) >= SCOPES.index(needed)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def check_scope(scope: str) -> str:
    """``scope`` if it is one of SCOPES; raises TokenError otherwise."""
    if scope not in SCOPES:
        raise TokenError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    return scope


def create_token(name: str, scope: str, uow_factory: Callable[[], UnitOfWork]) -> tuple[str, dict]:
    """Make a token named ``name`` with ``scope``; returns the token (shown once, never
    stored) and its listing entry. Raises TokenError for a bad name or scope, or a name
    already taken (revoked tokens keep their names)."""
    if not _NAME.fullmatch(name or ""):
        raise TokenError(f"token name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit, got {name!r}")
    check_scope(scope)
    secret = secrets.token_urlsafe(32)
    with uow_factory() as uow:
        row = ApiToken(name=name, scope=scope, secret_hash=_digest(secret), created_at=utcnow())
        uow.session.add(row)
        try:
            uow.commit()
        except IntegrityError:
            raise TokenError(f"a token named {name!r} already exists") from None
        return f"{PREFIX}{row.id}_{secret}", _entry(row)


def list_tokens(uow_factory: Callable[[], UnitOfWork]) -> list[dict]:
    """Every token, oldest first: name, scope, created_at, last_used_at, revoked_at."""
    with uow_factory() as uow:
        return [_entry(row) for row in uow.session.scalars(select(ApiToken).order_by(ApiToken.id))]


def revoke_token(name: str, uow_factory: Callable[[], UnitOfWork]) -> dict:
    """Revoke the token named ``name`` (at once: the next request with it gets 401); returns
    its entry. Revoking a revoked token changes nothing. Raises TokenNotFound."""
    with uow_factory() as uow:
        row = uow.session.scalar(select(ApiToken).where(ApiToken.name == name))
        if row is None:
            raise TokenNotFound(f"no token named {name!r}")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            uow.commit()
        return _entry(row)


_BY_ID = select(ApiToken.id, ApiToken.name, ApiToken.scope, ApiToken.secret_hash, ApiToken.revoked_at,
               ApiToken.last_used_at).where(ApiToken.id == bindparam("id"))


def verify_token(token: str, uow_factory: Callable[[], UnitOfWork]) -> TokenIdentity | None:
    """The identity of a valid, unrevoked ``token``; None for anything else (malformed,
    unknown, revoked). The secret is compared in constant time. Only reads: see
    ``touch_token`` for recording its use."""
    match = _TOKEN.fullmatch(token or "")
    if match is None:
        return None
    token_id, secret = int(match.group(1)), match.group(2)
    with uow_factory() as uow:
        row = uow.session.execute(_BY_ID, {"id": token_id}).first()
    # Compared even when there is no row, so an unknown id takes as long as a wrong secret.
    stored = row.secret_hash if row is not None else "0" * 64
    if not hmac.compare_digest(_digest(secret), stored) or row is None or row.revoked_at is not None:
        return None
    last = as_utc(row.last_used_at)
    return TokenIdentity(row.id, row.name, row.scope, stale=last is None or utcnow() - last > TOUCH_EVERY)


def touch_token(token_id: int, uow_factory: Callable[[], UnitOfWork]) -> None:
    """Record that the token was used now (``last_used_at``)."""
    with uow_factory() as uow:
        uow.session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=utcnow()))
        uow.commit()


def _iso(value: datetime | None) -> str | None:
    value = as_utc(value)
    return value.isoformat() if value else None


def _entry(row: ApiToken) -> dict:
    return {
        "name": row.name,
        "scope": row.scope,
        "created_at": _iso(row.created_at),
        "last_used_at": _iso(row.last_used_at),
        "revoked_at": _iso(row.revoked_at),
    }
