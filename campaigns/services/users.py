"""Dashboard users and sessions: added, listed, removed, re-passworded; signed in and out.

Passwords are hashed with argon2id (argon2-cffi's defaults, the library's recommended
parameters); a stored hash made with older parameters is replaced at the next sign-in.
A session is ``<id>.<secret>`` in a cookie: the id finds the row, the secret's SHA-256 is
compared in constant time, as for API tokens (campaigns.services.tokens); a session has
its own CSRF token, and lives ``session_hours``.

Roles are ordered: ``viewer`` reads; ``operator`` also uploads, approves, cancels and
resumes; ``admin`` also manages users and tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import delete, select

from campaigns.services.moves import as_utc, utcnow
from campaigns.store.users import DashboardSession, DashboardUser
from campaigns.store.uow import UnitOfWork

ROLES = ("viewer", "operator", "admin")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_COOKIE = re.compile(r"([0-9]{1,18})\.([A-Za-z0-9_-]{20,128})")
# argon2 of a fixed password: compared when the name is unknown, so an unknown name takes
# as long as a wrong password (no user enumeration by timing). Made on first use.
_DUMMY: list[str] = []


class UserError(ValueError):
    """A name, role or password that cannot be used, or a name already taken."""


class UserNotFound(LookupError):
    """No user has this name."""


@dataclass(frozen=True)
class SignedIn:
    """Who a session belongs to, and the session's CSRF token."""

    user_id: int
    name: str
    role: str
    session_id: int
    csrf_token: str

    def allows(self, needed: str) -> bool:
        """True when this user's role includes ``needed`` (viewer < operator < admin)."""
        return ROLES.index(self.role) >= ROLES.index(needed)


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


def check_role(role: str) -> str:
    """``role`` if it is one of ROLES; raises UserError otherwise."""
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return role


def check_password(password: str) -> str:
    """``password`` if it is long enough; raises UserError otherwise (never quoting it)."""
    if not MIN_PASSWORD <= len(password or "") <= MAX_PASSWORD:
        raise UserError(f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


def add_user(name: str, role: str, password: str, uow_factory: Callable[[], UnitOfWork]) -> dict:
    """Add a user; returns its listing entry. Raises UserError for a bad name, role or
    password, or a name already taken."""
    from sqlalchemy.exc import IntegrityError

    if not _NAME.fullmatch(name or ""):
        raise UserError(f"a user name is 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit, "
                        f"got {name!r}")
    check_role(role)
    digest = _hasher().hash(check_password(password))
    with uow_factory() as uow:
        row = DashboardUser(name=name, role=role, password_hash=digest, created_at=utcnow())
        uow.session.add(row)
        try:
            uow.commit()
        except IntegrityError:
            raise UserError(f"a user named {name!r} already exists") from None
        return _entry(row)


def list_users(uow_factory: Callable[[], UnitOfWork]) -> list[dict]:
    """Every user, by name: name, role, created_at, last_sign_in_at."""
    with uow_factory() as uow:
        return [_entry(u) for u in uow.session.scalars(select(DashboardUser).order_by(DashboardUser.name))]


def remove_user(name: str, uow_factory: Callable[[], UnitOfWork]) -> None:
    """Remove a user and end its sessions at once. Raises UserNotFound."""
    with uow_factory() as uow:
        row = _user(uow, name)
        uow.session.execute(delete(DashboardSession).where(DashboardSession.user_id == row.id))
        uow.session.delete(row)
        uow.commit()


def set_password(name: str, password: str, uow_factory: Callable[[], UnitOfWork]) -> None:
    """Give a user a new password and end its sessions. Raises UserNotFound, UserError."""
    digest = _hasher().hash(check_password(password))
    with uow_factory() as uow:
        row = _user(uow, name)
        row.password_hash = digest
        uow.session.execute(delete(DashboardSession).where(DashboardSession.user_id == row.id))
        uow.commit()


def set_role(name: str, role: str, uow_factory: Callable[[], UnitOfWork]) -> dict:
    """Change a user's role (its open sessions take it at their next request). Raises
    UserNotFound, UserError."""
    check_role(role)
    with uow_factory() as uow:
        row = _user(uow, name)
        row.role = role
        uow.commit()
        return _entry(row)


def sign_in(name: str, password: str, uow_factory: Callable[[], UnitOfWork], *,
            hours: float = 12.0) -> tuple[str, SignedIn] | None:
    """Check ``password`` for ``name`` and open a session; returns the cookie value (shown
    once, only its hash stored) and who signed in, or None when the name or the password
    is wrong (the two are not told apart)."""
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    hasher = _hasher()
    with uow_factory() as uow:
        row = uow.session.scalar(select(DashboardUser).where(DashboardUser.name == (name or "")))
        stored = row.password_hash if row is not None else _dummy_hash(hasher)
        try:
            hasher.verify(stored, (password or "")[:MAX_PASSWORD])
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        if hasher.check_needs_rehash(row.password_hash):
            row.password_hash = hasher.hash(password)
        now = utcnow()
        secret = secrets.token_urlsafe(32)
        session = DashboardSession(user_id=row.id, secret_hash=_digest(secret), csrf_token=secrets.token_urlsafe(32),
                                   created_at=now, expires_at=now + timedelta(hours=hours))
        uow.session.add(session)
        row.last_sign_in_at = now
        # expired sessions go when anyone signs in: the table holds live ones and a few more
        uow.session.execute(delete(DashboardSession).where(DashboardSession.expires_at < now))
        uow.commit()
        return f"{session.id}.{secret}", SignedIn(row.id, row.name, row.role, session.id, session.csrf_token)


def session_user(cookie: str | None, uow_factory: Callable[[], UnitOfWork]) -> SignedIn | None:
    """Who the session ``cookie`` belongs to; None when it is malformed, unknown, expired
    or its user was removed. The secret is compared in constant time."""
    match = _COOKIE.fullmatch(cookie or "")
    if match is None:
        return None
    session_id, secret = int(match.group(1)), match.group(2)
    with uow_factory() as uow:
        row = uow.session.execute(
            select(DashboardSession, DashboardUser)
            .join(DashboardUser, DashboardUser.id == DashboardSession.user_id)
            .where(DashboardSession.id == session_id)
        ).first()
        stored = row[0].secret_hash if row is not None else "0" * 64
        if not hmac.compare_digest(_digest(secret), stored) or row is None:
            return None
        session, user = row
        if as_utc(session.expires_at) <= utcnow():
            return None
        return SignedIn(user.id, user.name, user.role, session.id, session.csrf_token)


def sign_out(session_id: int, uow_factory: Callable[[], UnitOfWork]) -> None:
    """End a session (signing out twice changes nothing)."""
    with uow_factory() as uow:
        uow.session.execute(delete(DashboardSession).where(DashboardSession.id == session_id))
        uow.commit()


def _dummy_hash(hasher) -> str:
    if not _DUMMY:
        _DUMMY.append(hasher.hash(secrets.token_urlsafe(16)))
    return _DUMMY[0]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _user(uow: UnitOfWork, name: str) -> DashboardUser:
    row = uow.session.scalar(select(DashboardUser).where(DashboardUser.name == name))
    if row is None:
        raise UserNotFound(f"no user named {name!r}")
    return row


def _iso(value: datetime | None) -> str | None:
    value = as_utc(value)
    return value.isoformat() if value else None


def _entry(row: DashboardUser) -> dict:
    return {"name": row.name, "role": row.role, "created_at": _iso(row.created_at),
            "last_sign_in_at": _iso(row.last_sign_in_at)}
