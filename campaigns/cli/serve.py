"""``campaigns serve``: the HTTP service (the API, and later callbacks, dashboard, metrics)
under uvicorn. In the embedded default it also runs the campaigns it takes."""

from __future__ import annotations

import logging

import typer

from campaigns.cli import settings_of

EXIT_USAGE = 2
# Python's own event loop and the httptools parser. Measured with wrk, 100 connections
# against a saturated server: uvloop left some connections waiting over a second (p99
# 1.1-1.6 s, for the same ~1,600 requests a second) where asyncio's loop served them in
# turn (p99 60-75 ms); httptools parses ~10% faster than h11.
SERVER = {"loop": "asyncio", "http": "httptools"}


def _logging() -> None:
    """uvicorn's and our records on stderr, through the redacting filter."""
    from campaigns import log_redaction

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    log_redaction.install_on_handlers(root)
    log_redaction.install_on_loggers()


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve_cmd(
        ctx: typer.Context,
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0 for every interface)."),
        port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on."),
        workers: int = typer.Option(1, "--workers", min=1, max=64, help="Server processes (with a broker only)."),
        access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="Log every request (method, path, status)."),
    ) -> None:
        """Serve the HTTP API (OpenAPI at /openapi.json, docs at /docs, /healthz).

        Without CAMPAIGNS_BROKER_URL it also runs the campaigns it takes, and the periodic
        follow-up, inside this process; with a broker it only enqueues."""
        import uvicorn

        settings = settings_of(ctx)
        if settings.embedded and workers > 1:
            typer.echo("error: --workers above 1 needs CAMPAIGNS_BROKER_URL: in the embedded mode one process "
                       "runs the campaigns", err=True)
            raise typer.Exit(EXIT_USAGE)
        _logging()
        mode = "embedded (campaigns run in this process)" if settings.embedded else "broker (workers run the campaigns)"
        logging.getLogger("campaigns.serve").info("serving on http://%s:%s, %s", host, port, mode)
        if workers == 1:
            from campaigns.web.app import create_app

            uvicorn.run(create_app(settings), host=host, port=port, log_config=None, access_log=access_log,
                        timeout_graceful_shutdown=10, **SERVER)
        else:
            # each worker process builds its own app from the same environment
            uvicorn.run("campaigns.web.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                        log_config=None, access_log=access_log, timeout_graceful_shutdown=10, **SERVER)
