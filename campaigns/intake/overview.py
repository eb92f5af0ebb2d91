"""What each watched location holds, by state: the one service behind
``campaigns watch --list`` (and the dashboard and metrics, which show the same).

- waiting: files seen but not taken (still being written, or without any settings), from
  a live listing;
- in_progress: claimed and not yet moved, or processed with a campaign still on its way;
- processed: moved into processed/ with a campaign that ended (its report written);
- rejected: moved into rejected/ with the reason.
"""

from __future__ import annotations

import time
from typing import Callable

from sqlalchemy import func, select

from campaigns.intake.listing import RECIPIENT_SUFFIXES, sort_listing
from campaigns.intake.locations import LocationError, Storage, shown, watched
from campaigns.services.moves import as_utc
from campaigns.store.drops import CLAIMED, CREATED, DONE, PROCESSED, REFUSED, REJECTED, Drop
from campaigns.store.models import Campaign
from campaigns.store.uow import UnitOfWork

GROUPS = ("waiting", "in_progress", "processed", "rejected")
_STATES = {"in_progress": (CLAIMED, CREATED, REFUSED, PROCESSED), "processed": (DONE,), "rejected": (REJECTED,)}


def drops_by_location(settings, uow_factory: Callable[[], UnitOfWork], *, limit: int = 50,
                      storages: list[Storage] | None = None, live: bool = True) -> list[dict]:
    """For each watched location: ``{"location", "error", "counts": {group: n}, and each
    group's newest ``limit`` drops}``. ``live`` lists the location for its waiting files
    (an unreachable one gives ``error`` and no waiting list). Raises LocationError for a
    CAMPAIGNS_WATCH entry that cannot be parsed."""
    storages = watched(settings) if storages is None else storages
    return [_one(storage, settings, uow_factory, limit, live) for storage in storages]


def _one(storage: Storage, settings, uow_factory, limit: int, live: bool) -> dict:
    out: dict = {"location": storage.location, "error": None, "counts": {}}
    waiting: list[dict] = []
    if live:
        try:
            listing = storage.list()
            settle = settings.watch_settle_seconds if storage.settles else 0.0
            found = sort_listing(listing.entries, now=time.time(), settle=settle,
                                 orphan_after=settings.watch_orphan_seconds)
            waiting = [{"path": c.file.path, "shown": shown(storage.location, c.file.path), "reason": c.waiting}
                       for c in found.waiting]
            waiting += [{"path": m.path, "shown": shown(storage.location, m.path),
                         "reason": "a manifest without its recipient file"} for m in _lone(found, listing)]
            waiting += [{"path": path, "shown": shown(storage.location, path),
                         "reason": f"not a recipient file ({', '.join(RECIPIENT_SUFFIXES)}): never taken"}
                        for path in found.ignored]
        except LocationError as exc:
            out["error"] = str(exc)
    out["counts"]["waiting"] = len(waiting)
    out["waiting"] = waiting[:limit]
    with uow_factory() as uow:
        for group, states in _STATES.items():
            rows = uow.session.execute(
                select(Drop, Campaign.state).outerjoin(Campaign, Campaign.id == Drop.campaign_id)
                .where(Drop.location == storage.location, Drop.state.in_(states))
                .order_by(Drop.id.desc()).limit(limit)).all()
            out["counts"][group] = uow.session.scalar(
                select(func.count()).select_from(Drop).where(Drop.location == storage.location,
                                                             Drop.state.in_(states)))
            out[group] = [drop_item(drop, campaign_state) for drop, campaign_state in rows]
    return out


def _lone(found, listing) -> list:
    """Manifests with no recipient file of their stem (not yet orphans)."""
    from campaigns.intake.listing import MANIFEST_SUFFIX, is_taken_form, stem_of, suffix_of

    stems = {stem_of(c.file.path) for c in found.ready + found.waiting} | {stem_of(m.path) for m in found.orphans}
    return [e for e in listing.entries if is_taken_form(e.path) and suffix_of(e.path).lower() == MANIFEST_SUFFIX
            and not e.path.rpartition("/")[2].lower() == "_campaign.json" and stem_of(e.path) not in stems]


def drop_item(drop: Drop, campaign_state: str | None) -> dict:
    """One drop as the overview (and ``watch --json``) shows it."""
    stem = drop.result_stem
    result = None
    if stem is not None and drop.state in (PROCESSED, DONE):
        result = f"processed/{stem}.result.json"
    elif stem is not None and drop.state == REJECTED:
        result = f"rejected/{stem}.error.txt"
    return {
        "drop": drop.id, "path": drop.path, "shown": shown(drop.location, drop.path), "state": drop.state,
        "campaign_id": drop.campaign_id, "campaign_state": campaign_state, "error": drop.error, "result": result,
        "report": f"reports/{stem}.report.csv" if drop.state == DONE and stem else None,
        "seen_at": as_utc(drop.seen_at).isoformat() if drop.seen_at else None,
        "taken_at": as_utc(drop.taken_at).isoformat() if drop.taken_at else None,
    }
