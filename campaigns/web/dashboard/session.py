"""Sign-in and sign-out pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from campaigns.services.users import SignedIn, sign_in, sign_out
from campaigns.web.dashboard.auth import (
    LOGIN_CSRF_COOKIE, SESSION_COOKIE, check_csrf, check_login_csrf, current_user, login_csrf, set_cookie,
)
from campaigns.web.dashboard.render import DashboardRoute, page

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only a path of this site (never //host or a scheme): no open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"


def _throttle(request: Request):
    """The process's SignInThrottle, made on first use and kept on the app."""
    throttle = getattr(request.app.state, "sign_in_throttle", None)
    if throttle is None:
        from campaigns.web.dashboard.throttle import SignInThrottle

        throttle = request.app.state.sign_in_throttle = SignInThrottle()
    return throttle


def _login_page(request: Request, next_: str, error: str | None = None, status: int = 200):
    token = login_csrf(request)
    response = page(request, "login.html", {"title": "Sign in", "next": _safe_next(next_), "error": error,
                                            "login_csrf": token}, status=status)
    set_cookie(response, request, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/"):
    return _login_page(request, next)


@router.post("/login")
async def login(request: Request, name: str = Form(""), password: str = Form(""), next: str = Form("/"),
                csrf_token: str = Form("")):
    check_login_csrf(request, csrf_token)
    rt = request.app.state.runtime
    throttle = _throttle(request)
    address = request.client.host if request.client else None
    wait = throttle.wait(name, address)
    if wait > 0:
        return _login_page(request, next, f"Too many failed sign-ins: try again in {int(wait // 60) + 1} min.",
                           status=429)
    result = await run_in_threadpool(sign_in, name, password, rt.uow_factory, hours=rt.settings.session_hours)
    if result is None:
        throttle.failed(name, address)
        return _login_page(request, next, "Wrong name or password.", status=401)
    throttle.succeeded(name)
    cookie, _ = result
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_cookie(response, request, SESSION_COOKIE, cookie, max_age=int(rt.settings.session_hours * 3600))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: str = Form(""), user: SignedIn = Depends(current_user)):
    check_csrf(request, user, csrf_token)
    sign_out(user.session_id, request.app.state.runtime.uow_factory)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
