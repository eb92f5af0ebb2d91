"""Ingestion services: check a recipient file (``validate_file``) or check it and store its
recipients in chunks for an existing campaign (``ingest_file``).

Storing a million rows must take seconds, so rows go to the database in batches through
the driver itself (campaigns.ingest.storage: multi-row INSERTs on SQLite, ``COPY`` on
PostgreSQL), in one transaction that also writes the chunks and the campaign's counts. A
file refused half-way leaves nothing behind: the transaction is rolled back. The phones of
a large file are checked by a helper process while this one reads and stores
(campaigns.ingest.checking).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy
from sqlalchemy import insert, select, update

from campaigns.ingest.filecheck import IngestOptions, check_file, chunk_size
from campaigns.ingest.readers import FileRefused
from campaigns.ingest.rejects import RejectsWriter
from campaigns.ingest.report import IngestReport
from campaigns.ingest.storage import recipient_writer
from campaigns.settings import Settings
from campaigns.store.keys import of_campaign
from campaigns.store.models import Campaign, Chunk, Recipient

__all__ = ["IngestOptions", "ingest_file", "validate_file"]

log = logging.getLogger(__name__)


def validate_file(
    path: Path, options: IngestOptions, settings: Settings, *, rejects: RejectsWriter | None = None
) -> IngestReport:
    """Read and check ``path`` without storing anything.

    ``rejects``, when given, receives every invalid and duplicate row. Returns the report
    (``sendable`` False when no recipient is valid). Raises FileRefused when the file as a
    whole is refused (unreadable, no phone column, a placeholder that cannot be sent…) and
    ValueError for options that make no sense (an unknown country or placeholders mode).
    """
    return check_file(Path(path), options, settings, rejects=rejects)


def ingest_file(
    path: Path, options: IngestOptions, settings: Settings, engine: sqlalchemy.Engine, campaign_id: int,
    *, suppression: bool = True,
) -> IngestReport:
    """Check ``path`` and store its recipients and chunks for the existing campaign ``campaign_id``.

    Every data row becomes a ``recipients`` row (valid; invalid with its reason; duplicate
    naming the row of the first occurrence); valid ones get ``chunk_seq`` in file order, in
    chunks of ``settings.chunk_size`` (at most 500), each with a ``chunks`` row in state
    ``pending``; the campaign gets its counts and its type (3 with placeholders, else 2).
    With ``suppression`` (the default) a phone on the suppression list is invalid with the
    reason ``opted out`` (campaigns.services.suppression), the list read once for the file.
    Raises FileRefused when the file is refused or holds no valid recipient, after removing
    everything it stored; ValueError when the campaign does not exist or already has
    recipients, or for options that make no sense.
    """
    path = Path(path)
    with engine.connect() as conn:
        try:
            _claim(conn, campaign_id)
            if suppression:
                from campaigns.services.suppression import with_suppression

                options = with_suppression(options, conn)
            with recipient_writer(conn, campaign_id, chunk_size(settings), path.name) as sink:
                report = check_file(path, options, settings, sink=sink)
            if not report.sendable:
                raise FileRefused(path.name, report.refusal or "no valid recipients")
            _write_chunks(conn, campaign_id, sink.chunk_rows, report.valid, chunk_size(settings))
            conn.execute(
                update(Campaign)
                .where(Campaign.id == campaign_id)
                .values(
                    rows=report.rows,
                    valid=report.valid,
                    invalid=report.invalid,
                    duplicates=report.duplicates,
                    segments=report.segments["total"],
                    type=report.campaign_type,
                    updated_at=_now(),
                )
            )
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        _analyze(conn)
    return report


def _analyze(conn: sqlalchemy.Connection) -> None:
    """Refresh PostgreSQL's statistics of the chunks just written (a few ms): the add path
    claims them by campaign and state, and autovacuum comes only later. Recipients need
    none: every read of them is a range of the primary key (campaigns.store.keys), which
    the planner takes through the index without statistics, and ANALYZE of a million of
    them cost ~0.2 s. A failure is logged, never raised (the rows are committed already)."""
    if conn.dialect.name != "postgresql":
        return
    try:
        conn.execute(sqlalchemy.text("ANALYZE chunks"))
        conn.commit()
    except sqlalchemy.exc.DBAPIError as exc:
        conn.rollback()
        log.warning("ANALYZE after ingestion failed (the planner may be slow until autovacuum): %s", exc)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _claim(conn: sqlalchemy.Connection, campaign_id: int) -> None:
    """Check the campaign exists and has no recipients yet, taking its row's write lock first."""
    touched = conn.execute(
        update(Campaign).where(Campaign.id == campaign_id).values(updated_at=_now())
    ).rowcount
    if touched != 1:
        raise ValueError(f"campaign {campaign_id} does not exist")
    stored = conn.execute(select(Recipient.id).where(of_campaign(Recipient.id, campaign_id)).limit(1)).first()
    if stored is not None:
        raise ValueError(f"campaign {campaign_id} already has recipients")


def _write_chunks(
    conn: sqlalchemy.Connection, campaign_id: int, chunk_rows: list[list[int]], valid: int, size: int
) -> None:
    """A pending chunk for each ``[first row, last row]`` of the ``valid`` recipients, in
    chunks of ``size``."""
    now = _now()
    conn.execute(
        insert(Chunk),
        [
            {
                "campaign_id": campaign_id,
                "seq": seq,
                "size": size if seq + 1 < len(chunk_rows) else valid - seq * size,
                "first_row": first_row,
                "last_row": last_row,
                "state": "pending",
                "state_changed_at": now,
                "attempts": 0,
                "added": 0,
                "rejected": 0,
            }
            for seq, (first_row, last_row) in enumerate(chunk_rows)
        ],
    )
