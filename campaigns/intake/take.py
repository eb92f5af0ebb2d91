"""The step of a drop (the ``drop`` action): whatever its state asks for next, under the
drop's lease.

- claimed: read the file, refuse a repeat, submit it as a campaign with the drop's claim
  key as the idempotency key (a take repeated after a crash finds the campaign the first
  one made), then record it;
- created: write result.json, move the file (and its manifest) into ``processed/``;
- refused: write error.txt (and the rejects CSV), move the file into ``rejected/``;
- processed: rewrite result.json as the campaign moves; when it ends, the report.

Every move is a compare-and-set, and every file operation can be repeated, so a step cut
anywhere is finished by the next one the scan issues.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import uuid
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Callable, Iterable, Iterator

from sqlalchemy import Engine, select

from campaigns.intake import claims
from campaigns.intake.listing import suffix_of
from campaigns.intake.locations import LocationError, Storage, parse_location, shown
from campaigns.intake.manifest import ManifestError, drop_settings
from campaigns.intake.results import (
    ENDED, PROCESSED, REJECTED, REPORTS, digest, encoded, free_stem, result_document, signature,
)
from campaigns.services.moves import as_utc, utcnow
from campaigns.services.next import Next
from campaigns.store.drops import CLAIMED, CREATED, DONE, GONE, PROCESSED as S_PROCESSED, REFUSED, Drop
from campaigns.store.drops import REJECTED as S_REJECTED
from campaigns.store.models import Campaign
from campaigns.store.uow import UnitOfWork

log = logging.getLogger(__name__)
ACTION = "drop"
SCOPE = "watch"  # the idempotency keys' scope: one campaign per claim key
TAKE_STATES = (CLAIMED, CREATED, REFUSED, S_PROCESSED)


class _Retry(Exception):
    """Try the step again after ``countdown`` seconds (the reason is logged)."""

    def __init__(self, reason: str, countdown: float):
        super().__init__(reason)
        self.countdown = countdown


def lease_seconds(settings, size: int | None) -> float:
    """How long a step holds a drop: long enough to read and submit a file of ``size``
    bytes (1 s a MB beyond a minute), after which a scan may hand the drop to another
    step (the idempotency key keeps that from making a second campaign)."""
    return max(60.0, 4 * settings.watch_seconds) + (size or 0) / 1_000_000


def advance_drop(drop_id: int, settings, engine: Engine, dispatch: Callable[[Iterable[Next]], None], *,
                 storage: Storage | None = None) -> list[Next]:
    """Run the drop's next step (nothing when another step holds it or it is finished);
    dispatches the steps of a campaign it starts; returns the drop's own next steps."""
    uow_factory = lambda: UnitOfWork(engine)  # noqa: E731
    holder = uuid.uuid4().hex
    with uow_factory() as uow:
        size = uow.session.scalar(select(Drop.size).where(Drop.id == drop_id))
    drop = claims.acquire(uow_factory, drop_id, holder, lease_seconds(settings, size), TAKE_STATES)
    if drop is None:
        return []
    step = _Step(drop, holder, settings, engine, dispatch, storage or parse_location(drop.location, settings))
    try:
        step.run()
        return []
    except _Retry as exc:
        log.info("watch: drop %d (%s): %s; again in %.0f s", drop_id, shown(drop.location, drop.path), exc,
                 exc.countdown)
        return [Next(ACTION, drop_id, exc.countdown)]
    except LocationError as exc:
        log.warning("watch: drop %d (%s): %s", drop_id, shown(drop.location, drop.path), exc)
        return [Next(ACTION, drop_id, settings.watch_seconds)]
    finally:
        claims.release(uow_factory, drop_id, holder)


class _Step:
    def __init__(self, drop: Drop, holder: str, settings, engine: Engine, dispatch, storage: Storage):
        self.drop, self.holder, self.settings, self.engine = drop, holder, settings, engine
        self.dispatch, self.storage = dispatch, storage
        self.uow_factory = lambda: UnitOfWork(engine)
        self.written: str | None = None  # the digest of the result.json this step wrote last

    def move(self, from_states, to=None, **values) -> bool:
        moved = claims.move_drop(self.uow_factory, self.drop.id, from_states, to, holder=self.holder, **values)
        if moved:
            for name, value in values.items():
                setattr(self.drop, name, value)
            if to is not None:
                self.drop.state = to
        return moved

    def run(self) -> None:
        if self.drop.state == CLAIMED:
            self.take()
        if self.drop.state == CREATED:
            self.file_processed()
        if self.drop.state == REFUSED:
            self.file_rejected()
        if self.drop.state == S_PROCESSED:
            self.follow()

    # -- claimed: take it ------------------------------------------------------------
    def take(self) -> None:
        drop = self.drop
        now = self.storage.stat(drop.path)
        if now is None or now.identity != drop.identity:
            what = "went away" if now is None else "changed"
            self.move([CLAIMED], GONE, error=f"the file {what} before it was taken; a new version is a new drop")
            log.warning("watch: %s %s before it was taken", shown(drop.location, drop.path), what)
            return
        try:
            wanted = drop_settings(drop.manifests or {}, drop.path)
        except ManifestError as exc:
            return self.refuse(str(exc))
        workdir = Path(self.settings.data_dir) / "watch"
        with ExitStack() as stack:
            try:
                local = stack.enter_context(self.storage.fetch(drop.path, self.settings, workdir))
            except LocationError as exc:
                if exc.temporary:
                    raise
                return self.refuse(str(exc))  # too large, unreadable: only its owner can act
            sha = _sha256(local)
            self.move([CLAIMED], sha256=sha)
            if not wanted.allow_repeat:
                # one take of a content at a time, from the check to the campaign's record, so
                # two copies dropped at once are one campaign and one repeat
                stack.enter_context(self.content_lease(sha))
                try:
                    self.check_repeat(sha)
                except _Refusal as exc:
                    return self.refuse(str(exc))
            self.submit(local, wanted.request)

    @contextmanager
    def content_lease(self, sha: str) -> Iterator[None]:
        """Hold the lease on this content in this location (leases table) for the block;
        raises _Retry while another drop's take holds it."""
        from campaigns.services.leases import acquire_lease, release_lease

        name = "watch:" + hashlib.sha256(f"{self.drop.location}\0{sha}".encode()).hexdigest()[:58]
        ttl = lease_seconds(self.settings, self.drop.size)
        if not acquire_lease(name, self.holder, ttl, self.uow_factory):
            raise _Retry("the same content is being taken from another drop", max(1.0, self.settings.watch_seconds / 4))
        try:
            yield
        finally:
            release_lease(name, self.holder, self.uow_factory)

    def check_repeat(self, sha: str) -> None:
        """Refuse the drop when the same content was taken from this location within
        CAMPAIGNS_WATCH_REPEAT_DAYS (raises _Refusal naming the earlier file and campaign)."""
        drop, now = self.drop, utcnow()
        since = now - timedelta(days=self.settings.watch_repeat_days)
        with self.uow_factory() as uow:
            earlier = uow.session.execute(
                select(Drop.path, Drop.campaign_id, Drop.taken_at)
                .where(Drop.location == drop.location, Drop.sha256 == sha, Drop.id != drop.id,
                       Drop.state.in_([CREATED, S_PROCESSED, DONE]), Drop.taken_at >= since)
                .order_by(Drop.taken_at.desc()).limit(1)).first()
        if earlier is not None:
            path, campaign_id, taken_at = earlier
            raise _Refusal(
                f"{drop.path.rpartition('/')[2]}: a repeat: the same file as {path}, taken "
                f"{as_utc(taken_at):%Y-%m-%d %H:%M} UTC as campaign {campaign_id}; to send it again, add "
                f'"allow_repeat": true to its manifest')

    def submit(self, local: Path, request) -> None:
        from campaigns.ingest.readers import FileRefused
        from campaigns.services.enqueue import Idempotency, UnknownProvider, enqueue_file
        from campaigns.services.idempotency import IdempotencyBusy
        from campaigns.services.submit import InvalidCampaign

        drop = self.drop
        self.wait_for_earlier_take()
        try:
            once = enqueue_file(local, request, self.settings, self.engine, self.dispatch,
                                idempotency=Idempotency(SCOPE, drop.claim_key, drop.claim_key))
        except FileRefused as exc:
            return self.refuse(str(exc), rejects_of=(local, request))
        except InvalidCampaign as exc:
            problems = list(getattr(exc, "problems", None) or [str(exc)])
            return self.refuse(f"{self.settings_names()}: {'; '.join(problems)}")
        except UnknownProvider as exc:
            return self.refuse(f"{self.settings_names()}: provider: {exc}")
        except IdempotencyBusy:
            raise _Retry("an earlier take of this drop is still submitting it", self.settings.watch_seconds) from None
        except (ValueError, LookupError) as exc:
            return self.refuse(f"{self.settings_names()}: {exc}")
        if self.move([CLAIMED], CREATED, campaign_id=once.campaign_id, taken_at=utcnow()):
            log.info("watch: %s became campaign %d", shown(drop.location, drop.path), once.campaign_id)
            if not once.created:  # made by an earlier take that stopped before recording it: start it now
                self.dispatch([Next("create", once.campaign_id)])

    def wait_for_earlier_take(self) -> None:
        """An earlier take of this drop that is still submitting it (or died doing so)
        holds its idempotency key: come back later rather than block a worker waiting.
        The key of a take that died is taken over once abandoned (ABANDONED_AFTER)."""
        from campaigns.services.idempotency import ABANDONED_AFTER
        from campaigns.store.models import IdempotencyKey

        with self.uow_factory() as uow:
            held = uow.session.execute(
                select(IdempotencyKey.campaign_id, IdempotencyKey.created_at)
                .where(IdempotencyKey.scope == SCOPE, IdempotencyKey.key == self.drop.claim_key)).first()
        if held is None or held[0] is not None:
            return
        left = (as_utc(held[1]) + ABANDONED_AFTER - utcnow()).total_seconds()
        if left > 0:
            raise _Retry(f"an earlier take is submitting it (or died doing so: taken over in {left:.0f} s)",
                         min(max(self.settings.watch_seconds, 1.0), left + 0.5))

    def settings_names(self) -> str:
        names = [m["path"].rpartition("/")[2] for m in (self.drop.manifests or {}).values() if m.get("path")]
        return " + ".join(names) or "the settings"

    # -- refused: into rejected/ --------------------------------------------------------
    def refuse(self, error: str, *, rejects_of=None) -> None:
        """Record the refusal (the rejects CSV first, so a refused drop always has it)."""
        stem = self.stem(REJECTED)
        rejects = _write_rejects(self.storage, f"{REJECTED}/{stem}.rejects.csv", self.settings, self.engine,
                                 *rejects_of) \
            if rejects_of else 0
        if self.move([CLAIMED], REFUSED, error=error, rejects=rejects):
            log.info("watch: %s rejected: %s", shown(self.drop.location, self.drop.path), error)

    def file_rejected(self) -> None:
        drop = self.drop
        stem = self.stem(REJECTED)
        self.storage.write(f"{REJECTED}/{stem}.error.txt", (" ".join((drop.error or "refused").split()) + "\n").encode())
        self.move_manifest(REJECTED, stem)
        suffix = ".json" if drop.kind == "manifest" else suffix_of(drop.path)
        self.storage.move(drop.path, f"{REJECTED}/{stem}{suffix}")
        self.move([REFUSED], S_REJECTED)

    def stem(self, folder: str) -> str:
        if self.drop.result_stem is None:
            self.move(list(TAKE_STATES), result_stem=free_stem(self.storage, folder, self.drop.path, self.drop.id))
        return self.drop.result_stem

    def move_manifest(self, folder: str, stem: str) -> None:
        manifest = (self.drop.manifests or {}).get("file")
        if manifest and manifest.get("path"):
            self.storage.move(manifest["path"], f"{folder}/{stem}.json")

    # -- created: into processed/ -------------------------------------------------------
    def file_processed(self) -> None:
        drop = self.drop
        stem = self.stem(PROCESSED)
        seen = self.write_result(stem, report=None)
        self.move_manifest(PROCESSED, stem)
        self.storage.move(drop.path, f"{PROCESSED}/{stem}{suffix_of(drop.path)}")
        self.move([CREATED], S_PROCESSED, result_seen=seen)

    # -- processed: follow the campaign -------------------------------------------------
    def follow(self) -> None:
        drop = self.drop
        stem = self.stem(PROCESSED)
        with self.uow_factory() as uow:
            state = uow.session.scalar(select(Campaign.state).where(Campaign.id == drop.campaign_id))
        if state in ENDED:
            report = f"{REPORTS}/{stem}.report.csv"
            self.write_report(report)
            seen = self.write_result(stem, report=report)
            self.move([S_PROCESSED], DONE, result_seen=seen)
            log.info("watch: %s: campaign %d ended %s; report in %s", shown(drop.location, drop.path),
                     drop.campaign_id, state, report)
        else:
            self.move([S_PROCESSED], result_seen=self.write_result(stem, report=None))

    def write_result(self, stem: str, *, report: str | None) -> str:
        """Write result.json from the campaign's status; returns the campaign's signature."""
        from campaigns.services.status import campaign_status

        drop = self.drop
        with self.uow_factory() as uow:
            state, updated_at = uow.session.execute(
                select(Campaign.state, Campaign.updated_at).where(Campaign.id == drop.campaign_id)).one()
        status = campaign_status(drop.campaign_id, self.uow_factory)
        data = encoded(result_document(status, location=drop.location, path=drop.path, report=report))
        path = f"{PROCESSED}/{stem}.result.json"
        if digest(data) != self.written:
            self.storage.write(path, data)
            self.written = digest(data)
        return signature(state, updated_at)

    def write_report(self, report: str) -> None:
        from campaigns.services.report import export_report

        local_path = getattr(self.storage, "local_path", None)
        if local_path is not None:
            target = local_path(report)
            target.parent.mkdir(parents=True, exist_ok=True)
            export_report(self.drop.campaign_id, self.uow_factory, target)
            return
        with tempfile.TemporaryDirectory(prefix="campaigns-report-") as tmp:
            target = Path(tmp) / "report.csv"
            export_report(self.drop.campaign_id, self.uow_factory, target)
            self.storage.put_file(report, target)


class _Refusal(Exception):
    """The drop is refused (a repeat): ``str(exc)`` is the one line for error.txt."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _write_rejects(storage: Storage, target: str, settings, engine: Engine, local: Path, request) -> int:
    """The invalid rows of a refused file, as ``validate --rejects-out`` writes them,
    stored at ``target``; returns how many (nothing is stored when none)."""
    from campaigns.ingest.readers import FileRefused
    from campaigns.ingest.rejects import RejectsWriter
    from campaigns.ingest.service import IngestOptions, validate_file

    options = IngestOptions(text=request.text, country=request.country, placeholders=request.placeholders,
                            encoding=request.encoding, sheet=request.sheet, excel_engine=request.excel_engine)
    if not getattr(request, "ignore_suppression", False):  # opted-out rows listed as submit judges them
        from campaigns.services.suppression import with_suppression

        options = with_suppression(options, engine)
    with tempfile.TemporaryDirectory(prefix="campaigns-rejects-") as tmp:
        out = Path(tmp) / "rejects.csv"
        writer = RejectsWriter(out)
        try:
            validate_file(local, options, settings, rejects=writer)
        except (FileRefused, ValueError):
            writer.discard()  # refused as a whole: a partial list of rows would mislead
            return 0
        writer.close()
        if writer.written == 0:
            return 0
        storage.put_file(target, out)
        return writer.written
