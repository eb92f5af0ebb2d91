"""``campaigns watch``: take the recipient files dropped in the watched locations
(CAMPAIGNS_WATCH), or follow campaigns until they end (``watch ID...``, or with nothing to
watch, every campaign on its way).

Without CAMPAIGNS_BROKER_URL the pipeline runs here: the drops' steps and the campaigns
they start, until interrupted (``--once``: one scan, until the campaigns it started end).
With a broker, the scan's steps go to the workers (beat scans too, every
CAMPAIGNS_WATCH_SECONDS). ``--list`` shows each location's drops by state.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from typing import Optional

import typer
from rich.markup import escape

from campaigns.cli import settings_of
from campaigns.cli.pipeline import (
    EXIT_FAILED, EXIT_OK, EXIT_USAGE, _console, _fail, _open_engine, _print_json, _settings_for_sandbox,
    _setup_logging, _uow_factory, follow_campaigns,
)

# A test aid: the process kills itself (SIGKILL) right after its first scan's claims are
# committed, before any of them is taken (tests of "a process killed after the claim").
KILL_AFTER_CLAIM = "CAMPAIGNS_WATCH_KILL_AFTER_CLAIM"
FINISHED = frozenset({"done", "rejected", "gone"})
CAMPAIGN_ENDED = frozenset({"done", "failed", "cancelled", "paused"})


def register(app: typer.Typer) -> None:
    @app.command("watch")
    def watch_cmd(
        ctx: typer.Context,
        campaign_ids: Optional[list[int]] = typer.Argument(
            None, metavar="[ID]...", help="Campaigns to follow until they end (instead of watching locations)."),
        once: bool = typer.Option(False, "--once", help="Scan the locations once; wait for the campaigns started."),
        list_: bool = typer.Option(False, "--list", help="Show each location's waiting, in-progress, processed "
                                                         "and rejected drops."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON: the drops (--once, --list; one object a "
                                                           "line while watching) or the campaigns' statuses."),
    ) -> None:
        """Take the recipient files dropped in CAMPAIGNS_WATCH (folders, S3 prefixes) as campaigns.

        Each file with its settings (promo.csv + promo.json, or the folder's _campaign.json)
        becomes one campaign; the results go beside it in processed/, rejected/ and reports/.
        Given IDs, or with nothing to watch, follows campaigns until they end instead."""
        settings = settings_of(ctx)
        if campaign_ids or (not settings.watch and not once and not list_):
            if once or list_:
                raise _fail("--once and --list watch the locations; they take no campaign ID", EXIT_USAGE)
            return follow_campaigns(ctx, campaign_ids, as_json)
        if not settings.watch:
            raise _fail("nothing to watch: set CAMPAIGNS_WATCH to file:///folder or s3://bucket/prefix/ "
                        "(comma-separated)", EXIT_USAGE)
        from campaigns.intake.locations import LocationError, watched

        try:
            storages = watched(settings)
        except LocationError as exc:
            raise _fail(f"CAMPAIGNS_WATCH: {exc}", EXIT_USAGE) from None
        engine = _open_engine(settings)
        try:
            if list_:
                return _list(settings, engine, storages, as_json)
            code = _watch(settings, engine, storages, once=once, as_json=as_json)
        finally:
            engine.dispose()
        raise typer.Exit(code)


def _list(settings, engine, storages, as_json: bool) -> None:
    from campaigns.intake.overview import GROUPS, drops_by_location

    locations = drops_by_location(settings, _uow_factory(engine), storages=storages)
    if as_json:
        _print_json(locations)
        return
    from rich.table import Table

    console = _console()
    for loc in locations:
        counts = ", ".join(f"{loc['counts'][g]} {g.replace('_', ' ')}" for g in GROUPS)
        console.print(f"[bold]{escape(loc['location'])}[/bold]: {counts}")
        if loc["error"]:
            console.print(f"  [red]cannot be listed: {escape(loc['error'])}[/red]")
        table = Table(show_edge=False, pad_edge=False)
        for column in ("state", "file", "campaign", "detail"):
            table.add_column(column)
        for group in GROUPS:
            for item in loc[group]:
                campaign = f"{item['campaign_id']} {item['campaign_state']}" if item.get("campaign_id") else ""
                detail = item.get("reason") or item.get("error") or item.get("report") or item.get("result") or ""
                table.add_row(group.replace("_", " "), escape(item["path"]), campaign, escape(detail))
        if table.row_count:
            console.print(table)


def _watch(settings, engine, storages, *, once: bool, as_json: bool) -> int:
    """Scan (once, or every CAMPAIGNS_WATCH_SECONDS until interrupted), run or dispatch the
    steps, print what becomes of each drop; returns the exit code."""
    from workers.tasks import TRANSIENT_DB_ERRORS

    console = _console(stderr=as_json)
    _setup_logging(console)
    uow_factory = _uow_factory(engine)
    runtime = _Runtime(settings, engine)
    shown = _Progress(uow_factory, console, as_json=as_json and not once)
    mine: set[int] = set()
    try:
        next_scan = 0.0
        while True:
            now = time.monotonic()
            try:
                if now >= next_scan and not (once and next_scan):
                    next_scan = _scan(settings, uow_factory, storages, runtime, console, mine, now)
                states = shown.update(mine)
            except TRANSIENT_DB_ERRORS as exc:  # the database restarting: the next scan tries again
                if once:
                    raise
                console.print(f"[yellow]database unavailable ({type(exc).__name__}); trying again[/yellow]")
                time.sleep(max(settings.watch_seconds, 0.05))
                continue
            if once and (not runtime.embedded or _all_finished(states)):
                break
            if not once:  # a long watch follows only the drops still on their way
                mine.difference_update(i for i, (state, _) in states.items() if state in FINISHED)
            if once:
                runtime.dispatch(_final_steps(uow_factory, states))
            time.sleep(0.2 if once else min(0.5, max(next_scan - time.monotonic(), 0.01)))
    except KeyboardInterrupt:
        console.print("stopped watching; drops being taken are finished by the next scan (beat, serve, watch)")
        return 130
    finally:
        runtime.close()
    states = shown.update(mine)
    if once and as_json:
        _print_json(shown.items(mine))
    if once and not mine:
        console.print("nothing dropped: no file ready in " + ", ".join(s.location for s in storages))
    bad = [s for s in states.values() if s[0] in ("rejected", "gone") or (s[1] or "done") != "done"]
    return EXIT_FAILED if once and bad else EXIT_OK


def _scan(settings, uow_factory, storages, runtime, console, mine: set[int], now: float) -> float:
    """One scan, its steps handed to the runtime; returns when the next scan is due."""
    from campaigns.intake.scan import scan_locations

    next_scan = now + max(settings.watch_seconds, 0.05)
    scans = scan_locations(settings, uow_factory, storages=storages)
    # a file still settling is taken by a scan the moment it has settled
    settling = [s.settles_at for s in scans if s.settles_at is not None]
    if settling:
        next_scan = min(next_scan, now + max(min(settling) - time.time(), 0.0) + 0.05)
    if os.environ.get(KILL_AFTER_CLAIM) and any(s.claimed for s in scans):
        os.kill(os.getpid(), signal.SIGKILL)
    for scan in scans:
        if scan.error:
            console.print(f"[yellow]{escape(scan.location)}: {escape(scan.error)}[/yellow]")
        mine.update(step.campaign_id for step in scan.steps)
        runtime.dispatch(scan.steps)
    return next_scan


def _all_finished(states: dict[int, tuple]) -> bool:
    return all(state in FINISHED or (state == "processed" and campaign in CAMPAIGN_ENDED - {"done", "failed",
                                                                                               "cancelled"})
               for state, campaign in states.values())


def _final_steps(uow_factory, states: dict[int, tuple]):
    """A processed drop whose campaign ended needs one more step (its report); the scan
    would issue it, but ``--once`` scans no more."""
    from campaigns.services.next import Next

    return [Next("drop", drop_id) for drop_id, (state, campaign) in states.items()
            if state in ("claimed", "created", "refused") or (state == "processed" and campaign in
                                                              ("done", "failed", "cancelled"))]


class _Runtime:
    """Where the steps run: an embedded runner serving in a thread (no broker), or Celery."""

    def __init__(self, settings, engine):
        self.embedded = settings.embedded
        self._thread = None
        if self.embedded:
            from workers.embedded import EmbeddedRunner

            # the runner's own tick must not scan too: this command scans when it means to
            self.runner = EmbeddedRunner(_settings_for_sandbox(settings).with_(watch=()), engine)
            self._thread = threading.Thread(target=self.runner.serve, name="campaigns-watch-runner", daemon=True)
            self._thread.start()
            self._last: dict[int, float] = {}
        else:
            from workers.app import make_celery
            from workers.dispatch import CeleryDispatcher

            self.app = make_celery(settings)
            self.dispatcher = CeleryDispatcher(self.app)

    def dispatch(self, steps) -> None:
        from workers.dispatch import dispatch_all

        if not self.embedded:
            dispatch_all(self.dispatcher, steps)
            return
        now = time.monotonic()
        for step in steps:  # the same drop at most once a second: its step is quick to refuse a duplicate
            if now - self._last.get(step.campaign_id, -10.0) >= 1.0 or step.action != "drop":
                self._last[step.campaign_id] = now
                self.runner.schedule(step)

    def close(self) -> None:
        if self.embedded:
            self.runner.stop_serving()
            self._thread.join()
            self.runner.close()
        else:
            self.app.close()


class _Progress:
    """Prints what becomes of each drop, once per change."""

    def __init__(self, uow_factory, console, *, as_json: bool):
        self.uow_factory, self.console, self.as_json = uow_factory, console, as_json
        self.seen: dict[int, tuple] = {}

    def _rows(self, drop_ids) -> list[dict]:
        """Each drop as ``campaigns.intake.overview`` shows it, with its location."""
        from sqlalchemy import select

        from campaigns.intake.overview import drop_item
        from campaigns.store.drops import Drop
        from campaigns.store.models import Campaign

        with self.uow_factory() as uow:
            rows = uow.session.execute(
                select(Drop, Campaign.state).outerjoin(Campaign, Campaign.id == Drop.campaign_id)
                .where(Drop.id.in_(list(drop_ids))).order_by(Drop.id)).all()
            return [{"location": drop.location, **drop_item(drop, campaign_state), "stem": drop.result_stem}
                    for drop, campaign_state in rows]

    def update(self, drop_ids) -> dict[int, tuple]:
        if not drop_ids:
            return {}
        states = {}
        for item in self._rows(drop_ids):
            now = (item["state"], item["campaign_state"])
            states[item["drop"]] = now
            if self.seen.get(item["drop"]) != now:
                self.seen[item["drop"]] = now
                self._print(item)
        return states

    def items(self, drop_ids) -> list[dict]:
        return [{k: v for k, v in item.items() if k != "stem"} for item in self._rows(drop_ids)]

    def _print(self, item: dict) -> None:
        if self.as_json:
            typer.echo(json.dumps({k: v for k, v in item.items() if k != "stem"}, ensure_ascii=False))
            return
        name, state = escape(item["path"]), item["state"]
        if state in ("waiting", "claimed"):
            line = f"{name}: taking it (drop {item['drop']})"
        elif state in ("created", "processed"):
            line = f"{name}: campaign {item['campaign_id']} {item['campaign_state']}"
        elif state == "done":
            line = f"{name}: campaign {item['campaign_id']} {item['campaign_state']}; report: {escape(item['report'] or '')}"
        elif state in ("refused", "rejected"):
            line = f"{name}: rejected: {escape(item['error'] or '')}"
        else:
            line = f"{name}: {escape(item['error'] or state)}"
        self.console.print(line, soft_wrap=True)
