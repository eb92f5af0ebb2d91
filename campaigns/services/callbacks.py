"""Pushed events (issue 11): stored before the provider is answered, applied afterwards,
each exactly once.

    store_event(uow_factory, event)      one short transaction; a redelivery finds the row
                                         (same provider and key) and only counts itself
    apply_pending(uow_factory, settings) the events not applied yet, oldest first, a batch
                                         per transaction: each event's effects and its
                                         ``applied_at`` are saved together, so an event is
                                         applied once however many appliers run
                                         (PostgreSQL: rows claimed FOR UPDATE SKIP LOCKED)

Effects: a final status is stored on its recipient when the recipient has none yet
(statuses never move backwards; a late ACCEPTD after DELIVRD changes nothing); an
incoming message becomes an ``inbound_messages`` row, and one whose text is a stop word
puts its phone on the suppression list. An event for a message this database does not
know is kept with the outcome ``unmatched``.

For the dashboard and metrics: ``delivery_counts``, ``list_inbound``, ``event_counts``.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Sequence

from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from campaigns.callbacks.events import INBOUND, STATUS, Event
from campaigns.domain import FINAL_MESSAGE_STATUSES
from campaigns.providers.smsc import codes
from campaigns.services.errors import CampaignNotFound
from campaigns.services.moves import as_utc, utcnow
from campaigns.services.suppression import add_phones, is_stop_word
from campaigns.settings import Settings
from campaigns.store.callbacks import CallbackEvent, InboundMessage
from campaigns.store.models import Campaign, Recipient
from campaigns.store.uow import UnitOfWork

BATCH = 500  # events applied per transaction
APPLIED, UNMATCHED, NOT_FINAL, ALREADY_FINAL, RECORDED = "applied", "unmatched", "not final", "already final", "recorded"
MOBIZON_PROVIDERS = ("mobizon", "sandbox")  # campaigns whose messageIds Mobizon's webhook names
_SMSC_CAMPAIGN = re.compile(r"c(\d+)\.")  # the SMSC adapter's request ids: "c<campaign>.<random>-<chunk>"
events_t = CallbackEvent.__table__
inbound_t = InboundMessage.__table__
recipients_t = Recipient.__table__


def _insert(session):
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def store_event(uow_factory: Callable[[], UnitOfWork], event: Event, *, now: datetime | None = None) -> bool:
    """Save ``event`` durably (committed when this returns). Returns False for a redelivery
    of an event already stored (its ``deliveries`` counted). Raises only on database errors."""
    return store_events(uow_factory, [event], now=now)[0]


def store_events(uow_factory: Callable[[], UnitOfWork], events: Sequence[Event], *, now: datetime | None = None) -> list[bool]:
    """``store_event`` for several events in one transaction and one statement; True for
    each new one (in order; a key repeated within ``events`` is new at most once)."""
    if not events:
        return []
    with uow_factory() as uow:
        new = insert_events(uow.session.connection(), events, now=now)
        uow.commit()
    return new


def insert_events(conn: Connection, events: Sequence[Event], *, now: datetime | None = None) -> list[bool]:
    """Write ``events`` through ``conn`` in its transaction (the caller commits): one
    statement, in which a redelivery (a key already stored) adds its count to the stored
    row. Returns True for each new event, in order."""
    if not events:
        return []
    cursor = conn.connection.driver_connection.cursor()
    try:
        return insert_events_raw(cursor, conn.dialect.name, events, now=now)
    finally:
        cursor.close()


def insert_events_raw(cursor, dialect: str, events: Sequence[Event], *, now: datetime | None = None) -> list[bool]:
    """``insert_events`` on a DB-API ``cursor`` of ``dialect`` (postgresql or sqlite): the
    receivers' writer calls it on a connection of its own, without SQLAlchemy's per-call
    work (a third of a batch's CPU)."""
    if not events:
        return []
    now = now or utcnow()
    counts: dict[tuple[str, str], int] = {}
    firsts: dict[tuple[str, str], Event] = {}
    for event in events:
        key = (event.provider, event.key)
        counts[key] = counts.get(key, 0) + 1
        firsts.setdefault(key, event)
    postgresql = dialect == "postgresql"
    mark = "%s" if postgresql else "?"
    stamp = now if postgresql else now.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite form
    params: list = []
    for key, event in firsts.items():
        params += [event.provider, event.kind, event.key, json.dumps(event.payload, ensure_ascii=False), stamp,
                   counts[key]]
    cursor.execute(
        "INSERT INTO callback_events (provider, kind, event_key, payload, received_at, deliveries) VALUES "
        + ", ".join([f"({mark}, {mark}, {mark}, {mark}, {mark}, {mark})"] * len(firsts))
        + " ON CONFLICT (provider, event_key) DO UPDATE SET deliveries = callback_events.deliveries"
        " + excluded.deliveries RETURNING provider, event_key, deliveries",
        tuple(params),
    )
    returned = cursor.fetchall()
    # a row whose deliveries equal this batch's count did not exist before it
    inserted = {(provider, key) for provider, key, deliveries in returned if deliveries == counts[(provider, key)]}
    new = []
    for event in events:
        key = (event.provider, event.key)
        new.append(key in inserted)
        inserted.discard(key)
    return new


@dataclass
class _Applied:
    outcome: str
    campaign_id: int | None = None
    recipient_id: int | None = None


def apply_pending(
    uow_factory: Callable[[], UnitOfWork], settings: Settings, *, limit: int = BATCH, now: datetime | None = None
) -> int:
    """Apply up to ``limit`` events not applied yet, oldest first, in one transaction.
    Returns how many were applied (0: none waiting). Raises only on database errors."""
    c = events_t.c
    stamp = now or utcnow()
    with uow_factory() as uow:
        session = uow.session
        # Claim the batch with its first statement, a write: a second applier waits for this
        # transaction (SQLite's write lock) or skips these rows (PostgreSQL), so it never
        # sees them unapplied.
        pending = select(c.id).where(c.applied_at.is_(None)).order_by(c.id).limit(limit)
        if session.get_bind().dialect.name == "postgresql":
            pending = pending.with_for_update(skip_locked=True)
        rows = session.execute(
            update(events_t)
            .where(c.id.in_(pending.scalar_subquery()), c.applied_at.is_(None))
            .values(applied_at=stamp)
            .returning(c.id, c.provider, c.kind, c.payload, c.received_at)
        ).all()
        if not rows:
            return 0
        rows.sort(key=lambda row: row.id)
        results: dict[int, _Applied] = {}
        statuses = [r for r in rows if r.kind == STATUS]
        results.update(_apply_statuses(session, statuses))
        for row in rows:
            if row.kind == INBOUND:
                results[row.id] = _apply_inbound(session, row, settings)
            elif row.id not in results:
                results[row.id] = _Applied(RECORDED)  # call confirmations and other events are kept
        session.execute(
            update(events_t).where(c.id == bindparam("b_id")).values(
                outcome=bindparam("b_outcome"), campaign_id=bindparam("b_campaign"),
                recipient_id=bindparam("b_recipient"),
            ),
            [{"b_id": i, "b_outcome": a.outcome, "b_campaign": a.campaign_id, "b_recipient": a.recipient_id}
             for i, a in results.items()],
        )
        uow.commit()
    return len(rows)


def apply_all(uow_factory: Callable[[], UnitOfWork], settings: Settings, *, most: int = 20_000) -> int:
    """Apply waiting events a batch at a time until none is left (or ``most`` were applied)."""
    total = 0
    while total < most:
        done = apply_pending(uow_factory, settings)
        total += done
        if done < BATCH:
            break
    return total


# --- statuses -------------------------------------------------------------------------


def _event_time(payload: dict, *names: str) -> datetime | None:
    for name in names:
        value = payload.get(name)
        if value and str(value).lstrip("-").isdigit():
            seconds = int(value)
            if seconds > 10**11:  # milliseconds
                seconds //= 1000
            try:
                return datetime.fromtimestamp(seconds, timezone.utc)
            except (OverflowError, OSError, ValueError):
                return None
    return None


def _status_of(row) -> tuple[int | None, str | None, str, bool, datetime | None]:
    """(campaign id or None when the provider names its own campaign, message id, status
    name, final, when) of a status event."""
    p = row.payload
    if row.provider == "smsc":
        name, final, _ = codes.status_name(int(p["status"]))
        match = _SMSC_CAMPAIGN.match(p["id"])
        digits = "".join(ch for ch in p["phone"] if ch.isdigit())
        return (int(match.group(1)) if match else None), f"{p['id']}:{digits}", name, final, _event_time(p, "ts")
    status = str(p.get("status", "")).upper()
    return None, p["messageId"], status, status in FINAL_MESSAGE_STATUSES, _event_time(p, "statusUpdateTs", "eventCreateTs")


def _apply_statuses(session, rows) -> dict[int, _Applied]:
    r = recipients_t.c
    results: dict[int, _Applied] = {}
    parsed = {row.id: _status_of(row) for row in rows}
    # which campaign: SMSC's request id says it; Mobizon's campaignId is the provider's id
    mobizon_ids = {row.payload.get("campaignId") for row in rows if row.provider != "smsc"} - {None}
    ours: dict[str, list[int]] = defaultdict(list)
    if mobizon_ids:
        for cid, pid in session.execute(
            select(Campaign.id, Campaign.provider_campaign_id).where(
                Campaign.provider_campaign_id.in_(mobizon_ids), Campaign.provider.in_(MOBIZON_PROVIDERS)
            )
        ):
            ours[pid].append(cid)
    wanted: dict[int, set[str]] = defaultdict(set)
    for row in rows:
        campaign, message, *_ = parsed[row.id]
        candidates = [campaign] if campaign is not None else ours.get(row.payload.get("campaignId"), [])
        for cid in candidates:
            wanted[cid].add(message)
    found: dict[tuple[int, str], tuple[int, str | None]] = {}
    for cid, messages in wanted.items():
        for rid, mid, final in session.execute(
            select(r.id, r.message_id, r.final_status).where(r.campaign_id == cid, r.message_id.in_(messages))
        ):
            found[(cid, mid)] = (rid, final)
    updates = []
    for row in rows:  # in arrival order: the first final status of a recipient wins
        campaign, message, name, final, when = parsed[row.id]
        candidates = [campaign] if campaign is not None else ours.get(row.payload.get("campaignId"), [])
        hit = next(((cid, found[(cid, message)]) for cid in candidates if (cid, message) in found), None)
        if hit is None:
            results[row.id] = _Applied(UNMATCHED)
            continue
        cid, (rid, current) = hit
        if not final:
            results[row.id] = _Applied(NOT_FINAL, cid, rid)
        elif current is not None:
            results[row.id] = _Applied(ALREADY_FINAL, cid, rid)
        else:
            found[(cid, message)] = (rid, name)
            updates.append({"b_id": rid, "b_status": name, "b_at": when or as_utc(row.received_at)})
            results[row.id] = _Applied(APPLIED, cid, rid)
    if updates:
        session.execute(
            update(recipients_t)
            .where(r.id == bindparam("b_id"), r.final_status.is_(None))
            .values(final_status=bindparam("b_status"), final_at=bindparam("b_at")),
            updates,
        )
    return results


# --- incoming messages ----------------------------------------------------------------


def _apply_inbound(session, row, settings: Settings) -> _Applied:
    p = row.payload
    phone = "".join(ch for ch in p.get("phone", "") if ch.isdigit())[:20]
    campaign_id = recipient_id = None
    reply_to = p.get("sms_id") or None
    if reply_to:
        match = _SMSC_CAMPAIGN.match(reply_to)
        if match:
            found = session.execute(
                select(recipients_t.c.id).where(
                    recipients_t.c.campaign_id == int(match.group(1)),
                    recipients_t.c.message_id == f"{reply_to}:{phone}",
                )
            ).first()
            if found is not None:
                campaign_id, recipient_id = int(match.group(1)), found.id
    text = p.get("mes", "")
    stop = bool(phone) and is_stop_word(text, settings.stop_words)
    session.execute(
        _insert(session)(inbound_t)
        .values(
            event_id=row.id, provider=row.provider, provider_message_id=(p.get("id") or None) and p["id"][:64],
            phone=phone, text=text, to_number=(p.get("to") or None) and p["to"][:32],
            reply_to=reply_to and reply_to[:64], campaign_id=campaign_id, recipient_id=recipient_id,
            sent_at=_event_time(p, "sent"), received_at=_event_time(p, "time") or as_utc(row.received_at),
            opted_out=stop,
        )
        .on_conflict_do_nothing(index_elements=["event_id"])
    )
    if stop:
        add_phones(session, [(phone, f"replied {text.strip()[:200]!r}")], "reply")
    return _Applied(APPLIED if recipient_id is not None else UNMATCHED, campaign_id, recipient_id)


# --- what the user sees ---------------------------------------------------------------

DELIVERY_NAMES = {"DELIVRD": "delivered", "UNDELIV": "undelivered", "EXPIRED": "expired", "REJECTD": "rejected",
                  "DELETED": "rejected"}


def delivery_counts(session, campaign_id: int) -> dict[str, int]:
    """The campaign's sent messages by fate: delivered, undelivered, expired, rejected
    (REJECTD and DELETED) and pending (no final status yet)."""
    r = recipients_t.c
    counts = {"delivered": 0, "undelivered": 0, "expired": 0, "rejected": 0, "pending": 0}
    rows = session.execute(
        select(r.final_status, func.count())
        .where(r.campaign_id == campaign_id, r.message_id.is_not(None))
        .group_by(r.final_status)
    ).all()
    for status, number in rows:
        key = "pending" if status is None else DELIVERY_NAMES.get(status, "undelivered")
        counts[key] += int(number)
    return counts


def all_final(uow_factory: Callable[[], UnitOfWork], campaign_id: int) -> bool:
    """True when every message the provider accepted for the campaign has its final status
    already (from callbacks): at least one message, none without a final status, and no
    accepted recipient whose message id was never learnt (a status could not name it)."""
    from campaigns.store.keys import valid_of_campaign

    r = recipients_t.c
    with uow_factory() as uow:
        row = uow.session.execute(
            select(
                func.count(r.message_id).label("messages"),
                func.count(r.final_status).label("final"),
                func.count().filter(r.message_id.is_(None), r.provider_code == 0).label("unnamed"),
            ).where(valid_of_campaign(r.id, campaign_id), r.campaign_id == campaign_id)
        ).one()
    return row.messages > 0 and row.final >= row.messages and row.unnamed == 0


def campaign_delivery(uow_factory: Callable[[], UnitOfWork], campaign_id: int) -> dict[str, int]:
    """``delivery_counts`` in a unit of work of its own; raises CampaignNotFound."""
    with uow_factory() as uow:
        if uow.session.get(Campaign, campaign_id) is None:
            raise CampaignNotFound(campaign_id)
        return delivery_counts(uow.session, campaign_id)


def list_inbound(
    uow_factory: Callable[[], UnitOfWork], *, campaign_id: int | None = None, before_id: int | None = None,
    limit: int = 50,
) -> tuple[list[dict], int | None]:
    """Incoming messages, newest first (of one campaign when given, with ids below
    ``before_id``), and the cursor of the next page when more follow."""
    m = inbound_t.c
    with uow_factory() as uow:
        query = select(inbound_t).order_by(m.id.desc()).limit(limit + 1)
        if campaign_id is not None:
            query = query.where(m.campaign_id == campaign_id)
        if before_id is not None:
            query = query.where(m.id < before_id)
        rows = uow.session.execute(query).all()
    more = len(rows) > limit
    items = [_inbound_dict(row) for row in rows[:limit]]
    return items, (items[-1]["id"] if more and items else None)


def _inbound_dict(row) -> dict:
    def iso(value):
        value = as_utc(value)
        return value.isoformat() if value else None

    return {
        "id": row.id, "provider": row.provider, "phone": row.phone, "text": row.text, "to": row.to_number,
        "reply_to": row.reply_to, "campaign_id": row.campaign_id, "recipient_id": row.recipient_id,
        "opted_out": bool(row.opted_out), "sent_at": iso(row.sent_at), "received_at": iso(row.received_at),
    }


def event_counts(uow_factory: Callable[[], UnitOfWork]) -> dict[str, int]:
    """Stored events by outcome ("pending" for those not applied yet), for metrics."""
    c = events_t.c
    with uow_factory() as uow:
        rows = uow.session.execute(
            select(func.coalesce(c.outcome, "pending"), func.count()).group_by(func.coalesce(c.outcome, "pending"))
        ).all()
    return {outcome: int(number) for outcome, number in rows}


def list_events(
    uow_factory: Callable[[], UnitOfWork], *, outcome: str | None = None, limit: int = 50
) -> list[dict]:
    """The latest stored events (with ``outcome``: only those, e.g. "unmatched")."""
    c = events_t.c
    with uow_factory() as uow:
        query = select(events_t).order_by(c.id.desc()).limit(limit)
        if outcome is not None:
            query = query.where(c.outcome == outcome)
        rows = uow.session.execute(query).all()
    return [
        {"id": row.id, "provider": row.provider, "kind": row.kind, "key": row.event_key, "payload": row.payload,
         "deliveries": row.deliveries, "outcome": row.outcome, "campaign_id": row.campaign_id,
         "recipient_id": row.recipient_id, "received_at": (as_utc(row.received_at) or None) and as_utc(row.received_at).isoformat()}
        for row in rows
    ]
