"""Who is signed in to the dashboard, what their role allows, and CSRF checks.

* The session is the ``campaigns_session`` cookie only (HttpOnly, SameSite=Lax, Path=/,
  Secure when the request came over https or CAMPAIGNS_SECURE_COOKIES is set). The API's
  bearer tokens are never read here, and the API never reads this cookie.
* Every form that changes something carries the session's CSRF token, compared in
  constant time; a request whose ``Origin`` (or, without one, ``Referer``) names another
  origin is refused before that. The sign-in form, which has no session yet, uses a
  double-submit cookie (``campaigns_csrf``) instead.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request

from campaigns.services.users import SignedIn, session_user

SESSION_COOKIE = "campaigns_session"
LOGIN_CSRF_COOKIE = "campaigns_csrf"
CSRF_FIELD = "csrf_token"


class SignInNeeded(Exception):
    """No valid session: the dashboard answers with the sign-in page."""


class NotAllowed(Exception):
    """The signed-in user's role does not allow this (403), or a request failed its CSRF check."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


def secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.app.state.runtime.settings.secure_cookies


def set_cookie(response, request: Request, name: str, value: str, *, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="lax", secure=secure(request))


def current_user(request: Request) -> SignedIn:
    """The signed-in user (cached on the request); raises SignInNeeded."""
    cached = getattr(request.state, "dashboard_user", None)
    if cached is not None:
        return cached
    user = session_user(request.cookies.get(SESSION_COOKIE), request.app.state.runtime.uow_factory)
    if user is None:
        raise SignInNeeded()
    request.state.dashboard_user = user
    return user


def need(role: str):
    """A dependency: the signed-in user when their role includes ``role``; raises
    SignInNeeded or NotAllowed."""

    def dependency(request: Request) -> SignedIn:
        user = current_user(request)
        if not user.allows(role):
            raise NotAllowed(f"this needs the {role} role; {user.name} is {user.role}")
        return user

    return dependency


def same_origin(request: Request) -> bool:
    """False when the request says it comes from a page of another origin."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        # a form of an opaque origin (sandboxed frame, file:) says "null": not ours
        return source is None
    parts = urlsplit(source)
    host = request.headers.get("host", "")
    return parts.netloc.lower() == host.lower() and parts.scheme in ("http", "https")


def check_csrf(request: Request, user: SignedIn, token: str | None) -> None:
    """Raise NotAllowed unless the request comes from our own page with the session's token."""
    if not same_origin(request):
        raise NotAllowed("refused: the form was sent from another site")
    if not token or not hmac.compare_digest(token.encode(), user.csrf_token.encode()):
        raise NotAllowed("refused: the form's security token is missing or stale; reload the page and try again")


def login_csrf(request: Request) -> str:
    """The sign-in form's token: the cookie's when there is one, else a new one."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)


def check_login_csrf(request: Request, token: str | None) -> None:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not same_origin(request):
        raise NotAllowed("refused: the form was sent from another site")
    if not token or not cookie or not hmac.compare_digest(token.encode(), cookie.encode()):
        raise NotAllowed("refused: the sign-in form expired; reload the page and try again")
