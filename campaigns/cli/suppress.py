"""``campaigns suppress add|remove|list|import|export``: the suppression list (opt-outs).
A suppressed phone is ``opted out`` in every file checked or sent afterwards, unless the
campaign is submitted with ``--ignore-suppression``. Exit codes: 0 done, 1 failed (a phone
not on the list, a file that cannot be read), 2 usage (not a phone number)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from campaigns.cli import settings_of

EXIT_FAILED, EXIT_USAGE = 1, 2


def _uow_factory(ctx: typer.Context):
    from campaigns.store.engine import open_database
    from campaigns.store.uow import UnitOfWork

    engine = open_database(settings_of(ctx).database_url)
    ctx.call_on_close(engine.dispose)
    return lambda: UnitOfWork(engine)


def _fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def register(app: typer.Typer) -> None:
    suppress_app = typer.Typer(help="The suppression list: phones that get no campaign (opt-outs).",
                               no_args_is_help=True)
    app.add_typer(suppress_app, name="suppress")
    country_help = "Default country (ISO code, e.g. KZ) for national numbers."

    @suppress_app.command("add")
    def add_cmd(
        ctx: typer.Context,
        phones: list[str] = typer.Argument(..., metavar="PHONE...", help="Phone numbers to suppress."),
        reason: Optional[str] = typer.Option(None, "--reason", help="Why (shown in list and export)."),
        country: Optional[str] = typer.Option(None, "--country", help=country_help),
    ) -> None:
        """Suppress phones: they are 'opted out' in every campaign from now on."""
        from campaigns.services.suppression import SuppressionError, add_suppression, normalize

        try:
            for phone in phones:
                normalize(phone, country)
        except (SuppressionError, ValueError) as exc:
            raise _fail(str(exc), EXIT_USAGE) from None
        uow_factory = _uow_factory(ctx)
        for phone in phones:
            entry, new = add_suppression(uow_factory, phone, reason=reason, source="manual", country=country)
            typer.echo(f"{entry.phone}: {'suppressed' if new else 'already suppressed'}")

    @suppress_app.command("remove")
    def remove_cmd(
        ctx: typer.Context,
        phones: list[str] = typer.Argument(..., metavar="PHONE...", help="Phone numbers to take off the list."),
        country: Optional[str] = typer.Option(None, "--country", help=country_help),
    ) -> None:
        """Take phones off the list (exit 1 when one was not on it)."""
        from campaigns.services.suppression import SuppressionError, normalize, remove_suppression

        try:
            digits = [normalize(phone, country) for phone in phones]
        except (SuppressionError, ValueError) as exc:
            raise _fail(str(exc), EXIT_USAGE) from None
        uow_factory = _uow_factory(ctx)
        missing = []
        for phone in digits:
            if remove_suppression(uow_factory, phone):
                typer.echo(f"{phone}: removed")
            else:
                missing.append(phone)
                typer.echo(f"{phone}: was not suppressed", err=True)
        if missing:
            raise typer.Exit(EXIT_FAILED)

    @suppress_app.command("list")
    def list_cmd(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print a JSON list of entries.")) -> None:
        """List the suppressed phones, by number."""
        from campaigns.services.suppression import list_suppressions

        entries = list_suppressions(_uow_factory(ctx))
        if as_json:
            typer.echo(json.dumps([e.to_dict() for e in entries], ensure_ascii=False))
            return
        if not entries:
            typer.echo("no phone is suppressed")
            return
        from rich.console import Console
        from rich.table import Table

        table = Table("phone", "source", "since", "reason")
        for e in entries:
            row = e.to_dict()
            table.add_row(row["phone"], row["source"], (row["created_at"] or "")[:19], row["reason"] or "")
        Console().print(table)

    @suppress_app.command("import")
    def import_cmd(
        ctx: typer.Context,
        file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                    help="CSV or text: a phone in the first column (a reason in the second)."),
        reason: Optional[str] = typer.Option(None, "--reason", help="The reason of rows that give none."),
        country: Optional[str] = typer.Option(None, "--country", help=country_help),
        as_json: bool = typer.Option(False, "--json", help='Print {"added", "already", "skipped"}.'),
    ) -> None:
        """Suppress every phone of a file (a header and rows that are not phones are skipped)."""
        from campaigns.services.suppression import SuppressionError, import_suppressions

        try:
            counts = import_suppressions(_uow_factory(ctx), file, country=country, reason=reason)
        except (SuppressionError, ValueError) as exc:
            raise _fail(str(exc)) from None
        if as_json:
            typer.echo(json.dumps(counts))
        else:
            typer.echo(f"{counts['added']:,} added, {counts['already']:,} already suppressed, "
                       f"{counts['skipped']:,} rows skipped (not a phone number)")

    @suppress_app.command("export")
    def export_cmd(ctx: typer.Context, file: Path = typer.Argument(..., dir_okay=False, help="The CSV file to write.")) -> None:
        """Write the list to a CSV file (phone, reason, source, created_at)."""
        from campaigns.services.suppression import export_suppressions

        try:
            count = export_suppressions(_uow_factory(ctx), file)
        except OSError as exc:
            raise _fail(f"cannot write {file}: {exc.strerror or exc}") from None
        typer.echo(f"{count:,} phones written to {file}")
