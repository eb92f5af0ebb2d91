"""Checking a recipient file from end to end: read it, find its layout, check every row.

``check_file`` is what ``validate_file`` runs, and what ``ingest_file`` runs with a sink
that stores the rows. It imports nothing of the database.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Iterator, Mapping

from campaigns.ingest import segments as seg
from campaigns.ingest.checking import phone_checks
from campaigns.ingest.phones import PhoneValidator
from campaigns.ingest.placeholders import PlaceholderRefused, find_placeholders, placeholders_flag
from campaigns.ingest.readers import FileRefused, Limits, read_table
from campaigns.ingest.recipients import Check, Layout, Sink, Tally, find_layout, first_row
from campaigns.ingest.rejects import RejectsWriter
from campaigns.ingest.report import FileInfo, IngestReport
from campaigns.settings import Settings

MAX_CHUNK = 500  # Mobizon: at most 500 recipients per addRecipients call (seed 002, code 12)
TEMPLATE, MASS = 3, 2  # Mobizon campaign data[type]


@dataclass(frozen=True)
class IngestOptions:
    text: str
    country: str | None = None  # ISO alpha-2 default region for national formats
    placeholders: str = "keep"  # keep | strip | reject -> Mobizon placeholdersFlag 1 | 2 | 3
    encoding: str | None = None
    sheet: str | None = None
    excel_engine: str = "calamine"
    # phones (international digits as ints) left out of the campaign, each with its reason
    # (recipients.Check.excluded); None costs nothing
    excluded: Mapping[int, str] | None = None




def check_file(
    path: Path,
    options: IngestOptions,
    settings: Settings,
    *,
    sink: Sink | None = None,
    rejects: RejectsWriter | None = None,
) -> IngestReport:
    """Read and check ``path``, giving ``sink`` (when given) its recipient rows and
    ``rejects`` its problem rows; see campaigns.ingest.service for what is raised."""
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
        with phone_checks(validator, helper=use_helper(path, settings)) as checks:
            check = Check(
                layout=layout,
                validator=validator,
                text=options.text,
                mode=options.placeholders,
                sink=sink,
                on_problem=rejects.write if rejects is not None else None,
                checks=checks,
                excluded=options.excluded,
            )
            tally = check.run(data)
    finally:
        _close(table.rows)
    _count(report, tally, options.text, chunk_size(settings))
    return report


def use_helper(path: Path, settings: Settings) -> bool:
    """Whether a helper process should check ``path``: it pays for its start (~0.2 s) only
    on large files (settings.check_helper_bytes, 0: never), and only with a second CPU."""
    threshold = settings.check_helper_bytes
    if threshold <= 0 or (os.cpu_count() or 1) < 2:
        return False
    try:
        return path.stat().st_size >= threshold
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


def chunk_size(settings: Settings) -> int:
    """Recipients per chunk: the setting, at most Mobizon's 500."""
    return max(1, min(settings.chunk_size, MAX_CHUNK))


def _close(rows: object) -> None:
    close = getattr(rows, "close", None)
    if close is not None:
        close()
