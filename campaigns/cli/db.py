"""``campaigns db upgrade``: apply the migrations."""

from __future__ import annotations

import typer

from campaigns.cli import settings_of


def register(app: typer.Typer) -> None:
    db = typer.Typer(help="Database maintenance.", no_args_is_help=True)

    @db.command("upgrade")
    def upgrade_cmd(ctx: typer.Context, revision: str = typer.Argument("heads")) -> None:
        """Apply the database migrations (CAMPAIGNS_DATABASE_URL)."""
        from campaigns.redact import redact_url
        from campaigns.store.engine import upgrade

        settings = settings_of(ctx)
        upgrade(settings.database_url, revision)
        typer.echo(f"database at {redact_url(settings.database_url)} is at {revision}")

    app.add_typer(db, name="db")
