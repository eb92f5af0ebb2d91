"""The dashboard at ``/``: server-rendered pages (Jinja2) for people who sign in with a
password (campaigns.services.users), beside the API's ``/v1`` for programs with tokens.

    session.py    sign in, sign out
    campaigns.py  the list, a campaign (funnel, counters over time, recipients, report,
                  cancel / resume)
    upload.py     new campaign: upload, preview (the validation report), launch
    admin.py      users and API tokens
    extras.py     other features' pages (schedules, watched bucket, replies, opt-outs)
                  and the approve button of a run awaiting approval
    static.py     CSS, JS and the vendored Chart.js, from inside the package

``router()`` is what app.py includes.
"""

from __future__ import annotations

from fastapi import APIRouter


def router() -> APIRouter:
    """Every dashboard route, in one router."""
    from campaigns.web.dashboard import admin, campaigns, extras, session, static, upload

    root = APIRouter(include_in_schema=False)
    for module in (session, upload, campaigns, extras, admin, static):
        root.include_router(module.router)
    return root
