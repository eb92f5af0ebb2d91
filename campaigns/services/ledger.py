"""One campaign's per-recipient ledger, a page at a time, in source-row order.

A campaign's rows are two ranges of the primary key (campaigns.store.keys): the valid
rows above, the invalid and duplicate ones below, each in row order. A page reads the next
rows of each range after the cursor's row, through the index, and merges them, so a page
of a million-row campaign costs what a page of a small one does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sqlalchemy import and_, or_, select

from campaigns.services.errors import CampaignNotFound
from campaigns.store.keys import other_base, valid_base
from campaigns.store.models import Campaign, Recipient
from campaigns.store.uow import UnitOfWork

r = Recipient.__table__.c
DELIVERED = "DELIVRD"
# status filter -> (which ranges hold such rows, the condition on a row)
FILTERS = {
    "valid": ((True,), r.verdict == "valid"),
    "invalid": ((False,), r.verdict == "invalid"),
    "duplicate": ((False,), r.verdict == "duplicate"),
    # accepted by the provider (code 0, or 4 "already added" on a resend)
    "added": ((True,), r.provider_code.in_((0, 4))),
    # refused by the provider with a per-recipient code
    "rejected": ((True,), and_(r.provider_code.is_not(None), r.provider_code.not_in((0, 4)))),
    "delivered": ((True,), r.final_status == DELIVERED),
    # a final status other than delivered (UNDELIV, EXPIRED, REJECTD…)
    "undelivered": ((True,), and_(r.final_status.is_not(None), r.final_status != DELIVERED)),
    # valid and without a final status yet
    "pending": ((True,), and_(r.final_status.is_(None), or_(r.provider_code.is_(None), r.provider_code.in_((0, 4))))),
}
STATUSES = tuple(FILTERS)
COLUMNS = (r.row_number, r.raw_phone, r.phone, r.verdict, r.reason, r.provider_code, r.provider_meaning,
           r.message_id, r.final_status)
KEYS = ("row", "phone_as_given", "phone", "verdict", "reason", "provider_code", "provider_meaning",
        "message_id", "final_status")


@dataclass(frozen=True)
class LedgerPage:
    items: list[dict]
    next_cursor: int | None  # the last row of this page when more may follow


def ledger_page(
    campaign_id: int, uow_factory: Callable[[], UnitOfWork], *, status: str | None = None,
    after_row: int = 0, limit: int = 100,
) -> LedgerPage:
    """Up to ``limit`` recipients of ``campaign_id`` after source row ``after_row``, in row
    order, optionally only those with ``status`` (one of STATUSES).

    Raises CampaignNotFound, or ValueError for an unknown status.
    """
    if status is not None and status not in FILTERS:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    regions, condition = FILTERS[status] if status else ((True, False), None)
    with uow_factory() as uow:
        if uow.session.get(Campaign, campaign_id) is None:
            raise CampaignNotFound(campaign_id)
        rows = []
        for valid in regions:
            base = valid_base(campaign_id) if valid else other_base(campaign_id)
            query = (select(*COLUMNS).where(r.id.between(base + after_row + 1, base + (1 << 31) - 1))
                     .order_by(r.id).limit(limit + 1))
            if condition is not None:
                query = query.where(condition)
            rows += uow.session.execute(query).all()
    rows.sort(key=lambda row: row[0])
    more = len(rows) > limit
    page = rows[:limit]
    return LedgerPage([dict(zip(KEYS, row)) for row in page], page[-1][0] if more and page else None)
