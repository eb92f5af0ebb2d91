"""Campaign/AddRecipients, recipient by recipient, as the Campaign module describes it.

Per-recipient codes: 0 added, 1 empty, 2 no number in the data, 3 not in international
format, 4 already in the campaign, 5 in the stop-list, 20 missing placeholders with
placeholdersFlag 3, 32 contact not found (the simulator has no contact book).
Envelope: 0 when all were added, 98 when some were, 99 when none.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from campaigns.simulator.campaign import SimCampaign, SimMessage
from campaigns.simulator.phones import digits_of, fill, international_many, segments

MAX_RECIPIENTS = 500  # "the maximum number of recipients in one request shouldn't exceed 500 entries"
SOURCES = ("recipients", "recipientContacts", "recipientGroups", "recipientsFile")

# params[recipientsFileEncoding] names -> Python codecs
_ENCODINGS = {
    "KOI8-R": "koi8_r", "CP866": "cp866", "WINDOWS-1252": "cp1252", "WINDOWS-1251": "cp1251",
    "UTF-8": "utf-8-sig", "ASCII": "ascii", "ISO-8859-1": "latin-1", "UCS-2": "utf-16",
}


@dataclass(frozen=True)
class Upload:
    """An uploaded file, read off the request before the state machine sees it."""

    filename: str
    content: bytes


@dataclass
class ImportTask:
    """A background import (recipientsFile, recipientGroups): TaskQueue/GetStatus reports it,
    the campaign stays locked until it ends, and its recipients land when it ends."""

    id: int
    campaign_id: int
    created_ts: float
    end_ts: float
    entries: list[Any] = field(default_factory=list)
    flag: int = 1
    replace: bool = False
    applied: bool = False

    def status(self, now: float) -> tuple[int, int]:
        """(status, progress): 0 waiting, 1 running, 2 done (TaskQueue/GetStatus)."""
        if now >= self.end_ts:
            return 2, 100
        span = max(self.end_ts - self.created_ts, 1e-9)
        elapsed = now - self.created_ts
        if elapsed < span * 0.05:
            return 0, 0
        return 1, min(99, int(100 * elapsed / span))


@dataclass(frozen=True)
class Checked:
    """The entries of one AddRecipients request, read and their numbers checked, as
    parallel lists: the number as sent (the answer's ``number``), its digits, the
    placeholder values (None for a plain number), and the code each earns whatever the
    campaign holds (1, 2 or 3), None where the campaign decides."""

    raws: list[str]
    digits: list[str]
    values: list[dict[str, str] | None]
    codes: list[int | None]


def check_entries(entries: Sequence[Any]) -> Checked:
    """Read each entry (a number, or a dict with ``recipient`` and placeholder values) and
    check every number in one batch. Touches no campaign: runs outside the account's lock."""
    count = len(entries)
    values: list[dict[str, str] | None] = [None] * count
    absent: list[int] = []  # dict entries without a recipient
    if all(type(entry) is str for entry in entries):  # numbers, the usual request
        raws = list(entries)
    else:
        raws = []
        for i, entry in enumerate(entries):
            if isinstance(entry, dict):
                fields = {k: ("" if v is None else str(v)) for k, v in entry.items() if not isinstance(v, dict)}
                if "recipient" not in entry:
                    absent.append(i)
                    raws.append("")
                    continue
                raws.append(fields.pop("recipient"))
                values[i] = fields
            else:
                raws.append("" if entry is None else str(entry))
    # "All extraneous characters will be removed automatically" (Campaign module, AddRecipients)
    digits = list(map(digits_of, raws))
    valid = international_many(digits)
    # 1: empty; 3: not a valid number in international format
    codes: list[int | None] = [None if ok else (3 if raw.strip() else 1) for raw, ok in zip(raws, valid)]
    for i in absent:
        codes[i] = 2  # no number in the recipient's data
    return Checked(raws, digits, values, codes)


def add_checked(
    campaign: SimCampaign,
    checked: Checked,
    *,
    flag: int,
    stop_list: frozenset[str],
    new_message_id: Callable[[], int],
) -> tuple[list[dict[str, Any]], list[SimMessage]]:
    """Add the checked entries to ``campaign`` in order (a number twice in one request is a
    duplicate the second time); returns AddRecipients' answer, one element an entry, and
    the messages created."""
    results: list[dict[str, Any]] = []
    added: list[SimMessage] = []
    by_phone = campaign.by_phone
    counts = campaign.added_counts
    template = campaign.type == 3
    text = campaign.text
    seg_num = segments(text)
    index = len(campaign.messages)
    for raw, digits, values, code in zip(checked.raws, checked.digits, checked.values, checked.codes):
        if code is not None:
            results.append(_result((digits or None) if code == 3 else None, code, None, raw))
            continue
        if digits in by_phone:
            results.append(_result(digits, 4, None, raw))
            continue
        if digits in stop_list:
            results.append(_result(digits, 5, None, raw))
            continue
        if template:
            text, missing = fill(campaign.text, values or {}, flag)
            if missing and flag == 3:
                results.append(_result(digits, 20, None, raw))
                continue
            seg_num = segments(text)
        message = SimMessage(new_message_id(), campaign.id, digits, text, seg_num, index)
        index += 1
        added.append(message)
        by_phone[digits] = message
        counts[digits] += 1
        results.append(_result(digits, 0, message.id, raw))
    campaign.messages.extend(added)
    return results, added


def _result(recipient: str | None, code: int, message_id: int | None, number: str) -> dict[str, Any]:
    return {
        "recipient": recipient,
        "code": code,
        "messageId": None if message_id is None else str(message_id),
        "type": "number",
        "number": number,
    }


def contact_result(contact: Any) -> dict[str, Any]:
    """A recipientContacts entry: the simulator has no contact book, so code 32."""
    return {"recipient": None, "code": 32, "messageId": None, "type": "contact", "contactId": str(contact)}


def envelope_code(results: list[dict[str, Any]]) -> int:
    """0 when every recipient was added, 98 when some were, 99 when none."""
    added = sum(1 for r in results if r["code"] == 0)
    if added == len(results):
        return 0
    return 98 if added else 99


def read_recipients_file(upload: Upload, *, template: bool, params: dict[str, Any]) -> list[Any]:
    """The recipients in a CSV or XLS file, as AddRecipients entries.

    A regular campaign takes one number a line (first column); a template campaign takes a
    header row naming ``recipient`` and the placeholders. Raises ValueError with a reason.
    """
    rows = _xls_rows(upload.content) if _is_xls(upload) else _csv_rows(upload.content, params)
    skip = template or str(params.get("recipientsFileSkipHeader", "0")).strip() == "1"
    if not template:
        body = rows[1:] if skip else rows
        return [row[0] if row else "" for row in body if any(cell.strip() for cell in row)]
    if not rows:
        raise ValueError("the file is empty: a template campaign needs a header row")
    header = [cell.strip() for cell in rows[0]]
    named = [h for h in header if h]
    if len(set(named)) != len(named):
        raise ValueError("the file has columns with the same heading")
    if "recipient" not in header:
        raise ValueError("the file has no 'recipient' column")
    entries = []
    for row in rows[1:]:
        if not any(cell.strip() for cell in row):
            continue
        entries.append({name: (row[i] if i < len(row) else "") for i, name in enumerate(header) if name})
    return entries


def _is_xls(upload: Upload) -> bool:
    return upload.filename.lower().endswith(".xls") or upload.content[:4] == b"\xd0\xcf\x11\xe0"


def _xls_rows(content: bytes) -> list[list[str]]:
    import xlrd

    try:
        book = xlrd.open_workbook(file_contents=content, on_demand=True)
    except Exception as exc:  # xlrd raises several unrelated types for a damaged file
        raise ValueError(f"the XLS file cannot be read: {exc}") from None
    try:
        sheet = book.sheet_by_index(0)
        rows = []
        for r in range(sheet.nrows):
            cells = []
            for value in sheet.row_values(r):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                cells.append(str(value))
            rows.append(cells)
        return rows
    finally:
        book.release_resources()


def _csv_rows(content: bytes, params: dict[str, Any]) -> list[list[str]]:
    encoding_name = str(params.get("recipientsFileEncoding") or "UTF-8").upper()
    codec = _ENCODINGS.get(encoding_name)
    if codec is None:
        raise ValueError(f"unsupported recipientsFileEncoding {encoding_name!r}")
    try:
        text = content.decode(codec)
    except UnicodeDecodeError:
        raise ValueError(f"the file is not valid {encoding_name}") from None
    delimiter = str(params.get("recipientsFileDelimiter") or ",")[:1]
    enclosure = str(params.get("recipientsFileEnclosure") or "'")[:1]
    try:
        return [row for row in csv.reader(io.StringIO(text), delimiter=delimiter, quotechar=enclosure)]
    except csv.Error as exc:
        raise ValueError(f"the file cannot be read as CSV: {exc}") from None
