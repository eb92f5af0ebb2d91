"""``campaigns schedule …`` (recurring campaigns, issue 13) and ``campaigns approve ID``.

Each command parses its options, calls one service of campaigns.schedules, and maps its
errors onto exit codes: an invalid cron expression, zone or time is a usage error (2)
naming what is wrong; an unknown schedule or a refused change is 1.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Optional

import typer

from campaigns.cli import settings_of
from campaigns.cli.validate import country_option, encoding_option

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    from campaigns.redact import redact

    typer.echo(f"error: {redact(message)}", err=True)
    return typer.Exit(code)


def _open(ctx: typer.Context):
    from campaigns.store.engine import open_database
    from campaigns.store.uow import UnitOfWork

    settings = settings_of(ctx)
    engine = open_database(settings.database_url)
    return settings, engine, (lambda: UnitOfWork(engine))


def _now(settings) -> datetime:
    from campaigns.schedules.clock import schedule_clock

    return schedule_clock(settings)()


def _echo_json(obj) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, indent=2))


def _call(call):
    """``call()`` with the services' errors as exit codes."""
    from campaigns.schedules.cron import ScheduleInputError
    from campaigns.schedules.headers import HeaderKeyMissing
    from campaigns.schedules.manage import ScheduleNotFound
    from campaigns.services.enqueue import UnknownProvider

    try:
        return call()
    except HeaderKeyMissing as exc:
        raise _fail(str(exc)) from None
    except ScheduleInputError as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    except (ScheduleNotFound, UnknownProvider) as exc:
        raise _fail(str(exc)) from None


def _moments(start: Optional[str], end: Optional[str], tz_name: str):
    """--start / --end as UTC moments (local to the schedule's zone when they carry no offset)."""
    from campaigns.schedules.cron import ScheduleInputError, parse_moment, zone

    try:
        tz = zone(tz_name)
    except ScheduleInputError:
        tz = zone("UTC")  # the zone's own error is reported with the others
    return (parse_moment(start, tz, "--start") if start else None,
            parse_moment(end, tz, "--end") if end else None)


def _headers(raw: Optional[list[str]]) -> dict[str, str]:
    from campaigns.schedules.headers import parse_header

    return dict(parse_header(h) for h in raw or [])


def _options(**values) -> dict:
    return {k: (v.value if hasattr(v, "value") else v) for k, v in values.items() if v is not None}


def _print_schedule(view: dict) -> None:
    nxt = view["next_fire"]
    last = view["last_run"]
    lines = [
        f"schedule {view['id']} {view['name']!r}{' (paused)' if view['paused'] else ''}",
        f"  cron       {view['cron']}  in {view['tz']}",
        f"  source     {view['source']}" + (f"  (headers: {', '.join(view['source_headers'])})"
                                             if view["source_headers"] else ""),
        f"  text       {view['text']}",
        f"  next fire  {nxt['local']}  ({nxt['utc']} UTC)" if nxt else "  next fire  none",
        f"  misfire    {view['misfire']} (grace {view['grace_seconds']} s)",
    ]
    if view["options"]:
        lines.append("  options    " + ", ".join(f"{k}={v}" for k, v in sorted(view["options"].items())))
    if view["start"] or view["end"]:
        lines.append(f"  window     {view['start'] or '…'} to {view['end'] or '…'}")
    if view["exclude_sent_within_days"]:
        lines.append(f"  excludes   recipients this schedule sent to within {view['exclude_sent_within_days']} days")
    if view["require_approval"]:
        lines.append(f"  approval   required, within {view['approval_timeout_seconds']} s")
    if last:
        lines.append(f"  last run   {last['fire_time']['local']}: {_run_line(last)}")
    typer.echo("\n".join(lines))


def _run_line(run: dict) -> str:
    if run["campaign_id"] is None:
        return run["reason"] or run["outcome"]
    text = f"campaign {run['campaign_id']} {run['state']}"
    if run["reason"]:
        text += f": {run['reason']}"
    return text


def register(app: typer.Typer) -> None:
    sched = typer.Typer(help="Recurring campaigns: a cron rhythm in a time zone, a source read at each fire time.",
                        no_args_is_help=True)
    app.add_typer(sched, name="schedule")

    @sched.command("add")
    def add_cmd(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="A unique name; each run's campaign is named NAME and its local time."),
        cron_expr: str = typer.Option(..., "--cron", help="5 fields (minute hour day month weekday), names like MON "
                                                          "and JAN, or @daily, @weekly, @monthly, @yearly, @hourly."),
        tz: str = typer.Option(..., "--tz", help="IANA time zone of the cron times, e.g. Asia/Almaty."),
        source: str = typer.Option(..., "--source", help="Read at each fire time: a path, file://, s3://bucket/key, "
                                                         "s3://bucket/prefix/ (newest object) or https:// URL."),
        text: str = typer.Option(..., "--text", help="Message text; {placeholders} make it a template campaign."),
        source_header: Optional[list[str]] = typer.Option(
            None, "--source-header", help="'Name: value' sent with an https source (repeatable); kept encrypted "
                                          "(needs CAMPAIGNS_SECRET_KEY), never shown."),
        sender: Optional[str] = typer.Option(None, "--from", help="Sender signature registered with the provider."),
        provider: str = typer.Option("sandbox", "--provider", help="mobizon, smsc, or sandbox."),
        country: Optional[str] = typer.Option(None, "--country", callback=country_option,
                                              help="Default country (ISO code) for national numbers."),
        placeholders: Optional[str] = typer.Option(None, "--placeholders", help="keep, strip or reject."),
        rate_limit: Optional[int] = typer.Option(None, "--rate-limit", min=1, help="Messages per --rate-period."),
        rate_period: Optional[int] = typer.Option(None, "--rate-period", help="Seconds."),
        validity: Optional[int] = typer.Option(None, "--validity", help="Minutes a message may wait (60-1440)."),
        mclass: Optional[int] = typer.Option(None, "--mclass", min=0, max=1, help="0 flash, 1 inbox."),
        encoding: Optional[str] = typer.Option(None, "--encoding", callback=encoding_option,
                                               help="Text encoding of a CSV (detected by default)."),
        sheet: Optional[str] = typer.Option(None, "--sheet", help="Sheet name or 1-based position."),
        start: Optional[str] = typer.Option(None, "--start", help="ISO time before which it does not fire "
                                                                 "(local to --tz without an offset)."),
        end: Optional[str] = typer.Option(None, "--end", help="ISO time after which it does not fire."),
        misfire: str = typer.Option("skip", "--misfire", help="When no beat ran at a fire time: skip (fire only if "
                                                              "at most --grace late) or once (one run for all missed)."),
        grace: int = typer.Option(300, "--grace", help="Seconds a fire may be late and still fire (misfire skip)."),
        exclude_sent_within: Optional[int] = typer.Option(
            None, "--exclude-sent-within", metavar="DAYS",
            help="Leave out recipients this schedule sent to within DAYS days."),
        require_approval: bool = typer.Option(False, "--require-approval",
                                              help="Each run waits in awaiting_approval for `campaigns approve ID`."),
        approval_timeout: int = typer.Option(86400, "--approval-timeout",
                                             help="Seconds before a run not approved is cancelled."),
        as_json: bool = typer.Option(False, "--json", help="Print the schedule as a JSON object."),
    ) -> None:
        """Add a schedule: a campaign from SOURCE at every fire time of --cron in --tz."""
        from campaigns.schedules.manage import ScheduleSpec, add_schedule

        settings, engine, uow_factory = _open(ctx)
        try:
            def add():
                first, last = _moments(start, end, tz)
                spec = ScheduleSpec(
                    name=name, cron=cron_expr, tz=tz, source=source, text=text, headers=_headers(source_header),
                    options=_options(provider=provider, sender=sender, country=country, placeholders=placeholders,
                                     rate_limit=rate_limit, rate_period=rate_period, validity=validity,
                                     mclass=mclass, encoding=encoding, sheet=sheet),
                    start=first, end=last, misfire=misfire, grace=grace, exclude_days=exclude_sent_within,
                    require_approval=require_approval, approval_timeout=approval_timeout,
                )
                return add_schedule(spec, uow_factory, settings, now=_now(settings))

            view = _call(add)
        finally:
            engine.dispose()
        if as_json:
            _echo_json(view)
        else:
            _print_schedule(view)

    @sched.command("list")
    def list_cmd(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print a JSON list.")) -> None:
        """Every schedule with its next fire time (its zone and UTC) and its last run."""
        from campaigns.schedules.manage import list_schedules

        settings, engine, uow_factory = _open(ctx)
        try:
            views = _call(lambda: list_schedules(uow_factory, now=_now(settings)))
        finally:
            engine.dispose()
        if as_json:
            _echo_json(views)
            return
        if not views:
            typer.echo("no schedules yet: campaigns schedule add NAME --cron … --tz … --source … --text …")
            return
        from rich.console import Console
        from rich.table import Table

        table = Table("id", "name", "cron", "zone", "next fire (local)", "next fire (UTC)", "last run")
        for v in views:
            nxt = v["next_fire"]
            last = v["last_run"]
            table.add_row(str(v["id"]), v["name"] + (" (paused)" if v["paused"] else ""), v["cron"], v["tz"],
                          nxt["local"] if nxt else "-", nxt["utc"] if nxt else "-",
                          _run_line(last) if last else "-")
        Console(highlight=False, width=200).print(table)

    @sched.command("show")
    def show_cmd(ctx: typer.Context, schedule_id: int = typer.Argument(..., metavar="ID"),
                 as_json: bool = typer.Option(False, "--json", help="Print the schedule as a JSON object.")) -> None:
        """One schedule in full (header values are never shown)."""
        from campaigns.schedules.manage import get_schedule

        settings, engine, uow_factory = _open(ctx)
        try:
            view = _call(lambda: get_schedule(schedule_id, uow_factory, now=_now(settings)))
        finally:
            engine.dispose()
        _echo_json(view) if as_json else _print_schedule(view)

    @sched.command("next")
    def next_cmd(ctx: typer.Context, schedule_id: int = typer.Argument(..., metavar="ID"),
                 count: int = typer.Option(5, "--count", min=1, max=1000, help="How many fire times."),
                 as_json: bool = typer.Option(False, "--json", help="Print a JSON list of {local, utc}.")) -> None:
        """The schedule's next fire times, in its zone and in UTC."""
        from campaigns.schedules.manage import next_fires

        settings, engine, uow_factory = _open(ctx)
        try:
            times = _call(lambda: next_fires(schedule_id, count, uow_factory, now=_now(settings)))
        finally:
            engine.dispose()
        if as_json:
            _echo_json(times)
        else:
            for t in times:
                typer.echo(f"{t['local']}  ({t['utc']} UTC)")
            if not times:
                typer.echo("no more fire times (the schedule's --end has passed)")

    @sched.command("runs")
    def runs_cmd(ctx: typer.Context, schedule_id: int = typer.Argument(..., metavar="ID"),
                 as_json: bool = typer.Option(False, "--json", help="Print a JSON list, newest first.")) -> None:
        """Every fire of the schedule: its time, its campaign and state, or why it was skipped."""
        from campaigns.schedules.manage import schedule_runs

        settings, engine, uow_factory = _open(ctx)
        try:
            runs = _call(lambda: schedule_runs(schedule_id, uow_factory))
        finally:
            engine.dispose()
        if as_json:
            _echo_json(runs)
            return
        if not runs:
            typer.echo("no runs yet")
        for run in runs:
            typer.echo(f"{run['fire_time']['local']}  {_run_line(run)}")

    def _pause(ctx: typer.Context, schedule_id: int, paused: bool, as_json: bool) -> None:
        from campaigns.schedules.manage import set_paused

        settings, engine, uow_factory = _open(ctx)
        try:
            view = _call(lambda: set_paused(schedule_id, paused, uow_factory, now=_now(settings)))
        finally:
            engine.dispose()
        if as_json:
            return _echo_json(view)
        nxt = view["next_fire"]
        typer.echo(f"schedule {schedule_id} {'paused' if paused else 'resumed'}"
                   + (f"; next fire {nxt['local']}" if nxt else ""))

    @sched.command("pause")
    def pause_cmd(ctx: typer.Context, schedule_id: int = typer.Argument(..., metavar="ID"),
                  as_json: bool = typer.Option(False, "--json", help="Print the schedule as a JSON object.")) -> None:
        """Stop firing until `schedule resume` (runs already made go on)."""
        _pause(ctx, schedule_id, True, as_json)

    @sched.command("resume")
    def resume_cmd(ctx: typer.Context, schedule_id: int = typer.Argument(..., metavar="ID"),
                  as_json: bool = typer.Option(False, "--json", help="Print the schedule as a JSON object.")) -> None:
        """Fire again from the next fire time on (the times while paused are not made up)."""
        _pause(ctx, schedule_id, False, as_json)

    @sched.command("edit")
    def edit_cmd(
        ctx: typer.Context,
        schedule_id: int = typer.Argument(..., metavar="ID"),
        name: Optional[str] = typer.Option(None, "--name", help="A new name."),
        cron_expr: Optional[str] = typer.Option(None, "--cron", help="A new cron expression (fires count from now)."),
        tz: Optional[str] = typer.Option(None, "--tz", help="A new IANA time zone."),
        source: Optional[str] = typer.Option(None, "--source", help="A new source."),
        text: Optional[str] = typer.Option(None, "--text", help="A new message text."),
        source_header: Optional[list[str]] = typer.Option(None, "--source-header",
                                                          help="Replace the source headers ('Name: value')."),
        no_source_headers: bool = typer.Option(False, "--no-source-headers", help="Drop the source headers."),
        sender: Optional[str] = typer.Option(None, "--from", help="Sender signature."),
        provider: Optional[str] = typer.Option(None, "--provider", help="mobizon, smsc, or sandbox."),
        country: Optional[str] = typer.Option(None, "--country", callback=country_option, help="Default country."),
        placeholders: Optional[str] = typer.Option(None, "--placeholders", help="keep, strip or reject."),
        rate_limit: Optional[int] = typer.Option(None, "--rate-limit", min=1, help="Messages per --rate-period."),
        rate_period: Optional[int] = typer.Option(None, "--rate-period", help="Seconds."),
        validity: Optional[int] = typer.Option(None, "--validity", help="Minutes a message may wait (60-1440)."),
        mclass: Optional[int] = typer.Option(None, "--mclass", min=0, max=1, help="0 flash, 1 inbox."),
        encoding: Optional[str] = typer.Option(None, "--encoding", callback=encoding_option,
                                               help="Text encoding of a CSV."),
        sheet: Optional[str] = typer.Option(None, "--sheet", help="Sheet name or 1-based position."),
        start: Optional[str] = typer.Option(None, "--start", help="ISO time before which it does not fire."),
        end: Optional[str] = typer.Option(None, "--end", help="ISO time after which it does not fire."),
        misfire: Optional[str] = typer.Option(None, "--misfire", help="skip or once."),
        grace: Optional[int] = typer.Option(None, "--grace", help="Seconds a fire may be late."),
        exclude_sent_within: Optional[int] = typer.Option(None, "--exclude-sent-within", metavar="DAYS",
                                                          help="Leave out recipients sent to within DAYS days."),
        no_exclude: bool = typer.Option(False, "--no-exclude", help="Stop leaving out recent recipients."),
        require_approval: Optional[bool] = typer.Option(None, "--require-approval/--no-approval",
                                                        help="Whether each run waits for approval."),
        approval_timeout: Optional[int] = typer.Option(None, "--approval-timeout", help="Seconds to approve a run."),
        as_json: bool = typer.Option(False, "--json", help="Print the schedule as a JSON object."),
    ) -> None:
        """Change a schedule; options not given stay as they are."""
        from campaigns.schedules.manage import edit_schedule, get_schedule

        settings, engine, uow_factory = _open(ctx)
        try:
            def edit():
                now = _now(settings)
                current = get_schedule(schedule_id, uow_factory, now=now)
                changes: dict = {}
                for key, value in (("name", name), ("cron", cron_expr), ("tz", tz), ("source", source),
                                   ("text", text), ("misfire", misfire), ("grace", grace),
                                   ("exclude_days", exclude_sent_within), ("require_approval", require_approval),
                                   ("approval_timeout", approval_timeout)):
                    if value is not None:
                        changes[key] = value
                if no_exclude:
                    changes["exclude_days"] = None
                first, last = _moments(start, end, tz or current["tz"])
                if first is not None:
                    changes["start"] = first
                if last is not None:
                    changes["end"] = last
                options = _options(sender=sender, provider=provider, country=country, placeholders=placeholders,
                                   rate_limit=rate_limit, rate_period=rate_period, validity=validity, mclass=mclass,
                                   encoding=encoding, sheet=sheet)
                if options:
                    changes["options"] = options
                if source_header or no_source_headers:
                    changes["headers"] = _headers(source_header)
                return edit_schedule(schedule_id, changes, uow_factory, settings, now=now)

            view = _call(edit)
        finally:
            engine.dispose()
        _echo_json(view) if as_json else _print_schedule(view)

    @sched.command("delete")
    def delete_cmd(ctx: typer.Context, schedule_id: int = typer.Argument(..., metavar="ID"),
                   as_json: bool = typer.Option(False, "--json", help='Print {"deleted": ID}.')) -> None:
        """Delete a schedule and its record of runs; the campaigns it made stay."""
        from campaigns.schedules.manage import delete_schedule

        settings, engine, uow_factory = _open(ctx)
        try:
            _call(lambda: delete_schedule(schedule_id, uow_factory, now=_now(settings)))
        finally:
            engine.dispose()
        typer.echo(json.dumps({"deleted": schedule_id}) if as_json else f"schedule {schedule_id} deleted")

    @sched.command("preview")
    def preview_cmd(
        cron_expr: str = typer.Option(..., "--cron", help="A cron expression."),
        tz: str = typer.Option(..., "--tz", help="An IANA time zone."),
        start: Optional[str] = typer.Option(None, "--from", help="ISO time to count from (default: now; local to "
                                                                 "--tz without an offset)."),
        count: int = typer.Option(10, "--count", help="How many fire times (1-1000)."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON array of ISO 8601 times with offsets."),
    ) -> None:
        """Print the next fire times of --cron in --tz; stores nothing."""
        from campaigns.schedules.clock import real_clock
        from campaigns.schedules.cron import parse_moment, zone
        from campaigns.schedules.manage import preview

        def run():
            moment = real_clock()
            if start:
                moment = parse_moment(start, zone(tz), "--from")
            return preview(cron_expr, tz, moment, count)

        times = _call(run)
        if as_json:
            typer.echo(json.dumps([t.isoformat() for t in times]))
        else:
            for t in times:
                typer.echo(t.isoformat())

    @app.command("approve")
    def approve_cmd(
        ctx: typer.Context,
        campaign_id: int = typer.Argument(..., metavar="ID"),
        wait: bool = typer.Option(False, "--wait", help="With a broker: wait until the campaign ends."),
        as_json: bool = typer.Option(False, "--json", help="Print the campaign's status as JSON."),
    ) -> None:
        """Start a scheduled run that awaits approval (drop it with `campaigns cancel ID`).

        Without CAMPAIGNS_BROKER_URL it runs here until it ends; with one, the workers run it."""
        from campaigns.cli.pipeline import _console, _enqueue_steps, _finish, _settings_for_sandbox, run_embedded
        from campaigns.services.approval import CannotApprove, approve_campaign
        from campaigns.services.errors import CampaignNotFound
        from campaigns.services.status import campaign_status

        settings, engine, uow_factory = _open(ctx)
        console = _console(stderr=as_json)
        try:
            try:
                steps = approve_campaign(campaign_id, uow_factory)
            except (CampaignNotFound, CannotApprove) as exc:
                raise _fail(str(exc)) from None
            if campaign_status(campaign_id, uow_factory)["provider"] == "sandbox":
                settings = _settings_for_sandbox(settings)
            console.print(f"campaign {campaign_id} approved")
            if settings.embedded:
                status = run_embedded(settings, engine, campaign_id, steps, show=not as_json, console=console)
            else:
                status = _enqueue_steps(settings, engine, campaign_id, steps, wait=wait, show=not as_json,
                                        console=console)
        finally:
            engine.dispose()
        raise typer.Exit(_finish(status, as_json=as_json, console=_console()))
