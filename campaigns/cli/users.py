"""``campaigns user add|list|remove|passwd|role``: the dashboard's users.

Passwords are asked at the terminal (hidden, twice) or read from the first line of stdin
with ``--password-stdin`` (scripts); never taken as an argument, where ``ps`` and shell
history would show them.
"""

from __future__ import annotations

import json
import sys

import typer

from campaigns.cli import settings_of

EXIT_FAILED, EXIT_USAGE = 1, 2


def _engine(ctx: typer.Context):
    from campaigns.store.engine import open_database

    return open_database(settings_of(ctx).database_url)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    return typer.prompt("password", hide_input=True, confirmation_prompt=True)


def _run(ctx: typer.Context, call):
    """Run ``call(uow_factory)``; a refusal of the users service exits 1 with one line."""
    from campaigns.services.users import UserError, UserNotFound
    from campaigns.store.uow import UnitOfWork

    engine = _engine(ctx)
    try:
        return call(lambda: UnitOfWork(engine))
    except (UserError, UserNotFound) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    finally:
        engine.dispose()


def register(app: typer.Typer) -> None:
    user_app = typer.Typer(help="Users of the dashboard (campaigns serve, at /).", no_args_is_help=True)
    app.add_typer(user_app, name="user")
    role_help = "viewer (reads); operator (also uploads, approves, cancels, resumes); admin (also manages users and tokens)."

    @user_app.command("add")
    def add_cmd(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="The user's sign-in name (letters, digits, . _ @ -)."),
        role: str = typer.Option("viewer", "--role", help=role_help),
        password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin's first line."),
    ) -> None:
        """Add a user; the password is asked for (at least 8 characters)."""
        from campaigns.services.users import UserError, add_user, check_password, check_role

        try:
            check_role(role)
        except UserError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_USAGE) from None
        password = _password(password_stdin)
        try:
            check_password(password)
        except UserError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_FAILED) from None
        entry = _run(ctx, lambda uow: add_user(name, role, password, uow))
        typer.echo(f"user {entry['name']!r} ({entry['role']}) added")

    @user_app.command("list")
    def list_cmd(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print a JSON list.")) -> None:
        """List the users with their roles (never their passwords)."""
        from campaigns.services.users import list_users

        users = _run(ctx, list_users)
        if as_json:
            typer.echo(json.dumps(users))
            return
        if not users:
            typer.echo("no users yet: campaigns user add NAME --role admin")
            return
        from rich.console import Console
        from rich.table import Table

        table = Table("name", "role", "created", "last sign-in")
        for u in users:
            table.add_row(u["name"], u["role"], u["created_at"] or "", u["last_sign_in_at"] or "")
        Console(highlight=False).print(table)

    @user_app.command("remove")
    def remove_cmd(ctx: typer.Context, name: str = typer.Argument(..., help="The user's name.")) -> None:
        """Remove a user; its sessions end at once."""
        from campaigns.services.users import remove_user

        _run(ctx, lambda uow: remove_user(name, uow))
        typer.echo(f"user {name!r} removed")

    @user_app.command("passwd")
    def passwd_cmd(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="The user's name."),
        password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin's first line."),
    ) -> None:
        """Set a user's password; its sessions end (it signs in again)."""
        from campaigns.services.users import set_password

        password = _password(password_stdin)
        _run(ctx, lambda uow: set_password(name, password, uow))
        typer.echo(f"password of {name!r} changed")

    @user_app.command("role")
    def role_cmd(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="The user's name."),
        role: str = typer.Argument(..., help=role_help),
    ) -> None:
        """Change a user's role."""
        from campaigns.services.users import set_role

        entry = _run(ctx, lambda uow: set_role(name, role, uow))
        typer.echo(f"user {entry['name']!r} is now {entry['role']}")
