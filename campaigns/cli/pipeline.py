"""The pipeline's commands: submit, status, list, cancel, report, demo, worker, beat.

Each command parses its options, calls one service (campaigns.services) or the runtime
(workers/), and maps failures onto exit codes: 0 done, 1 refused or failed, 2 usage.
With no CAMPAIGNS_BROKER_URL the pipeline runs inside ``campaigns submit`` (the embedded
runner); with one, ``submit`` enqueues and ``campaigns worker`` / ``campaigns beat`` run it.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from campaigns.cli import settings_of
from campaigns.cli.validate import country_option, encoding_option

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
SETTLED = frozenset({"done", "failed", "cancelled", "paused"})
PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


class Placeholders(str, Enum):
    keep = "keep"
    strip = "strip"
    reject = "reject"


class ExcelEngine(str, Enum):
    calamine = "calamine"
    openpyxl = "openpyxl"
    xlrd = "xlrd"


def _fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    from campaigns.redact import redact

    typer.echo(f"error: {redact(message)}", err=True)
    return typer.Exit(code)


def _console(*, stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _print_json(obj) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def _open_engine(settings):
    """The engine for the configured database (campaigns.store.engine.open_database)."""
    from campaigns.store.engine import open_database

    return open_database(settings.database_url)


def _setup_logging(console) -> None:
    """Warnings from the runtime go through rich (so they do not break the bars) and
    through the redacting filter (so no key reaches the terminal)."""
    from rich.logging import RichHandler

    from campaigns import log_redaction

    root = logging.getLogger()
    root.handlers[:] = [RichHandler(console=console, show_path=False, show_time=False)]
    root.setLevel(logging.WARNING)
    log_redaction.install_on_handlers(root)


def _status(campaign_id: int, engine) -> dict:
    from campaigns.services.status import campaign_status
    from campaigns.store.uow import UnitOfWork

    return campaign_status(campaign_id, lambda: UnitOfWork(engine))


def _finish(status: dict, *, as_json: bool, console) -> int:
    """Print the final status; returns the exit code: 0 when the campaign is done (or still
    on its way in the workers), 1 when it failed, was paused or cancelled."""
    from campaigns.cli.progress import status_table

    if as_json:
        _print_json(status)
    else:
        console.print(status_table(status))
    return EXIT_FAILED if status["state"] in SETTLED - {"done"} else EXIT_OK


def run_embedded(settings, engine, campaign_id: int, first_steps, *, show: bool, console,
                 until=SETTLED) -> dict:
    """Run one campaign inside this process until its state is in ``until`` (default: it
    ended), with progress bars when ``show``."""
    return run_embedded_many(settings, engine, [campaign_id], first_steps, show=show, console=console,
                             until=until)[campaign_id]


def run_embedded_many(settings, engine, campaign_ids: list[int], first_steps, *, show: bool, console,
                      until=SETTLED) -> dict[int, dict]:
    """Run campaigns inside this process until each one's state is in ``until``."""
    from campaigns.cli.progress import CampaignProgress
    from workers.embedded import EmbeddedRunner

    with EmbeddedRunner(settings, engine) as runner, \
            CampaignProgress(console, campaign_ids[0], enabled=show and len(campaign_ids) == 1) as bars:
        runner.schedule_all(first_steps)
        try:
            return runner.run(campaign_ids, on_progress=bars.update, until=until)
        except KeyboardInterrupt:
            ids = " ".join(map(str, campaign_ids))
            console.print(f"interrupted: campaign {ids} stays where it is; "
                          f"`campaigns resume {ids}` continues it, `campaigns cancel {ids}` ends it")
            raise typer.Exit(130) from None


def wait_in_database(engine, campaign_id: int, *, show: bool, console, every: float = 0.5) -> dict:
    """Follow a campaign the workers run, from the database, until it settles."""
    from campaigns.cli.progress import CampaignProgress

    with CampaignProgress(console, campaign_id, enabled=show) as bars:
        try:
            while True:
                status = _status(campaign_id, engine)
                bars.update({campaign_id: status})
                if status["state"] in SETTLED:
                    return status
                time.sleep(every)
        except KeyboardInterrupt:
            console.print(f"stopped waiting: campaign {campaign_id} goes on in the workers")
            raise typer.Exit(130) from None


def _submit(ctx: typer.Context, path: Path, request, *, wait: bool, as_json: bool, settings=None) -> dict:
    """Ingest ``path``, create the campaign and run it (embedded) or enqueue it (broker).
    Returns the campaign's latest status; raises typer.Exit when the file or the options
    are refused."""
    from campaigns.ingest.readers import FileRefused
    from campaigns.services.submit import InvalidCampaign, submit_campaign

    settings = settings or settings_of(ctx)
    if request.provider == "sandbox":
        settings = _settings_for_sandbox(settings)
    _check_provider(settings, request.provider)
    console = _console(stderr=as_json)
    _setup_logging(console)
    engine = _open_engine(settings)
    try:
        with console.status(f"reading {path.name}", spinner="dots"):
            try:
                result = submit_campaign(path, request, settings, engine)
            except FileRefused as exc:
                raise _fail(str(exc)) from None
            except InvalidCampaign as exc:
                raise _fail(str(exc), EXIT_USAGE) from None
        if not as_json:
            console.print(f"campaign {result.campaign_id}: {_ingest_line(result.report)}")
        _warn(console, result.report)
        if settings.embedded and request.deferred_to:
            # The provider holds a deferred campaign until its time: hand it over and return.
            status = run_embedded(settings, engine, result.campaign_id, result.next, show=not as_json,
                                  console=console, until=_handed_over)
            if status["state"] == "running":
                console.print(f"campaign {result.campaign_id} is at the provider, which starts it at "
                              f"{request.deferred_to} (this computer's local time); `campaigns watch "
                              f"{result.campaign_id}` follows it to the end")
        elif settings.embedded:
            status = run_embedded(settings, engine, result.campaign_id, result.next, show=not as_json,
                                  console=console)
        else:
            status = _enqueue(settings, engine, result, wait=wait, show=not as_json, console=console)
        return status
    finally:
        engine.dispose()


def _handed_over(status: dict) -> bool:
    """The campaign ended, or runs at the provider and was polled there once (so its
    provider status is the provider's, DEFERRED for a deferred one)."""
    return status["state"] in SETTLED or (status["state"] == "running" and bool(status.get("counters")))


def _settings_for_sandbox(settings):
    """The in-process simulator runs on a fast clock: follow it at least once a second."""
    if settings.embedded and settings.sandbox_url is None:
        return settings.with_(poll_seconds=min(settings.poll_seconds, 1.0))
    return settings


def status_table_of(status: dict):
    from campaigns.cli.progress import status_table

    return status_table(status)


def _check_provider(settings, name: str) -> None:
    """Refuse (exit 2) a provider that is unknown or not configured, before the file is read."""
    from campaigns.providers.registry import make_provider

    if settings.embedded and name == "sandbox" and settings.sandbox_url is None:
        return  # the embedded runner starts the simulator itself
    try:
        make_provider(name, settings).close()
    except ValueError as exc:  # unknown name, missing key or sandbox URL (SettingsError)
        raise _fail(str(exc), EXIT_USAGE) from None


def _enqueue(settings, engine, result, *, wait: bool, show: bool, console) -> dict:
    return _enqueue_steps(settings, engine, result.campaign_id, result.next, wait=wait, show=show, console=console)


def _enqueue_steps(settings, engine, campaign_id: int, steps, *, wait: bool, show: bool, console) -> dict:
    """Hand ``steps`` to the workers through the broker; follow the campaign when ``wait``."""
    from workers.app import make_celery
    from workers.dispatch import CeleryDispatcher

    app = make_celery(settings)
    try:
        dispatcher = CeleryDispatcher(app)
        for step in steps:
            try:
                dispatcher.schedule(step)
            except Exception as exc:  # the beat's scanner picks up a queued campaign anyway
                console.print(f"[yellow]the broker did not take the campaign ({type(exc).__name__}); "
                              "the beat's scanner will start it[/yellow]")
    finally:
        app.close()
    if wait:
        return wait_in_database(engine, campaign_id, show=show, console=console)
    return _status(campaign_id, engine)


def _ingest_line(report) -> str:
    """One line about the file, from the ingest report (object or mapping)."""
    get = report.get if isinstance(report, dict) else (lambda k, d=None: getattr(report, k, d))
    parts = [f"{get('rows', 0)} rows", f"{get('valid', 0)} valid", f"{get('invalid', 0)} invalid",
             f"{get('duplicates', 0)} duplicates"]
    chunks = get("chunks")
    if chunks is not None:
        parts.append(f"{chunks if isinstance(chunks, int) else len(chunks)} chunks")
    return ", ".join(parts)


def _warn(console, report) -> None:
    """The file's warnings, as ``validate`` shows them (placeholders without a column or
    with empty values), before anything is sent."""
    problems = report.get("placeholder_problems") if isinstance(report, dict) else \
        getattr(report, "placeholder_problems", None)
    for problem in problems or ():
        console.print(f"[yellow]warning: {escape(problem)}[/yellow]")


CASCADE_OPTIONS = ("channels", "viber_text", "viber_sender", "sms_text", "sms_sender", "vk_template_id",
                   "vk_template_data", "button_text", "button_url", "image_url", "viber_validity", "viber_read_final")


def _cascade_options(given: dict, provider: str) -> dict | None:
    """submit's cascade options that were given (campaigns.providers.cascade.options);
    usage error (exit 2) when they are given for another provider."""
    options = {name: given[name] for name in CASCADE_OPTIONS if given.get(name) is not None}
    if provider == "cascade":
        return options
    if options:
        flags = ", ".join("--" + name.replace("_", "-") for name in options)
        raise typer.BadParameter(f"{flags} apply to --provider cascade only", param_hint="'--provider'")
    return None


def _uow_factory(engine):
    from campaigns.store.uow import UnitOfWork

    return lambda: UnitOfWork(engine)


def register(app: typer.Typer) -> None:
    @app.command("submit")
    def submit_cmd(
        ctx: typer.Context,
        file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                    help="Recipient file: CSV/TXT, XLS, XLSX or ODS."),
        text: str = typer.Option(..., "--text", help="Message text; {placeholders} make it a template campaign."),
        name: Optional[str] = typer.Option(None, "--name", help="Campaign name (default: the file's name)."),
        sender: Optional[str] = typer.Option(None, "--from", help="Sender signature registered with the provider."),
        provider: str = typer.Option("sandbox", "--provider", help="mobizon, smsc, cascade (Viber, VK, SMS), or sandbox (the built-in simulator)."),
        country: Optional[str] = typer.Option(None, "--country", callback=country_option,
                                              help="Default country (ISO code, e.g. KZ) for national numbers."),
        placeholders: Placeholders = typer.Option(
            Placeholders.keep, "--placeholders",
            help="A placeholder with no column or value: keep it as written, strip it, or reject the recipient."),
        rate_limit: Optional[int] = typer.Option(None, "--rate-limit", min=1, help="Messages per --rate-period."),
        rate_period: Optional[int] = typer.Option(None, "--rate-period", help="Seconds: 60, 3600 or 86400 (Mobizon); any for smsc (default SMSC_RATE_PERIOD)."),
        deferred_to: Optional[str] = typer.Option(
            None, "--deferred-to",
            help="Start later: 'YYYY-MM-DD HH:MM:SS' in this computer's local time (set the provider account to "
                 "the same time zone), 1 h to 14 days ahead."),
        validity: Optional[int] = typer.Option(None, "--validity", help="Minutes a message may wait (60-1440)."),
        mclass: Optional[int] = typer.Option(None, "--mclass", min=0, max=1, help="0 flash, 1 inbox."),
        channels: Optional[str] = typer.Option(None, "--channels", help="cascade: channels in the order tried, e.g. viber,vk,sms (default)."),
        viber_text: Optional[str] = typer.Option(None, "--viber-text", help="cascade: the Viber text (default --text)."),
        viber_sender: Optional[str] = typer.Option(None, "--viber-sender", help="cascade: the Viber sender (default --from)."),
        sms_text: Optional[str] = typer.Option(None, "--sms-text", help="cascade: the SMS text (default --text)."),
        sms_sender: Optional[str] = typer.Option(None, "--sms-sender", help="cascade: the SMS sender (default --from)."),
        vk_template_id: Optional[int] = typer.Option(None, "--vk-template-id", help="cascade: the approved VK template's id."),
        vk_template_data: Optional[str] = typer.Option(None, "--vk-template-data", help='cascade: the VK template\'s values as JSON, e.g. \'{"Name": "{name}"}\'.'),
        button_text: Optional[str] = typer.Option(None, "--button-text", help="cascade: Viber button text (up to 19 characters)."),
        button_url: Optional[str] = typer.Option(None, "--button-url", help="cascade: Viber button link."),
        image_url: Optional[str] = typer.Option(None, "--image-url", help="cascade: Viber image (needs a button)."),
        viber_validity: Optional[int] = typer.Option(None, "--viber-validity", help="cascade: minutes Viber tries before the next channel (default 60)."),
        viber_read_final: Optional[bool] = typer.Option(None, "--viber-read-final/--viber-delivered-final", help="cascade: a Viber message counts as delivered only once read.", show_default=False),
        encoding: Optional[str] = typer.Option(None, "--encoding", callback=encoding_option,
                                               help="Text encoding of a CSV (detected by default)."),
        sheet: Optional[str] = typer.Option(None, "--sheet", help="Sheet name or 1-based position of a spreadsheet (default: the first)."),
        excel_engine: ExcelEngine = typer.Option(ExcelEngine.calamine, "--excel-engine",
                                                 help="calamine (default), openpyxl (XLSX) or xlrd (XLS)."),
        wait: bool = typer.Option(False, "--wait", help="With a broker: wait until the campaign ends."),
        as_json: bool = typer.Option(False, "--json", help="Print the campaign's status as JSON."),
        ignore_suppression: bool = typer.Option(
            False, "--ignore-suppression",
            help="Send to suppressed (opted-out) phones too: transactional messages only; recorded on the campaign."),
    ) -> None:
        """Check FILE, create the campaign and send it.

        Without CAMPAIGNS_BROKER_URL it runs here until the campaign ends; with one it is
        queued for `campaigns worker` (add --wait to follow it)."""
        from campaigns.services.submit import SubmitRequest

        if not text.strip():
            raise typer.BadParameter("the message text is empty", param_hint="'--text'")
        request = SubmitRequest(
            text=text, name=name, provider=provider, sender=sender, country=country,
            placeholders=placeholders.value, rate_limit=rate_limit, rate_period=rate_period,
            deferred_to=deferred_to, validity=validity, mclass=mclass, encoding=encoding,
            sheet=sheet, excel_engine=excel_engine.value, ignore_suppression=ignore_suppression,
            cascade=_cascade_options(locals(), provider),
        )
        status = _submit(ctx, file, request, wait=wait, as_json=as_json)
        raise typer.Exit(_finish(status, as_json=as_json, console=_console()))

    @app.command("status")
    def status_cmd(
        ctx: typer.Context,
        campaign_id: int = typer.Argument(..., metavar="ID"),
        as_json: bool = typer.Option(False, "--json", help="Print the status as one JSON object."),
    ) -> None:
        """Show a campaign: state, recipients, chunks, the provider's counters."""
        from campaigns.cli.progress import status_table
        from campaigns.services.errors import CampaignNotFound

        from campaigns.services.callbacks import campaign_delivery

        engine = _open_engine(settings_of(ctx))
        try:
            status = _status(campaign_id, engine)
            # issue 11: sent messages by fate, kept current by callbacks and polling
            status["delivery"] = campaign_delivery(_uow_factory(engine), campaign_id)
        except CampaignNotFound as exc:
            raise _fail(str(exc)) from None
        finally:
            engine.dispose()
        if as_json:
            _print_json(status)
        else:
            _console().print(status_table(status))
            delivery = status.get("delivery") or {}
            if any(delivery.values()):
                _console().print("delivery: " + ", ".join(f"{name} {number:,}" for name, number in delivery.items()))

    @app.command("list")
    def list_cmd(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print a JSON list of status objects.")) -> None:
        """List the campaigns, newest first."""
        from campaigns.cli.progress import list_table
        from campaigns.services.status import list_campaigns

        engine = _open_engine(settings_of(ctx))
        try:
            campaigns = list_campaigns(_uow_factory(engine))
        finally:
            engine.dispose()
        if as_json:
            _print_json(campaigns)
        elif not campaigns:
            typer.echo("no campaigns yet")
        else:
            _console().print(list_table(campaigns))

    @app.command("cancel")
    def cancel_cmd(ctx: typer.Context, campaign_id: int = typer.Argument(..., metavar="ID")) -> None:
        """Cancel a campaign that has not finished; the provider deletes it while it still can.

        The campaign always stops here; what the provider answered is printed."""
        from campaigns.services.cancel import cancel_campaign
        from campaigns.services.errors import CampaignNotFound, CannotCancel
        from workers.embedded import SandboxProviders

        settings = settings_of(ctx)
        engine = _open_engine(settings)
        providers = SandboxProviders(settings, engine=engine)
        provider, unavailable = None, ""
        try:
            status = _status(campaign_id, engine)
            if status["provider_campaign_id"] and status["state"] not in SETTLED - {"paused"}:
                try:
                    provider = providers(status["provider"], settings)
                except ValueError as exc:  # unknown name, missing key (SettingsError)
                    unavailable = f"the provider cannot be reached from here ({exc})"
            outcome = cancel_campaign(campaign_id, _uow_factory(engine), provider, unavailable=unavailable,
                                      abandoned_after=settings.stall_seconds)
        except (CampaignNotFound, CannotCancel) as exc:
            raise _fail(str(exc)) from None
        finally:
            if provider is not None:
                getattr(provider, "close", lambda: None)()
            providers.close()
            engine.dispose()
        typer.echo(f"campaign {campaign_id} cancelled" + (f": {outcome.note}" if outcome.note else ""))

    @app.command("resume")
    def resume_cmd(
        ctx: typer.Context,
        campaign_id: int = typer.Argument(..., metavar="ID"),
        wait: bool = typer.Option(False, "--wait", help="With a broker: wait until the campaign ends."),
        as_json: bool = typer.Option(False, "--json", help="Print the campaign's status as JSON."),
    ) -> None:
        """Continue a campaign that has not finished: paused, or interrupted (Ctrl-C, a crash).

        A paused campaign goes on from the chunk where it stopped, an interrupted one from
        the step it was at. Without CAMPAIGNS_BROKER_URL it runs here until it ends."""
        from campaigns.services.errors import CampaignNotFound, CannotResume
        from campaigns.services.resume import resume_campaign

        settings = settings_of(ctx)
        console = _console(stderr=as_json)
        _setup_logging(console)
        engine = _open_engine(settings)
        try:
            try:
                steps = resume_campaign(campaign_id, _uow_factory(engine))
            except (CampaignNotFound, CannotResume) as exc:
                raise _fail(str(exc)) from None
            if _status(campaign_id, engine)["provider"] == "sandbox":
                settings = _settings_for_sandbox(settings)
            if settings.embedded:
                status = run_embedded(settings, engine, campaign_id, steps, show=not as_json, console=console)
            else:
                status = _enqueue_steps(settings, engine, campaign_id, steps, wait=wait, show=not as_json,
                                        console=console)
        finally:
            engine.dispose()
        raise typer.Exit(_finish(status, as_json=as_json, console=_console()))

    @app.command("report")
    def report_cmd(
        ctx: typer.Context,
        campaign_id: int = typer.Argument(..., metavar="ID"),
        output: Path = typer.Option(..., "-o", "--output", help="FILE.csv or FILE.xlsx"),
    ) -> None:
        """Write one row per source row: phones, local verdict, provider code, messageId, final status."""
        from campaigns.services.report import export_report
        from campaigns.services.errors import CampaignNotFound

        if output.suffix.lower() not in (".csv", ".xlsx"):
            raise _fail(f"{output}: the report is written as .csv or .xlsx", EXIT_USAGE)
        engine = _open_engine(settings_of(ctx))
        try:
            rows = export_report(campaign_id, _uow_factory(engine), output)
        except CampaignNotFound as exc:
            raise _fail(str(exc)) from None
        except OSError as exc:
            raise _fail(f"{output}: {exc.strerror or exc}") from None
        finally:
            engine.dispose()
        typer.echo(f"wrote {rows} rows to {output}")

    @app.command("demo")
    def demo_cmd(
        ctx: typer.Context,
        rows: int = typer.Option(2000, "--rows", min=1, max=1_000_000, help="Recipients to generate."),
        folder: Optional[Path] = typer.Option(None, "--dir", help="Where the file and report go (default: a new temp folder)."),
        as_json: bool = typer.Option(False, "--json", help="Print the final status (with the file and report paths) as JSON."),
    ) -> None:
        """Generate a realistic recipient file and run it end to end on the sandbox."""
        from campaigns.demo import DEMO_TEXT, demo_folder, write_demo_file
        from campaigns.services.submit import SubmitRequest

        settings = settings_of(ctx)
        folder = demo_folder(folder)
        if not settings.embedded:
            # Workers of a configured broker would not see this process's simulator: run the
            # demo on its own embedded database.
            settings = settings.with_(broker_url=None, redis_url=None,
                                      database_url=f"sqlite:///{folder / 'campaigns.db'}")
        source = write_demo_file(folder / "recipients.csv", rows)
        console = _console(stderr=as_json)
        if not as_json:
            console.print(f"generated {rows} rows in {source}")
        request = SubmitRequest(text=DEMO_TEXT, name=f"demo {rows} recipients", provider="sandbox", country="KZ")
        status = _submit(ctx, source, request, wait=True, as_json=as_json, settings=settings)
        report = folder / "report.csv"
        rows_written = _write_report(settings, status["id"], report)
        if as_json:
            status = {**status, "file": str(source), "report": str(report)}
        code = _finish(status, as_json=as_json, console=_console())
        console.print(f"report: {rows_written} rows written to {report}")
        raise typer.Exit(code)

    @app.command("worker", context_settings=PASSTHROUGH)
    def worker_cmd(ctx: typer.Context) -> None:
        """Start a Celery worker; celery worker options pass through (--concurrency 2 --loglevel info)."""
        _run_celery(ctx, "worker")

    @app.command("beat", context_settings=PASSTHROUGH)
    def beat_cmd(ctx: typer.Context) -> None:
        """Start the beat scheduler (the periodic tick); celery beat options pass through."""
        _run_celery(ctx, "beat")


def _write_report(settings, campaign_id: int, path: Path) -> int:
    from campaigns.services.report import export_report

    engine = _open_engine(settings)
    try:
        return export_report(campaign_id, _uow_factory(engine), path)
    finally:
        engine.dispose()


def _run_celery(ctx: typer.Context, command: str) -> None:
    import click

    from workers.app import make_celery

    settings = settings_of(ctx)
    if settings.embedded:
        raise _fail(f"CAMPAIGNS_BROKER_URL is not set: `campaigns {command}` needs a broker "
                    "(without one, `campaigns submit` runs the pipeline itself)", EXIT_USAGE)
    app = make_celery(settings)
    try:
        code = app.start([command, *ctx.args])
    except click.ClickException as exc:
        exc.show(file=sys.stderr)
        raise typer.Exit(exc.exit_code) from None
    raise typer.Exit(code or 0)


def follow_campaigns(ctx: typer.Context, campaign_ids: Optional[list[int]], as_json: bool) -> None:
    """Follow campaigns until they end: a deferred one, one interrupted, the rest (``campaigns
    watch [ID]...``, registered by campaigns.cli.watch).

    Without CAMPAIGNS_BROKER_URL the pipeline runs here for them (paused campaigns wait
    for `campaigns resume`); with one, the workers run them and this follows them."""
    from campaigns.services.errors import CampaignNotFound, CannotResume
    from campaigns.services.resume import resume_campaign, unfinished_campaigns

    settings = settings_of(ctx)
    console = _console(stderr=as_json)
    _setup_logging(console)
    engine = _open_engine(settings)
    try:
        ids = list(dict.fromkeys(campaign_ids or unfinished_campaigns(_uow_factory(engine))))
        statuses = []
        for campaign_id in ids:
            try:
                statuses.append(_status(campaign_id, engine))
            except CampaignNotFound as exc:
                raise _fail(str(exc)) from None
        if any(st["provider"] == "sandbox" for st in statuses):
            settings = _settings_for_sandbox(settings)
        if not ids:
            console.print("nothing to watch: no campaign is on its way")
        elif settings.embedded:
            steps = []
            for status in statuses:
                if status["state"] not in SETTLED:
                    try:
                        steps += resume_campaign(status["id"], _uow_factory(engine))
                    except CannotResume:
                        pass  # still being read from its file, or ended meanwhile
            statuses = list(run_embedded_many(settings, engine, ids, steps, show=not as_json,
                                              console=console).values())
        else:
            statuses = [wait_in_database(engine, i, show=not as_json, console=console) for i in ids]
    finally:
        engine.dispose()
    if as_json:
        _print_json(statuses)
    for status in [] if as_json else statuses:
        _console().print(status_table_of(status))
    raise typer.Exit(EXIT_FAILED if any(s["state"] in SETTLED - {"done"} for s in statuses) else EXIT_OK)
