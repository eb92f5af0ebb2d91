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
    help="Bulk SMS campaigns through Mobizon and SMSC, rehearsed on the built-in sandbox.",
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
    from campaigns.cli import db, validate, check, pipeline, simulate, serve, tokens, users, inbox, suppress, watch, schedule

    for module in (db, validate, check, pipeline, simulate, serve, tokens, users, inbox, suppress, watch, schedule):
        module.register(app)


def _flags_without_type(command) -> None:
    """Flags take no value, so their help shows none (this Typer would print ``<bool>``)."""
    command.get_help_option(command.context_class(command))  # made lazily: make it now
    for param in [*command.params, getattr(command, "_help_option", None)]:
        if param is not None and getattr(param, "is_flag", False):
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _flags_without_type(sub)


def main(argv: list[str] | None = None) -> None:
    from typer.main import get_command

    _register()
    try:
        command = get_command(app)
        _flags_without_type(command)
        command.main(args=argv, prog_name="campaigns")
    except SystemExit:
        raise
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # last resort: one line, never a traceback
        from campaigns.redact import redact

        typer.echo(f"error: {redact(f'{type(exc).__name__}: {exc}')}", err=True)
        sys.exit(1)
