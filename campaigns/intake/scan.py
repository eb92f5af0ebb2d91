"""One scan of the watched locations: the periodic job of the tick (beat, the embedded
runner of ``campaigns serve``) and of ``campaigns watch``.

A scan lists each location, claims the drops that are ready (an INSERT only one scan
can win), records those waiting for settings (logged once), and returns a
``Next("drop", id)`` for every drop that needs a step: just claimed, claimed by a
process that died before taking it, taken but not yet moved, or whose campaign moved
since its result.json was written. The heavy work (reading the file, submitting it,
moving it, the report) is the step's (campaigns.intake.take), so the tick stays short.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import select

from campaigns.intake import claims
from campaigns.intake.listing import RECIPIENT_SUFFIXES, Candidate, sort_listing, stem_of
from campaigns.intake.locations import LocationError, Storage, shown, watched
from campaigns.intake.manifest import MAX_MANIFEST_BYTES
from campaigns.intake.results import signature
from campaigns.services.moves import utcnow
from campaigns.services.next import Next
from campaigns.store.drops import CLAIMED, CREATED, PROCESSED, REFUSED, WAITING, Drop
from campaigns.store.models import Campaign
from campaigns.store.uow import UnitOfWork

log = logging.getLogger(__name__)
ACTION = "drop"


@dataclass
class LocationScan:
    location: str
    listed: int = 0
    calls: int = 0
    claimed: list[int] = field(default_factory=list)
    waiting: int = 0
    steps: list[Next] = field(default_factory=list)
    error: str | None = None
    settles_at: float | None = None  # epoch seconds: a scan then takes a file settling now


def scan_locations(settings, uow_factory: Callable[[], UnitOfWork], *, storages: list[Storage] | None = None,
                   now: float | None = None) -> list[LocationScan]:
    """Scan every watched location once; returns what each scan found and the steps to
    dispatch. A location that cannot be listed is logged and skipped (the others go on);
    raises LocationError only for a CAMPAIGNS_WATCH entry that cannot be parsed."""
    storages = watched(settings) if storages is None else storages
    out = []
    for storage in storages:
        result = LocationScan(storage.location)
        try:
            _scan_one(storage, settings, uow_factory, result, time.time() if now is None else now)
        except LocationError as exc:
            result.error = str(exc)
            log.warning("watch: %s", exc)
        out.append(result)
    return out


def scan_steps(settings, uow_factory) -> list[Next]:
    """The periodic job: scan, and the steps to dispatch."""
    return [step for scan in scan_locations(settings, uow_factory) for step in scan.steps]


def _scan_one(storage: Storage, settings, uow_factory, result: LocationScan, now: float) -> None:
    listing = storage.list()
    result.listed, result.calls = len(listing.entries), listing.calls
    for name in listing.skipped:
        _once(f"skipped:{storage.location}:{name}", "watch: %s: %s cannot be taken: its name is not UTF-8; rename it",
              storage.location, name)
    settle = settings.watch_settle_seconds if storage.settles else 0.0
    found = sort_listing(listing.entries, now=now, settle=settle, orphan_after=settings.watch_orphan_seconds)
    loc = storage.location

    def key(entry) -> str:
        return claims.claim_key(loc, entry.path, entry.identity)

    no_settings = [c for c in found.waiting if c.manifest is None and c.folder_settings is None]
    known = claims.known_keys(uow_factory, [key(c.file) for c in found.ready + no_settings]
                              + [key(m) for m in found.orphans])
    for candidate in found.ready:
        k = key(candidate.file)
        if k not in known:
            drop_id = claims.insert_drop(uow_factory, claim_key=k, location=loc, path=candidate.file.path,
                                         identity=candidate.file.identity, size=candidate.file.size, kind="file",
                                         state=CLAIMED, manifests=_manifests(storage, candidate))
            if drop_id is not None:
                result.claimed.append(drop_id)
                log.info("watch: %s claimed as drop %d", shown(loc, candidate.file.path), drop_id)
        elif known[k][1] == WAITING:
            drop_id = known[k][0]
            if claims.move_drop(uow_factory, drop_id, [WAITING], CLAIMED, manifests=_manifests(storage, candidate)):
                result.claimed.append(drop_id)
                log.info("watch: %s claimed as drop %d", shown(loc, candidate.file.path), drop_id)
    keep_waiting = set()
    for candidate in no_settings:
        k = key(candidate.file)
        keep_waiting.add(k)
        if k not in known and claims.insert_drop(
                uow_factory, claim_key=k, location=loc, path=candidate.file.path, identity=candidate.file.identity,
                size=candidate.file.size, kind="file", state=WAITING) is not None:
            log.warning("watch: %s waits: %s", shown(loc, candidate.file.path), candidate.waiting)
    result.waiting, result.settles_at = len(found.waiting), found.settles_at
    for path in found.ignored:
        _once(f"ignored:{loc}:{path}", "watch: %s is not taken: not a recipient file (%s)", shown(loc, path),
              ", ".join(RECIPIENT_SUFFIXES))
    claims.forget_waiting(uow_factory, loc, keep_waiting)
    for manifest in found.orphans:
        k = key(manifest)
        if k in known:
            continue
        name = manifest.path.rpartition("/")[2]
        stem = stem_of(name)
        error = (f"{name}: no recipient file beside it ({stem}.csv, .txt, .xlsx, .xls or .ods) after "
                 f"{settings.watch_orphan_seconds:.0f} s")
        drop_id = claims.insert_drop(uow_factory, claim_key=k, location=loc, path=manifest.path,
                                     identity=manifest.identity, size=manifest.size, kind="manifest",
                                     state=REFUSED, error=error)
        if drop_id is not None:
            log.warning("watch: %s rejected: %s", shown(loc, manifest.path), error)
    result.steps = [Next(ACTION, drop_id) for drop_id in needing_steps(uow_factory, loc)]


def _manifests(storage: Storage, candidate: Candidate) -> dict:
    """The settings files' texts as they are now (a drop keeps the settings it was claimed
    with); a settings file that cannot be read is recorded as an error for the step."""
    found = {}
    for which, entry in (("folder", candidate.folder_settings), ("file", candidate.manifest)):
        if entry is None:
            continue
        try:
            data = storage.read(entry.path, MAX_MANIFEST_BYTES)
            found[which] = {"path": entry.path, "text": data.decode("utf-8")}
        except UnicodeDecodeError:
            found[which] = {"path": entry.path, "error": f"{entry.path.rpartition('/')[2]}: not UTF-8 text"}
        except LocationError as exc:
            if exc.temporary:
                raise
            found[which] = {"path": entry.path, "error": f"{entry.path.rpartition('/')[2]}: {exc}"}
    return found


def needing_steps(uow_factory, location: str) -> list[int]:
    """Drops of ``location`` that need a step now: unleased and not finished, or processed
    with a campaign that moved since its result.json was written."""
    now = utcnow()
    with uow_factory() as uow:
        pending = list(uow.session.scalars(
            select(Drop.id).where(Drop.location == location, Drop.state.in_([CLAIMED, CREATED, REFUSED]),
                                  claims.unleased(now)).order_by(Drop.id)))
        following = uow.session.execute(
            select(Drop.id, Drop.result_seen, Campaign.state, Campaign.updated_at)
            .join(Campaign, Campaign.id == Drop.campaign_id)
            .where(Drop.location == location, Drop.state == PROCESSED, claims.unleased(now)).order_by(Drop.id))
        pending += [drop_id for drop_id, seen, state, updated in following if seen != signature(state, updated)]
    return pending


_logged: set[str] = set()


def _once(key: str, message: str, *args) -> None:
    if key not in _logged:
        _logged.add(key)
        log.warning(message, *args)
