"""The dashboard's templates (Jinja2, autoescape on: every value from a file or a
provider shows as text) and the route class that turns its exceptions into pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute

from campaigns.web.dashboard.auth import NotAllowed, SignInNeeded
from campaigns.web.problems import Problem

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
SECURITY_HEADERS = {
    # no inline script runs: the charts' data travel as JSON in <script type="application/json">
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _environment(request: Request):
    env = getattr(request.app.state, "dashboard_templates", None)
    if env is None:
        from jinja2 import Environment, FileSystemLoader, select_autoescape

        env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(default=True),
                          trim_blocks=True, lstrip_blocks=True)
        env.filters["num"] = lambda n: f"{int(n or 0):,}"
        env.filters["when"] = lambda iso: (iso or "")[:19].replace("T", " ")
        request.app.state.dashboard_templates = env
    return env


def page(request: Request, name: str, context: dict[str, Any], *, status: int = 200) -> HTMLResponse:
    """Render template ``name`` with ``context`` plus the request, the signed-in user
    (when there is one) and the optional pages that exist."""
    from campaigns.web.dashboard.extras import available_pages

    user = getattr(request.state, "dashboard_user", None)
    html = _environment(request).get_template(name).render(
        request=request, user=user, csrf=user.csrf_token if user else "", extra_pages=available_pages(), **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


class DashboardRoute(APIRoute):
    """Routes of the dashboard: no session sends the browser to sign in, a refusal is a
    page with its status, never problem+json."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def route(request: Request):
            try:
                return await handler(request)
            except SignInNeeded:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                if request.headers.get("x-dashboard-fragment"):
                    return HTMLResponse("", status_code=401, headers={"X-Sign-In": "/login"})
                return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
            except NotAllowed as exc:
                return page(request, "error.html", {"title": "Not allowed", "message": exc.detail}, status=403)
            except Problem as exc:
                return page(request, "error.html", {"title": "Sorry", "message": exc.detail}, status=exc.status)

        return route
