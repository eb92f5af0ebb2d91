"""The ``campaigns`` console command.

Each sub-module registers its commands on the one Typer app; the callback reads the
settings once per process. Usage errors exit 2, refused input exits 1, and no command
prints a traceback: ``main`` turns anything unexpected into one line.
"""

from __future__ import annotations

import sys

import typer

from campaigns.settings import Settings, SettingsError

app = typer.Typer(
    name="campaigns",
    help="Bulk SMS campaigns through Mobizon, SMSC and the cascade gateway.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(ctx: typer.Context) -> None:
    try:
        ctx.obj = Settings.from_env()
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def settings_of(ctx: typer.Context) -> Settings:
    """The process's settings, read once by the root callback."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Settings) else Settings.from_env()


def _register() -> None:
    from campaigns.cli import db, validate, check, pipeline, simulate, serve, tokens

    for module in (db, validate, check, pipeline, simulate, serve, tokens):
        module.register(app)


def main(argv: list[str] | None = None) -> None:
    _register()
    try:
        app(args=argv, prog_name="campaigns")
    except SystemExit:
        raise
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # last resort: one line, never a traceback
        from campaigns.redact import redact

        typer.echo(f"error: {redact(f'{type(exc).__name__}: {exc}')}", err=True)
        sys.exit(1)
