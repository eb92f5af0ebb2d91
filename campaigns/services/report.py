"""The campaign report: one row per source row, in row order, saying what became of it.

CSV is written as UTF-8 with a BOM so that Excel reads it as such; XLSX through openpyxl's
write-only mode. Both stream from the database, so a campaign of a million rows never sits
in memory. In CSV, a cell that a spreadsheet would run as a formula (starting with ``=``,
``+``, ``-``, ``@``) is written with a leading ``'`` (campaigns.ingest.rejects.neutralize);
in XLSX every text is a cell of type string, which no spreadsheet evaluates, so it is
written as it is (``+7 701…``, not ``'+7 701…``).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Callable, Iterator

from sqlalchemy import select

from campaigns.ingest.rejects import neutralize
from campaigns.services.channels import channel_summary, has_channels
from campaigns.services.errors import CampaignNotFound
from campaigns.services.moves import as_utc
from campaigns.store.models import Campaign, Recipient
from campaigns.store.uow import UnitOfWork
from campaigns.store.keys import of_campaign

HEADER = (
    "row", "phone as given", "phone", "verdict", "reason", "provider code", "provider meaning", "message id",
    "final status", "final status at",
)
# campaigns sent through the cascade gateway also say which channel delivered and its prices
CHANNEL_HEADER = ("channel", "price viber", "price vk", "price sms", "channel states")
FORMATS = (".csv", ".xlsx")
FETCH = 2000  # rows fetched from the database at a time


def export_report(campaign_id: int, uow_factory: Callable[[], UnitOfWork], path: Path) -> int:
    """Write the report of ``campaign_id`` to ``path`` (.csv or .xlsx) and return the number
    of rows written (the header aside). The file appears whole or not at all.

    Raises CampaignNotFound, or ValueError for another file extension.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"the report must be a .csv or .xlsx file, got {path.name!r}")
    partial = path.with_name(f".{path.name}.partial")
    try:
        with uow_factory() as uow:
            campaign = uow.session.get(Campaign, campaign_id)
            if campaign is None:
                raise CampaignNotFound(campaign_id)
            channels = has_channels(campaign.provider_options)
            header = HEADER + CHANNEL_HEADER if channels else HEADER
            summary = channel_summary(campaign.counters) if channels else []
            rows = _rows(uow, campaign_id, channels=channels)
            if suffix == ".csv":
                written = _write_csv(partial, rows, header)
            else:
                written = _write_xlsx(partial, rows, header, summary)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return written


def _rows(uow: UnitOfWork, campaign_id: int, *, channels: bool = False) -> Iterator[tuple]:
    r = Recipient.__table__.c
    extra = (r.channel, r.price_viber, r.price_vk, r.price_sms, r.channel_states) if channels else ()
    query = (
        select(r.row_number, r.raw_phone, r.phone, r.verdict, r.reason, r.provider_code, r.provider_meaning,
               r.message_id, r.final_status, r.final_at, *extra)
        .where(of_campaign(r.id, campaign_id), r.campaign_id == campaign_id)
        .order_by(r.row_number, r.id)
        .execution_options(yield_per=FETCH)
    )
    at = 9  # final_at
    for row in uow.session.execute(query):
        # when the final status arrived (a callback's time, or the poll that saw it), UTC
        yield (*row[:at], as_utc(row[at]).isoformat(timespec="seconds") if row[at] is not None else None, *row[at + 1:])


def _csv_cell(value):
    """Numbers stay numbers, text is neutralized, missing stays missing (an empty cell)."""
    if isinstance(value, str):
        return neutralize(value)
    return value


def _write_csv(path: Path, rows: Iterator[tuple], header: tuple = HEADER) -> int:
    written = 0
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for row in rows:
            writer.writerow([_csv_cell(value) for value in row])
            written += 1
    return written


def _write_xlsx(path: Path, rows: Iterator[tuple], header: tuple = HEADER, summary: list[tuple] = ()) -> int:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    def clean(value):
        if not isinstance(value, str):
            return value
        # XML 1.0 cannot hold most control characters (a NUL byte in a source cell)
        cell = WriteOnlyCell(sheet, ILLEGAL_CHARACTERS_RE.sub("", value))
        cell.data_type = "s"  # openpyxl would make "=…" a formula; a string is never evaluated
        return cell

    book = Workbook(write_only=True)
    sheet = book.create_sheet("report")
    sheet.append(header)
    written = 0
    for row in rows:
        sheet.append([clean(value) for value in row])
        written += 1
    if summary:  # the cascade gateway: delivered and cost per channel
        totals = book.create_sheet("channels")
        for line in summary:
            totals.append(list(line))
    book.save(str(path))
    return written
