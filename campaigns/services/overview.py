"""What the dashboard shows, read from stored aggregates only: campaign rows with their
counts (the campaign's own columns and counters, chunk totals grouped by campaign), the
delivery funnel, and the provider's counters over time (counter_samples). Nothing here
counts recipients row by row: a page of a million-recipient campaign costs what a page of
a small one does. The per-recipient table is campaigns.services.ledger's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from sqlalchemy import func, or_, select

from campaigns.domain import TERMINAL, CampaignState
from campaigns.services.errors import CampaignNotFound
from campaigns.services.moves import as_utc
from campaigns.services.status import campaign_status
from campaigns.store.models import Campaign, Chunk, CounterSample
from campaigns.store.uow import UnitOfWork

STATES = tuple(s.value for s in CampaignState)
FINISHED = frozenset(s.value for s in TERMINAL)
# Campaign counters (seed 002): the ones drawn over time
SERIES = (("sent", None), ("delivered", "totalDelivrdMsgNum"), ("undelivered", "totalUndelivMsgNum"),
          ("expired", "totalExpiredMsgNum"), ("rejected", "totalRejectdMsgNum"))
MAX_POINTS = 240


def _num(counters: dict | None, key: str) -> int:
    try:
        return int(float((counters or {}).get(key) or 0))
    except (TypeError, ValueError):
        return 0


def messages(counters: dict | None) -> dict[str, int]:
    """The provider's message counters as numbers: total, sent (left NEW), delivered,
    undelivered, expired, rejected."""
    total = _num(counters, "totalMsgNum")
    return {
        "total": total,
        "sent": max(total - _num(counters, "totalNewMsgNum"), 0),
        "delivered": _num(counters, "totalDelivrdMsgNum"),
        "undelivered": _num(counters, "totalUndelivMsgNum"),
        "expired": _num(counters, "totalExpiredMsgNum"),
        "rejected": _num(counters, "totalRejectdMsgNum"),
    }


def _percent(part: int, whole: int) -> float:
    return round(min(part / whole, 1.0) * 100, 1) if whole > 0 else 0.0


def _iso(value: datetime | None) -> str | None:
    value = as_utc(value)
    return value.isoformat(timespec="seconds") if value else None


def campaign_rows(
    uow_factory: Callable[[], UnitOfWork], *, state: str | None = None, search: str | None = None,
    before_id: int | None = None, limit: int = 50,
) -> tuple[list[dict], int | None]:
    """Up to ``limit`` campaigns, newest first, in ``state`` and with ``search`` in their
    name (any case) when given, below ``before_id``; and the next page's cursor. Each row:
    id, name, provider, state, provider_status, valid, added, messages (see ``messages``),
    the two progress shares (``add_percent`` = added / valid while adding,
    ``deliver_percent`` = delivered / added after), created_at and finished_at.

    Raises ValueError for an unknown state."""
    if state is not None and state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}, got {state!r}")
    c, ch = Campaign.__table__.c, Chunk.__table__.c
    with uow_factory() as uow:
        query = (select(c.id, c.name, c.provider, c.state, c.provider_status, c.valid, c.rows, c.counters,
                        c.error, c.created_at, c.state_changed_at)
                 .order_by(c.id.desc()).limit(limit + 1))
        if state:
            query = query.where(c.state == state)
        if search:
            query = query.where(_name_matches(c.name, search, uow.session.get_bind().dialect.name))
        if before_id is not None:
            query = query.where(c.id < before_id)
        rows = uow.session.execute(query).all()
        more = len(rows) > limit
        rows = rows[:limit]
        ids = [row.id for row in rows]
        added = dict(uow.session.execute(
            select(ch.campaign_id, func.coalesce(func.sum(ch.added), 0)).where(ch.campaign_id.in_(ids))
            .group_by(ch.campaign_id)).all()) if ids else {}
    items = []
    for row in rows:
        m = messages(row.counters)
        n_added = int(added.get(row.id, 0))
        items.append({
            "id": row.id, "name": row.name, "provider": row.provider, "state": row.state,
            "provider_status": row.provider_status, "rows": row.rows or 0, "valid": row.valid or 0,
            "added": n_added, "messages": m,
            "add_percent": _percent(n_added, row.valid or 0),
            "deliver_percent": _percent(m["delivered"], m["total"] or n_added),
            "error": row.error,
            "created_at": _iso(row.created_at),
            "finished_at": _iso(row.state_changed_at) if row.state in FINISHED else None,
        })
    return items, (items[-1]["id"] if more and items else None)


def _name_matches(column, search: str, dialect: str):
    """``column`` contains ``search``, in any case. PostgreSQL folds every alphabet (ILIKE);
    SQLite folds only ASCII, so there the text is also tried lower-case, upper-case and
    capitalized (``весна`` finds ``Весна``)."""
    def pattern(text: str) -> str:
        return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"

    if dialect == "postgresql":
        return column.ilike(pattern(search), escape="\\")
    variants = {search, search.lower(), search.upper(), search.capitalize(), search.title()}
    return or_(*(column.like(pattern(v), escape="\\") for v in sorted(variants)))


def campaign_view(campaign_id: int, uow_factory: Callable[[], UnitOfWork]) -> dict:
    """One campaign for its page: the status dict (campaigns.services.status), its text
    and options, the funnel and what the state allows. Raises CampaignNotFound."""
    status = campaign_status(campaign_id, uow_factory)
    with uow_factory() as uow:
        row = uow.session.get(Campaign, campaign_id)
        if row is None:
            raise CampaignNotFound(campaign_id)
        details = {"text": row.text, "sender": row.sender, "type": row.type, "country": row.country,
                   "rate_limit": row.rate_limit, "rate_period": row.rate_period, "deferred_to": row.deferred_to,
                   "source_name": row.source_name, "segments": row.segments,
                   "finished_at": _iso(row.state_changed_at) if row.state in FINISHED else None}
    m = messages(status["counters"])
    r = status["recipients"]
    funnel = [
        {"step": "rows", "value": r["rows"]},
        {"step": "valid", "value": r["valid"]},
        {"step": "added at the provider", "value": r["added"]},
        {"step": "sent", "value": m["sent"]},
        {"step": "delivered", "value": m["delivered"]},
    ]
    beside = [
        {"step": "invalid", "value": r["invalid"]},
        {"step": "duplicates", "value": r["duplicates"]},
        {"step": "rejected by the provider", "value": r["rejected_by_provider"]},
        {"step": "undelivered", "value": m["undelivered"]},
        {"step": "expired", "value": m["expired"]},
        {"step": "rejected by the operator", "value": m["rejected"]},
    ]
    state = status["state"]
    return {
        **status, **details, "messages": m, "funnel": funnel, "beside": beside,
        "add_percent": _percent(r["added"], r["valid"]),
        "deliver_percent": _percent(m["delivered"], m["total"] or r["added"]),
        "can_cancel": state not in FINISHED,
        "can_resume": state in ("paused", "queued", "creating", "adding", "launching"),
        "can_approve": state == "awaiting_approval",
        "finished": state in FINISHED,
    }


# ledger filters whose number the stored counts give exactly (status's recipients.*)
EXACT_FILTERS = {"valid": "valid", "invalid": "invalid", "duplicate": "duplicates", "added": "added",
                 "rejected": "rejected_by_provider"}


def recipients_page(campaign_id: int, uow_factory: Callable[[], UnitOfWork], *, status: str | None = None,
                    after_row: int = 0, limit: int = 50):
    """A page of the per-recipient table (campaigns.services.ledger.ledger_page). A filter
    the stored counts say matches nobody answers at once: the ledger would read the whole
    range of a million-row campaign to find that out. Raises CampaignNotFound, ValueError."""
    from campaigns.services.ledger import LedgerPage, ledger_page

    if status in EXACT_FILTERS:
        if campaign_status(campaign_id, uow_factory)["recipients"][EXACT_FILTERS[status]] == 0:
            return LedgerPage([], None)
    return ledger_page(campaign_id, uow_factory, status=status, after_row=after_row, limit=limit)


def counter_series(campaign_id: int, uow_factory: Callable[[], UnitOfWork], *, points: int = MAX_POINTS) -> dict:
    """The provider's counters over time from counter_samples: ``{"t": [iso…], "sent":
    […], "delivered": […], …}``, at most ``points`` samples (evenly thinned, the last kept)."""
    s = CounterSample.__table__.c
    with uow_factory() as uow:
        count = uow.session.scalar(select(func.count()).where(s.campaign_id == campaign_id)) or 0
        query = select(s.taken_at, s.counters).where(s.campaign_id == campaign_id).order_by(s.id)
        if count > points:
            # every n-th sample by row number, and the newest: the line's shape, bounded
            step = -(-count // points)
            numbered = select(s.taken_at, s.counters, s.id,
                              func.row_number().over(order_by=s.id).label("n")).where(s.campaign_id == campaign_id)
            sub = numbered.subquery()
            query = (select(sub.c.taken_at, sub.c.counters)
                     .where(((sub.c.n - 1) % step == 0) | (sub.c.n == count)).order_by(sub.c.id))
        rows = uow.session.execute(query).all()
    series: dict[str, list] = {"t": [_iso(t) for t, _ in rows]}
    for label, key in SERIES:
        series[label] = [messages(cs)["sent"] if key is None else _num(cs, key) for _, cs in rows]
    return series
