"""``campaigns token create|list|revoke``: the HTTP API's bearer tokens."""

from __future__ import annotations

import json

import typer

from campaigns.cli import settings_of

EXIT_FAILED, EXIT_USAGE = 1, 2


def _engine(ctx: typer.Context):
    from campaigns.store.engine import open_database

    return open_database(settings_of(ctx).database_url)


def register(app: typer.Typer) -> None:
    token_app = typer.Typer(help="Bearer tokens of the HTTP API (campaigns serve).", no_args_is_help=True)
    app.add_typer(token_app, name="token")

    @token_app.command("create")
    def create_cmd(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="A name for the token (letters, digits, . _ -)."),
        scope: str = typer.Option("read", "--scope", help="read; submit (also submits, cancels, resumes); admin (also manages tokens)."),
        as_json: bool = typer.Option(False, "--json", help='Print {"token": …, "name": …, "scope": …} instead of text.'),
    ) -> None:
        """Make a token; it is printed once (the last line), only its hash is kept."""
        from campaigns.services.tokens import TokenError, check_scope, create_token
        from campaigns.store.uow import UnitOfWork

        try:
            check_scope(scope)
        except TokenError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_USAGE) from None
        engine = _engine(ctx)
        try:
            token, entry = create_token(name, scope, lambda: UnitOfWork(engine))
        except TokenError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_FAILED) from None
        finally:
            engine.dispose()
        if as_json:
            typer.echo(json.dumps({"token": token, **entry}))
        else:
            typer.echo(f"token {entry['name']!r} ({entry['scope']}) made; it is shown only now:", err=True)
            typer.echo(token)

    @token_app.command("list")
    def list_cmd(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print a JSON list.")) -> None:
        """List the tokens (names and scopes; never the tokens themselves)."""
        from campaigns.services.tokens import list_tokens
        from campaigns.store.uow import UnitOfWork

        engine = _engine(ctx)
        try:
            tokens = list_tokens(lambda: UnitOfWork(engine))
        finally:
            engine.dispose()
        if as_json:
            typer.echo(json.dumps(tokens))
            return
        if not tokens:
            typer.echo("no tokens yet: campaigns token create NAME --scope submit")
            return
        from rich.console import Console
        from rich.table import Table

        table = Table("name", "scope", "created", "last used", "revoked")
        for t in tokens:
            table.add_row(t["name"], t["scope"], t["created_at"] or "", t["last_used_at"] or "", t["revoked_at"] or "")
        Console(highlight=False).print(table)

    @token_app.command("revoke")
    def revoke_cmd(ctx: typer.Context, name: str = typer.Argument(..., help="The token's name.")) -> None:
        """Revoke a token: requests with it get 401 from now on."""
        from campaigns.services.tokens import TokenNotFound, revoke_token
        from campaigns.store.uow import UnitOfWork

        engine = _engine(ctx)
        try:
            revoke_token(name, lambda: UnitOfWork(engine))
        except TokenNotFound as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_FAILED) from None
        finally:
            engine.dispose()
        typer.echo(f"token {name!r} revoked")
