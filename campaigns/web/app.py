"""The app factory: ``create_app(settings)`` builds the FastAPI application; its lifespan
opens the runtime (engine, dispatcher or embedded runner, spool folder) and closes it.

``uvicorn campaigns.web.app:app_from_env --factory`` is what ``campaigns serve`` runs in
each of its worker processes: nothing is built at import time.
"""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager

from fastapi import FastAPI

from campaigns import __version__
from campaigns.settings import Settings

DESCRIPTION = """Start bulk SMS campaigns and read their results.

Every `/v1` route needs `Authorization: Bearer <token>`; make tokens with
`campaigns token create NAME --scope read|submit|admin`. Errors are
`application/problem+json` (RFC 9457)."""


def create_app(settings: Settings, *, run_embedded: bool = True) -> FastAPI:
    """The HTTP service for ``settings``. With ``run_embedded`` False, the embedded mode
    takes campaigns but does not run them in this process (tests of the API alone)."""
    from campaigns.web import problems
    from campaigns.web import dashboard, metrics
    from campaigns.web.routes import campaigns, health, tokens
    from campaigns.web.runtime import open_runtime

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from campaigns import log_redaction

        log_redaction.install_on_loggers()
        runtime = open_runtime(settings, run_embedded=run_embedded)
        app.state.runtime = runtime
        # What was built at start-up (modules, the app, the engines) lives as long as the
        # process: keep it out of the garbage collector's full collections, which scanned
        # it every few thousand requests (as the workers do, workers/app.py).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            runtime.close()

    app = FastAPI(title="campaigns", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    problems.install(app)
    app.include_router(health.router)
    app.include_router(campaigns.router)
    app.include_router(tokens.router)
    from campaigns.web.routes import approval, schedules  # issue 13: /v1/schedules, /v1/campaigns/{id}/approve
    for module in (schedules, approval):
        app.include_router(module.router)
    app.include_router(metrics.router)  # issue 14: /metrics
    app.include_router(dashboard.router())  # issue 14: the dashboard at /
    from campaigns.web.routes import callbacks  # issue 11: receivers, /v1/inbound, /v1/suppressions

    callbacks.install(app, settings)
    return app


def app_from_env() -> FastAPI:
    """The app for the settings in the environment (uvicorn's ``--factory`` entry)."""
    return create_app(Settings.from_env())
