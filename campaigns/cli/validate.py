"""``campaigns validate FILE --text TEXT …``: the pre-flight report of a recipient file.

Reads and checks the file without contacting any provider or storing anything. Exit 0 when
the file can be sent, 1 when it is refused as a whole (the reason in one line on stderr),
2 for usage errors (an unknown option value, a missing file).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Iterator, Optional

import typer

from campaigns.cli import settings_of

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


class PlaceholdersMode(str, Enum):
    keep = "keep"
    strip = "strip"
    reject = "reject"


def country_option(value: Optional[str]) -> Optional[str]:
    """An ISO 3166 alpha-2 code phonenumbers knows, upper-cased; BadParameter otherwise."""
    if value is None:
        return None
    import phonenumbers

    code = value.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise typer.BadParameter(f"{value!r} is not a country code phone numbers are known for (e.g. KZ, RU, UZ)")
    return code


def encoding_option(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    import codecs

    try:
        codecs.lookup(value)
    except LookupError:
        raise typer.BadParameter(f"unknown encoding {value!r} (e.g. utf-8, windows-1251, koi8-r, cp866)") from None
    return value


def engine_option(value: str) -> str:
    from campaigns.ingest.readers import EXCEL_ENGINES

    if value not in EXCEL_ENGINES:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(EXCEL_ENGINES)}")
    return value


def register(app: typer.Typer) -> None:
    @app.command("validate")
    def validate_cmd(
        ctx: typer.Context,
        file: Path = typer.Argument(
            ..., exists=True, dir_okay=False, readable=True, help="CSV/TXT, XLS, XLSX or ODS recipient file."
        ),
        text: str = typer.Option(..., "--text", help="The message; {name} placeholders make a template campaign."),
        country: Optional[str] = typer.Option(
            None, "--country", callback=country_option, help="Default country (ISO code, e.g. KZ) for national numbers."
        ),
        placeholders: PlaceholdersMode = typer.Option(
            PlaceholdersMode.keep,
            "--placeholders",
            help="A placeholder with no column: keep it as written, strip it, or reject the file.",
        ),
        encoding: Optional[str] = typer.Option(
            None, "--encoding", callback=encoding_option, help="Text encoding of a CSV (detected by default)."
        ),
        sheet: Optional[str] = typer.Option(None, "--sheet", help="Sheet name or 1-based position (default: the first)."),
        excel_engine: str = typer.Option(
            "calamine", "--excel-engine", callback=engine_option, help="calamine (default), openpyxl (XLSX) or xlrd (XLS)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
        rejects_out: Optional[Path] = typer.Option(
            None, "--rejects-out", dir_okay=False, help="Write the rejected rows and their reasons to this CSV file."
        ),
        ignore_suppression: bool = typer.Option(
            False, "--ignore-suppression", help="Do not mark suppressed (opted-out) phones 'opted out'."
        ),
    ) -> None:
        """Check a recipient file and print its report, without sending anything."""
        from campaigns.ingest.readers import FileRefused
        from campaigns.ingest.rejects import RejectsWriter
        from campaigns.ingest.report import IngestReport
        from campaigns.ingest.service import IngestOptions, validate_file

        if not text.strip():
            raise typer.BadParameter("the message text is empty", param_hint="'--text'")
        if rejects_out is not None and _same_file(rejects_out, file):
            raise typer.BadParameter("must not be the input file", param_hint="'--rejects-out'")
        options = IngestOptions(
            text=text,
            country=country,
            placeholders=placeholders.value,
            encoding=encoding,
            sheet=sheet,
            excel_engine=excel_engine,
        )
        if not ignore_suppression:
            options = _with_suppression(options, settings_of(ctx))
        rejects = None
        if rejects_out is not None:
            try:
                rejects = RejectsWriter(rejects_out)
            except OSError as exc:
                raise typer.BadParameter(f"cannot write {rejects_out}: {exc.strerror}", param_hint="'--rejects-out'")
        try:
            with _spinner(f"checking {file.name}", enabled=not as_json):
                report = validate_file(file, options, settings_of(ctx), rejects=rejects)
        except FileRefused as exc:
            if rejects is not None:
                rejects.discard()
            _refused(IngestReport.refused(file.name, str(exc)), as_json)
        except BaseException:
            if rejects is not None:
                rejects.discard()
            raise
        if rejects is not None:
            rejects.close()
        _print(report, as_json)
        if not report.sendable:
            typer.echo(f"error: {file.name}: {report.refusal}", err=True)
            raise typer.Exit(EXIT_REFUSED)


def _with_suppression(options, settings):
    """``options`` excluding the suppressed phones as ``opted out`` (issue 11). A database
    that does not exist yet (the SQLite default before any submit) has no list: nothing is
    created for a check."""
    from campaigns.services.suppression import with_suppression
    from campaigns.store.engine import make_engine, upgrade

    url = settings.database_url
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if url.endswith(":memory:") or not Path(path).exists():
            return options
        upgrade(url)
    import sqlalchemy

    engine = make_engine(url)
    try:
        return with_suppression(options, engine)
    except sqlalchemy.exc.SQLAlchemyError as exc:
        from campaigns.redact import redact

        typer.echo(f"warning: the suppression list could not be read ({redact(type(exc).__name__)}): "
                   "opted-out phones are not marked", err=True)
        return options
    finally:
        engine.dispose()


@contextmanager
def _spinner(message: str, *, enabled: bool) -> Iterator[None]:
    """A spinner on stderr while a large file is read, when stderr is a terminal."""
    from rich.console import Console

    console = Console(stderr=True)
    if not (enabled and console.is_terminal):
        yield
        return
    with console.status(message, spinner="dots"):
        yield


def _same_file(out: Path, source: Path) -> bool:
    try:
        return out.exists() and out.samefile(source) or out.resolve() == source.resolve()
    except OSError:
        return False


def _print(report, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False))
        return
    from rich.console import Console

    from campaigns.ingest.report import print_report

    print_report(report, Console(highlight=False))


def _refused(report, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False))
    typer.echo(f"error: {report.refusal}", err=True)
    raise typer.Exit(EXIT_REFUSED)
