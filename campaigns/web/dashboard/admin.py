"""Admin pages: the dashboard's users and the API's tokens (the services the CLI uses)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from campaigns.services.users import ROLES, SignedIn, UserError, UserNotFound
from campaigns.web.dashboard.auth import check_csrf, need
from campaigns.web.dashboard.render import DashboardRoute, page

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
admin = need("admin")


def _admin_page(request: Request, *, error: str | None = None, new_token: dict | None = None, status: int = 200):
    from campaigns.services.tokens import SCOPES, list_tokens
    from campaigns.services.users import list_users

    uow = request.app.state.runtime.uow_factory
    return page(request, "admin.html", {"title": "Users and tokens", "users": list_users(uow), "roles": ROLES,
                                        "tokens": list_tokens(uow), "scopes": SCOPES, "error": error,
                                        "new_token": new_token}, status=status)


@router.get("/admin")
def admin_page(request: Request, _: SignedIn = Depends(admin)):
    return _admin_page(request)


@router.post("/admin/users")
def add_user_action(request: Request, name: str = Form(""), role: str = Form("viewer"), password: str = Form(""),
                    csrf_token: str = Form(""), user: SignedIn = Depends(admin)):
    from campaigns.services.users import add_user

    check_csrf(request, user, csrf_token)
    try:
        add_user(name, role, password, request.app.state.runtime.uow_factory)
    except UserError as exc:
        return _admin_page(request, error=str(exc), status=422)
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/users/{name}/role")
def role_action(request: Request, name: str, role: str = Form(""), csrf_token: str = Form(""),
                user: SignedIn = Depends(admin)):
    from campaigns.services.users import set_role

    check_csrf(request, user, csrf_token)
    try:
        set_role(name, role, request.app.state.runtime.uow_factory)
    except (UserError, UserNotFound) as exc:
        return _admin_page(request, error=str(exc), status=422)
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/users/{name}/remove")
def remove_action(request: Request, name: str, csrf_token: str = Form(""), user: SignedIn = Depends(admin)):
    from campaigns.services.users import remove_user

    check_csrf(request, user, csrf_token)
    if name == user.name:
        return _admin_page(request, error="you cannot remove yourself (another admin can)", status=422)
    try:
        remove_user(name, request.app.state.runtime.uow_factory)
    except UserNotFound as exc:
        return _admin_page(request, error=str(exc), status=404)
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/tokens")
def create_token_action(request: Request, name: str = Form(""), scope: str = Form("read"),
                        csrf_token: str = Form(""), user: SignedIn = Depends(admin)):
    from campaigns.services.tokens import TokenError, create_token

    check_csrf(request, user, csrf_token)
    try:
        token, entry = create_token(name, scope, request.app.state.runtime.uow_factory)
    except TokenError as exc:
        return _admin_page(request, error=str(exc), status=422)
    # shown on this one answer (no-store), never again
    return _admin_page(request, new_token={"token": token, **entry})


@router.post("/admin/tokens/{name}/revoke")
def revoke_token_action(request: Request, name: str, csrf_token: str = Form(""), user: SignedIn = Depends(admin)):
    from campaigns.services.tokens import TokenNotFound, revoke_token

    check_csrf(request, user, csrf_token)
    try:
        revoke_token(name, request.app.state.runtime.uow_factory)
    except TokenNotFound as exc:
        return _admin_page(request, error=str(exc), status=404)
    return RedirectResponse("/admin", status_code=303)
