"""``campaigns inbox``: incoming messages (SMSC's replies pushed to ``campaigns serve``),
newest first, each with the campaign and recipient it answers when known; ``campaigns
callbacks``: every pushed event and its outcome (``--unmatched``: those for messages this
database does not know)."""

from __future__ import annotations

import json
from typing import Optional

import typer

from campaigns.cli import settings_of


def register(app: typer.Typer) -> None:
    @app.command("inbox")
    def inbox_cmd(
        ctx: typer.Context,
        campaign: Optional[int] = typer.Option(None, "--campaign", metavar="ID", help="Only replies to this campaign."),
        limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="At most this many, newest first."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON list of messages."),
    ) -> None:
        """Show incoming messages (replies; a stop word suppresses its phone)."""
        from campaigns.services.callbacks import list_inbound
        from campaigns.store.engine import open_database
        from campaigns.store.uow import UnitOfWork

        settings = settings_of(ctx)
        engine = open_database(settings.database_url)
        try:
            items, _ = list_inbound(lambda: UnitOfWork(engine), campaign_id=campaign, limit=limit)
        finally:
            engine.dispose()
        if as_json:
            typer.echo(json.dumps(items, ensure_ascii=False))
            return
        if not items:
            typer.echo("no incoming messages")
            return
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table("received", "phone", "text", "campaign", "row", "opted out")
        for item in items:
            row = "" if item["recipient_id"] is None else str(item["recipient_id"] & 0x7FFFFFFF)
            table.add_row((item["received_at"] or "")[:19], item["phone"], Text(item["text"]),
                          "" if item["campaign_id"] is None else str(item["campaign_id"]), row,
                          "yes" if item["opted_out"] else "")
        Console().print(table)

    @app.command("callbacks")
    def callbacks_cmd(
        ctx: typer.Context,
        unmatched: bool = typer.Option(False, "--unmatched", help="Only events for messages this database does not know."),
        limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="At most this many, newest first."),
        as_json: bool = typer.Option(False, "--json", help="Print a JSON list of events."),
    ) -> None:
        """Show the events the providers pushed (statuses, replies, calls) and what became of
        each: applied, not final, already final, unmatched, recorded (or pending)."""
        from campaigns.services.callbacks import UNMATCHED, event_counts, list_events
        from campaigns.store.engine import open_database
        from campaigns.store.uow import UnitOfWork

        settings = settings_of(ctx)
        engine = open_database(settings.database_url)
        try:
            uow_factory = lambda: UnitOfWork(engine)  # noqa: E731
            events = list_events(uow_factory, outcome=UNMATCHED if unmatched else None, limit=limit)
            counts = event_counts(uow_factory)
        finally:
            engine.dispose()
        if as_json:
            typer.echo(json.dumps(events, ensure_ascii=False))
            return
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        console = Console()
        console.print(Text("events by outcome: " + (", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())) or "none")))
        table = Table("received", "provider", "kind", "outcome", "campaign", "deliveries", "fields")
        for e in events:
            fields = " ".join(f"{k}={v}" for k, v in (e["payload"] or {}).items())
            table.add_row((e["received_at"] or "")[:19], e["provider"], e["kind"], e["outcome"] or "pending",
                          "" if e["campaign_id"] is None else str(e["campaign_id"]), str(e["deliveries"]),
                          Text(fields[:120]))
        console.print(table)
