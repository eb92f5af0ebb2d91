""""Not again within N days" (``--exclude-sent-within``): the phones this schedule's earlier
runs had accepted by the provider (provider code 0, or 4: already added, on a resend) within
the last N days, read from the per-recipient ledger, each with the reason its new row
gets: ``sent on <date> by this schedule`` (the date the provider accepted its chunk, in
the schedule's zone).

The answer feeds ingestion's exclusion hook (IngestOptions.excluded), which judges every
row before it is stored, as the recipient ids require (campaigns.store.keys).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from campaigns.services.moves import as_utc
from campaigns.store.keys import valid_of_campaign
from campaigns.store.models import Campaign, Chunk, Recipient
from campaigns.store.schedules import ScheduleFire

ACCEPTED = (0, 4)  # accepted; 4: "already added" answering a resend (as the ledger counts them)


def recently_sent(session: Session, schedule_id: int, days: int, tz: ZoneInfo, now: datetime) -> dict[int, str]:
    """Phone (international digits as an int) -> ``sent on <date> by this schedule`` for
    every recipient of this schedule's runs that the provider accepted since ``now - days``
    (the latest date when several runs sent to it)."""
    since = now - timedelta(days=days)
    # A campaign's state changes after its last chunk is added, so one whose state last
    # changed before the window added nothing inside it.
    campaign_ids = session.scalars(
        select(ScheduleFire.campaign_id)
        .join(Campaign, Campaign.id == ScheduleFire.campaign_id)
        .where(ScheduleFire.schedule_id == schedule_id, Campaign.state_changed_at >= since)
    ).all()
    latest: dict[int, datetime] = {}
    r, ch = Recipient.__table__.c, Chunk.__table__.c
    for campaign_id in campaign_ids:
        rows = session.execute(
            select(r.phone, ch.state_changed_at)
            .join(Chunk.__table__, and_(ch.campaign_id == campaign_id, ch.seq == r.chunk_seq))
            .where(valid_of_campaign(r.id, campaign_id), r.provider_code.in_(ACCEPTED), ch.state_changed_at >= since)
        )
        for phone, at in rows:
            if not phone:
                continue
            number = int(phone)
            at = as_utc(at)
            if number not in latest or at > latest[number]:
                latest[number] = at
    return {number: f"sent on {at.astimezone(tz).date().isoformat()} by this schedule"
            for number, at in latest.items()}
