"""What the user sees: one campaign's status, and the list of campaigns (issue 4, "What
the user sees"). Plain dicts of JSON types, ready for ``--json``."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from sqlalchemy import case, func, select

from campaigns.domain import ChunkState
from campaigns.services.errors import CampaignNotFound
from campaigns.services.moves import as_utc
from campaigns.store.models import Campaign, Chunk
from campaigns.store.uow import UnitOfWork

C = ChunkState
chunks_t = Chunk.__table__


def campaign_status(campaign_id: int, uow_factory: Callable[[], UnitOfWork]) -> dict:
    """The campaign's status dict; raises CampaignNotFound."""
    with uow_factory() as uow:
        campaign = uow.session.get(Campaign, campaign_id)
        if campaign is None:
            raise CampaignNotFound(campaign_id)
        totals = _chunk_totals(uow.session, [campaign_id])
        return _as_dict(campaign, totals.get(campaign_id))


def list_campaigns(uow_factory: Callable[[], UnitOfWork], *, limit: int | None = None) -> list[dict]:
    """Every campaign's status dict, newest first (at most ``limit``)."""
    with uow_factory() as uow:
        query = select(Campaign).order_by(Campaign.id.desc())
        if limit:
            query = query.limit(limit)
        campaigns = list(uow.session.scalars(query))
        totals = _chunk_totals(uow.session, [c.id for c in campaigns])
        return [_as_dict(c, totals.get(c.id)) for c in campaigns]


def campaign_page(
    uow_factory: Callable[[], UnitOfWork], *, state: str | None = None, before_id: int | None = None,
    limit: int = 50,
) -> tuple[list[dict], int | None]:
    """Up to ``limit`` status dicts, newest first, with ids below ``before_id`` and in
    ``state`` when given; and the cursor of the next page (the last id) when more follow."""
    with uow_factory() as uow:
        query = select(Campaign).order_by(Campaign.id.desc()).limit(limit + 1)
        if state is not None:
            query = query.where(Campaign.state == state)
        if before_id is not None:
            query = query.where(Campaign.id < before_id)
        campaigns = list(uow.session.scalars(query))
        more = len(campaigns) > limit
        campaigns = campaigns[:limit]
        totals = _chunk_totals(uow.session, [c.id for c in campaigns])
        items = [_as_dict(c, totals.get(c.id)) for c in campaigns]
    return items, (items[-1]["id"] if more and items else None)


def _chunk_totals(session, campaign_ids: list[int]) -> dict[int, dict]:
    if not campaign_ids:
        return {}
    ch = chunks_t.c

    def count(state: ChunkState):
        return func.coalesce(func.sum(case((ch.state == state.value, 1), else_=0)), 0)

    rows = session.execute(
        select(
            ch.campaign_id,
            func.count().label("total"),
            count(C.ADDED).label("added"),
            count(C.FAILED).label("failed"),
            count(C.PENDING).label("pending"),
            count(C.ADDING).label("adding"),
            func.coalesce(func.sum(ch.added), 0).label("recipients_added"),
            func.coalesce(func.sum(ch.rejected), 0).label("recipients_rejected"),
        )
        .where(ch.campaign_id.in_(campaign_ids))
        .group_by(ch.campaign_id)
    ).all()
    return {row.campaign_id: row._asdict() for row in rows}


def _iso(value: datetime | None) -> str | None:
    value = as_utc(value)
    return value.isoformat() if value else None


def _as_dict(campaign: Campaign, totals: dict | None) -> dict:
    t = totals or {}
    return {
        "id": campaign.id,
        "name": campaign.name,
        "provider": campaign.provider,
        "provider_campaign_id": campaign.provider_campaign_id,
        "state": campaign.state,
        "provider_status": campaign.provider_status,
        "recipients": {
            "rows": campaign.rows or 0,
            "valid": campaign.valid or 0,
            "invalid": campaign.invalid or 0,
            "duplicates": campaign.duplicates or 0,
            "added": int(t.get("recipients_added", 0)),
            "rejected_by_provider": int(t.get("recipients_rejected", 0)),
        },
        "chunks": {key: int(t.get(key, 0)) for key in ("total", "added", "failed", "pending", "adding")},
        "counters": dict(campaign.counters or {}),
        "error": campaign.error,
        "created_at": _iso(campaign.created_at),
        "updated_at": _iso(campaign.updated_at),
    }
