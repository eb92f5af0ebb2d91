"""How the pipeline commands show a campaign: progress bars while it runs, a table after.

Everything here reads the status object of ``campaigns.services.status.campaign_status``
(the same object ``campaigns status --json`` prints), so what a user watches is what the
database says.
"""

from __future__ import annotations

from typing import Iterable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

SETTLED = frozenset({"done", "failed", "cancelled", "paused"})
LAUNCHED = frozenset({"running", "done"})


def _num(counters: dict | None, key: str) -> int:
    value = (counters or {}).get(key) or 0
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0


def final_counts(status: dict) -> dict[str, int]:
    """Messages that did not arrive, by final status (the provider's counters)."""
    counters = status.get("counters") or {}
    if "totalMsgNum" not in counters and "undelivered" in counters:  # the cascade gateway's own counters
        return {label: _num(counters, label) for label in ("undelivered", "expired", "rejected")}
    return {label: _num(counters, key) for label, key in
            (("undelivered", "totalUndelivMsgNum"), ("expired", "totalExpiredMsgNum"),
             ("rejected", "totalRejectdMsgNum"))}


def provider_status(status: dict) -> str:
    """The provider's status when it still means something: not for a cancelled campaign,
    which is no longer followed."""
    return "" if status["state"] == "cancelled" else (status.get("provider_status") or "")


def message_counts(status: dict) -> tuple[int, int, int]:
    """(total, sent, delivered) messages from the provider's counters (seed 002, Campaign
    counters): sent = every message that left NEW, delivered = DELIVRD."""
    counters = status.get("counters") or {}
    if "totalMsgNum" not in counters and "sent" in counters:
        # sent message by message (SMSC, the cascade gateway): the pipeline's own counters
        total = int(status["recipients"].get("added") or 0) or _num(counters, "sent")
        return total, min(_num(counters, "sent"), total), min(_num(counters, "delivered"), total)
    total = _num(counters, "totalMsgNum") or int(status["recipients"].get("added") or 0)
    sent = max(_num(counters, "totalMsgNum") - _num(counters, "totalNewMsgNum"), 0)
    return total, min(sent, total), min(_num(counters, "totalDelivrdMsgNum"), total)


class CampaignProgress:
    """Three bars for one campaign: chunks added, then messages sent and delivered."""

    def __init__(self, console: Console, campaign_id: int, *, enabled: bool = True):
        self.campaign_id = campaign_id
        self.progress = Progress(
            TextColumn("{task.description:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=console,
            disable=not enabled,
            transient=False,
        )
        self._chunks = self.progress.add_task("chunks added", total=None, note="")
        self._sent = self.progress.add_task("messages sent", total=None, note="", visible=False)
        self._delivered = self.progress.add_task("delivered", total=None, note="", visible=False)

    def __enter__(self) -> "CampaignProgress":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def update(self, statuses: dict[int, dict]) -> None:
        """Redraw from the latest status objects (the embedded runner's callback)."""
        status = statuses.get(self.campaign_id)
        if status is None:
            return
        chunks = status["chunks"]
        note = status["state"] + (f" · {provider_status(status)}" if provider_status(status) else "")
        self.progress.update(
            self._chunks, total=chunks["total"] or None, completed=chunks["added"] + chunks["failed"], note=note
        )
        if status["state"] in LAUNCHED:
            total, sent, delivered = message_counts(status)
            self.progress.update(self._sent, total=total or None, completed=sent, visible=True, note="")
            self.progress.update(self._delivered, total=total or None, completed=delivered, visible=True, note="")


def status_table(status: dict) -> Table:
    """One campaign as a two-column table."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    rec, chunks = status["recipients"], status["chunks"]
    rows = [
        ("campaign", f"{status['id']}  {status['name']}"),
        ("provider", f"{status['provider']}  (id {status.get('provider_campaign_id') or '—'})"),
        ("state", status["state"] + (f"  (provider: {provider_status(status)})" if provider_status(status) else "")),
        ("recipients", f"{rec['rows']} rows: {rec['valid']} valid, {rec['invalid']} invalid, {rec['duplicates']} duplicates"),
        ("at the provider", f"{rec['added']} added, {rec['rejected_by_provider']} rejected"),
        ("chunks", f"{chunks['added']} added, {chunks['failed']} failed of {chunks['total']}"),
    ]
    if status.get("counters"):
        total, sent, delivered = message_counts(status)
        rows.append(("messages", f"{sent} sent, {delivered} delivered of {total}"))
        rows.append(("not delivered", ", ".join(f"{n} {label}" for label, n in final_counts(status).items())))
    if status.get("channels"):  # the cascade gateway: delivered and cost per channel
        per = [f"{ch} {v['delivered']} delivered ({v['cost']:g})" for ch, v in status["channels"].items()]
        rows.append(("channels", ", ".join(per) + f"; cost {status['counters'].get('cost', 0):g}"))
    if status.get("error"):
        rows.append(("reason", f"[red]{status['error']}[/red]"))
    for key, value in rows:
        table.add_row(key, value)
    return table


def list_table(statuses: Iterable[dict]) -> Table:
    """Several campaigns, one line each."""
    table = Table()
    for name, justify in (("id", "right"), ("name", "left"), ("provider", "left"), ("state", "left"),
                          ("provider status", "left"), ("valid", "right"), ("added", "right"), ("chunks", "right")):
        table.add_column(name, justify=justify)
    for s in statuses:
        table.add_row(
            str(s["id"]), s["name"], s["provider"], s["state"], provider_status(s),
            str(s["recipients"]["valid"]), str(s["recipients"]["added"]),
            f"{s['chunks']['added']}/{s['chunks']['total']}",
        )
    return table
