"""Ingestion services: check a recipient file (``validate_file``) or check it and store its
recipients in chunks for an existing campaign (``ingest_file``).

Storing a million rows must take seconds, so rows go to the database in batches through
the driver itself (campaigns.ingest.storage: multi-row INSERTs on SQLite, ``COPY`` on
PostgreSQL), in one transaction that also writes the chunks and the campaign's counts. A
file refused half-way leaves nothing behind: the transaction is rolled back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import chain
from pathlib import Path
from typing import Iterator

import sqlalchemy
from sqlalchemy import insert, select, update

from campaigns.ingest import segments as seg
from campaigns.ingest.checking import phone_checks
from campaigns.ingest.phones import PhoneValidator
from campaigns.ingest.placeholders import PlaceholderRefused, find_placeholders, placeholders_flag
from campaigns.ingest.readers import FileRefused, Limits, read_table
from campaigns.ingest.recipients import Check, Layout, Sink, Tally, find_layout, first_row
from campaigns.ingest.rejects import RejectsWriter
from campaigns.ingest.report import FileInfo, IngestReport
from campaigns.ingest.storage import recipient_writer
from campaigns.settings import Settings
from campaigns.store.models import Campaign, Chunk, Recipient

MAX_CHUNK = 500  # Mobizon: at most 500 recipients per addRecipients call (seed 002, code 12)
TEMPLATE, MASS = 3, 2  # Mobizon campaign data[type]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestOptions:
    text: str
    country: str | None = None  # ISO alpha-2 default region for national formats
    placeholders: str = "keep"  # keep | strip | reject -> Mobizon placeholdersFlag 1 | 2 | 3
    encoding: str | None = None
    sheet: str | None = None
    excel_engine: str = "calamine"


def validate_file(
    path: Path, options: IngestOptions, settings: Settings, *, rejects: RejectsWriter | None = None
) -> IngestReport:
    """Read and check ``path`` without storing anything.

    ``rejects``, when given, receives every invalid and duplicate row. Returns the report
    (``sendable`` False when no recipient is valid). Raises FileRefused when the file as a
    whole is refused (unreadable, no phone column, a placeholder that cannot be sent…) and
    ValueError for options that make no sense (an unknown country or placeholders mode).
    """
    return _check(Path(path), options, settings, rejects=rejects)


def ingest_file(
    path: Path, options: IngestOptions, settings: Settings, engine: sqlalchemy.Engine, campaign_id: int
) -> IngestReport:
    """Check ``path`` and store its recipients and chunks for the existing campaign ``campaign_id``.

    Every data row becomes a ``recipients`` row (valid; invalid with its reason; duplicate
    naming the row of the first occurrence); valid ones get ``chunk_seq`` in file order, in
    chunks of ``settings.chunk_size`` (at most 500), each with a ``chunks`` row in state
    ``pending``; the campaign gets its counts and its type (3 with placeholders, else 2).
    Raises FileRefused when the file is refused or holds no valid recipient, after removing
    everything it stored; ValueError when the campaign does not exist or already has
    recipients, or for options that make no sense.
    """
    path = Path(path)
    with engine.connect() as conn:
        try:
            _claim(conn, campaign_id)
            with recipient_writer(conn, campaign_id, _chunk_size(settings), path.name) as sink:
                report = _check(path, options, settings, sink=sink)
            if not report.sendable:
                raise FileRefused(path.name, report.refusal or "no valid recipients")
            _write_chunks(conn, campaign_id, report.valid, _chunk_size(settings))
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
    """Refresh PostgreSQL's statistics of the tables just loaded in bulk: without them the
    planner takes a table of 100,000 fresh rows for a small one and answers the add path's
    per-chunk statements by scanning it whole (autovacuum comes only later). ~10-50 ms; a
    failure is logged, never raised (the rows are committed already)."""
    if conn.dialect.name != "postgresql":
        return
    try:
        conn.execute(sqlalchemy.text("ANALYZE recipients, chunks"))
        conn.commit()
    except sqlalchemy.exc.DBAPIError as exc:
        conn.rollback()
        log.warning("ANALYZE after ingestion failed (the planner may be slow until autovacuum): %s", exc)


def _check(
    path: Path,
    options: IngestOptions,
    settings: Settings,
    *,
    sink: Sink | None = None,
    rejects: RejectsWriter | None = None,
) -> IngestReport:
    flag = placeholders_flag(options.placeholders)
    validator = PhoneValidator(options.country)
    try:
        names = find_placeholders(options.text)
    except PlaceholderRefused as exc:
        raise FileRefused(path.name, str(exc)) from None
    table = read_table(
        path,
        encoding=options.encoding,
        sheet=options.sheet,
        excel_engine=options.excel_engine,
        limits=Limits.from_settings(settings),
    )
    info = FileInfo(
        name=path.name, kind=table.kind, encoding=table.encoding, delimiter=table.delimiter, sheet=table.sheet
    )
    report = IngestReport(
        file=info,
        placeholders=list(names),
        campaign_type=TEMPLATE if names else MASS,
        placeholders_flag=flag,
    )
    rows = iter(table.rows)
    try:
        first = first_row(rows)
        if first is None:
            raise FileRefused(path.name, "the file has no rows")
        layout = find_layout(first[0], first[1], names, validator, path.name)
        info.header_row = layout.header_row
        info.phone_column = layout.phone_header or f"column {layout.phone_index + 1}"
        _placeholder_columns(path.name, layout, options.placeholders, report)
        data: Iterator[tuple[int, list[str]]] = rows if layout.header is not None else chain([first], rows)
        if rejects is not None:
            rejects.begin(layout.header, len(first[1]))
        with phone_checks(validator, helper=_use_helper(path, settings)) as checks:
            check = Check(
                layout=layout,
                validator=validator,
                text=options.text,
                mode=options.placeholders,
                sink=sink,
                on_problem=rejects.write if rejects is not None else None,
                checks=checks,
            )
            tally = check.run(data)
    finally:
        _close(table.rows)
    _count(report, tally, options.text, _chunk_size(settings))
    return report


def _use_helper(path: Path, settings: Settings) -> bool:
    """A helper process pays for its start (~0.1 s) only on large files."""
    threshold = settings.check_helper_bytes
    try:
        return threshold > 0 and path.stat().st_size >= threshold
    except OSError:
        return False


def _count(report: IngestReport, tally: Tally, text: str, chunk_size: int) -> None:
    """Put what the rows came to into ``report``, with the refusal when nothing can be sent."""
    report.rows, report.valid = tally.rows, tally.valid
    report.invalid, report.duplicates = tally.invalid, tally.duplicates
    report.invalid_by_reason = dict(sorted(tally.invalid_by_reason.items(), key=lambda kv: -kv[1]))
    report.problems = tally.problems
    report.placeholder_problems.extend(
        f"{{{name}}} is empty for {number:,} valid recipient{'s' if number > 1 else ''}"
        for name, number in tally.empty_values.items()
    )
    report.segments = {
        "total": tally.segments_total,
        "max_per_message": tally.segments_max,
        "encoding": seg.combine(tally.encodings) if tally.encodings else seg.count(text)[1],
    }
    report.chunks = -(-tally.valid // chunk_size)
    if not report.rows:
        report.refusal = "no recipients: the file has a header row and no data rows"
    elif not tally.valid:
        report.refusal = f"no valid recipients among {report.rows:,} rows"


def _placeholder_columns(file: str, layout: Layout, mode: str, report: IngestReport) -> None:
    """Placeholders without a column: refused with ``reject``, else reported (seed 002, placeholdersFlag)."""
    if not layout.missing:
        return
    header = ", ".join(repr(h) for h in layout.header or () if h)
    if mode == "reject":
        missing = ", ".join("{" + name + "}" for name in layout.missing)
        raise FileRefused(
            file,
            f"no column for placeholder {missing} (--placeholders reject); the header row has {header}",
            layout.header_row,
        )
    outcome = "stays in the text as written" if mode == "keep" else "is removed from the text"
    for name in layout.missing:
        report.placeholder_problems.append(f"{{{name}}} has no column in the file: it {outcome}")


def _chunk_size(settings: Settings) -> int:
    return max(1, min(settings.chunk_size, MAX_CHUNK))


def _close(rows: object) -> None:
    close = getattr(rows, "close", None)
    if close is not None:
        close()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _claim(conn: sqlalchemy.Connection, campaign_id: int) -> None:
    """Check the campaign exists and has no recipients yet, taking its row's write lock first."""
    touched = conn.execute(
        update(Campaign).where(Campaign.id == campaign_id).values(updated_at=_now())
    ).rowcount
    if touched != 1:
        raise ValueError(f"campaign {campaign_id} does not exist")
    stored = conn.execute(select(Recipient.id).where(Recipient.campaign_id == campaign_id).limit(1)).first()
    if stored is not None:
        raise ValueError(f"campaign {campaign_id} already has recipients")


def _write_chunks(conn: sqlalchemy.Connection, campaign_id: int, valid: int, size: int) -> None:
    now = _now()
    conn.execute(
        insert(Chunk),
        [
            {
                "campaign_id": campaign_id,
                "seq": seq,
                "size": min(size, valid - seq * size),
                "state": "pending",
                "state_changed_at": now,
                "attempts": 0,
                "added": 0,
                "rejected": 0,
            }
            for seq in range(-(-valid // size))
        ],
    )
