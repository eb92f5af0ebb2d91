"""What the control routes show of an account: the campaigns at a glance, and one campaign
with each phone — how often it was added (code 0) and whether a message to it was sent —
so integration tests can assert "every valid recipient added exactly once"."""

from __future__ import annotations

from typing import Any

from campaigns.simulator.campaign import SimCampaign, format_ts
from campaigns.simulator.mobizon import MobizonSimulator


def _campaign_summary(account: MobizonSimulator, c: SimCampaign, now: float) -> dict[str, Any]:
    counters = c.counters(now, account.config)
    return {
        "id": c.id,
        "type": c.type,
        "name": c.name,
        "text": c.text,
        "from": c.sender,
        "status": c.status(now),
        "deleted": c.deleted,
        "recipients": len(c.messages),
        "added": sum(c.added_counts.values()),
        "rejected": c.rejected,
        "sent": c.sent_count(now),
        "counters": {k: int(v) for k, v in counters.items() if k.startswith("total") and k.endswith("Num")},
    }


def summary(account: MobizonSimulator) -> dict[str, Any]:
    """The clock, every campaign without its recipients, and the background tasks."""
    with account.reading() as now:
        tasks = []
        for task in account.tasks.values():
            status, progress = task.status(now)
            tasks.append({"id": task.id, "campaignId": task.campaign_id, "status": status, "progress": progress})
        return {
            "now": now,
            "nowText": format_ts(now),
            "speed": account.clock.speed,
            "campaigns": [_campaign_summary(account, c, now) for c in account.campaigns.values()],
            "tasks": tasks,
        }


def campaign_detail(account: MobizonSimulator, campaign_id: int) -> dict[str, Any] | None:
    """One campaign with ``phones``: each phone ever added, how many times (resends and
    ``replace`` included), whether its message was sent, its message id and status."""
    with account.reading() as now:
        c = account.campaigns.get(campaign_id)
        if c is None:
            return None
        data = _campaign_summary(account, c, now)
        rows = []
        for phone, count in c.added_counts.items():
            message = c.by_phone.get(phone)
            status, sent, _ = c.message_state(message, now) if message else (None, None, None)
            rows.append({
                "phone": phone,
                "added": count,
                "sent": 1 if sent is not None else 0,
                "messageId": message.id if message else None,
                "status": status,
            })
        data["phones"] = rows
        return data
