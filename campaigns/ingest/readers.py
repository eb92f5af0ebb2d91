"""Read a recipient file, whatever its kind, as numbered rows of text cells.

The kind comes from the content, never from the name: a ZIP archive is XLSX,
XLSB or ODS by the parts it holds, an OLE2 compound file is XLS, anything else
is read as CSV/text. A file named ``.csv`` that is really an XLSX (or the
other way round) reads as what it is.

Every failure is a FileRefused whose message names the file and, when known,
the row; the rows are streamed, so some failures surface while iterating.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from campaigns.ingest.excel import EXCEL_ENGINES, archive_kind, open_sheet
from campaigns.ingest.limits import FileRefused, Limits, human_bytes
from campaigns.ingest.textfile import open_text_table

__all__ = ["EXCEL_ENGINES", "FileRefused", "Limits", "Table", "read_table"]

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass
class Table:
    kind: str  # "csv" | "xlsx" | "xls" | "ods" (and "xlsb", read by calamine)
    encoding: str | None  # csv: the encoding used (e.g. "utf-8", "windows-1251")
    delimiter: str | None  # csv: the delimiter sniffed
    sheet: str | None  # excel: the sheet name read
    # (1-based row number, cells as text), streamed. The number is the row a
    # spreadsheet program shows: for CSV, the record's position (a quoted line
    # break does not count). Blank rows are skipped; their numbers are not reused.
    rows: Iterator[tuple[int, list[str]]]


def read_table(
    path: Path,
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    excel_engine: str = "calamine",
    limits: Limits = Limits(),
) -> Table:
    """Open ``path`` and return its rows, decided by content, streamed.

    ``encoding`` overrides detection for text files; ``sheet`` (a name or a
    1-based position) and ``excel_engine`` (one of EXCEL_ENGINES) apply to
    spreadsheets. Raises FileRefused, also lazily while ``rows`` is iterated,
    for anything that makes the file as a whole unreadable, including a bad
    engine or sheet argument, or a sheet asked of a text file.
    """
    path = Path(path)
    label = path.name
    if excel_engine not in EXCEL_ENGINES:
        raise FileRefused(
            label,
            f"unknown Excel engine {excel_engine!r}; choose one of {', '.join(EXCEL_ENGINES)}",
        )
    try:
        size = path.stat().st_size
        with open(path, "rb") as file:
            magic = file.read(len(_OLE2_MAGIC))
    except FileNotFoundError:
        raise FileRefused(label, "no such file") from None
    except IsADirectoryError:
        raise FileRefused(label, "is a folder, not a file") from None
    except OSError as exc:
        raise FileRefused(label, f"cannot be read: {exc.strerror}") from None
    if size == 0:
        raise FileRefused(label, "the file is empty")
    if size > limits.max_file_bytes:
        raise FileRefused(
            label,
            f"the file is {human_bytes(size)}, more than the "
            f"{human_bytes(limits.max_file_bytes)} limit",
        )
    if magic.startswith(_ZIP_MAGIC) or magic == _OLE2_MAGIC:
        kind = "xls" if magic == _OLE2_MAGIC else archive_kind(path, limits)
        name, rows = open_sheet(path, kind, sheet=sheet, engine=excel_engine, limits=limits)
        return Table(kind=kind, encoding=None, delimiter=None, sheet=name, rows=rows)
    if sheet is not None:
        raise FileRefused(label, "--sheet applies only to spreadsheets (XLSX, XLS, ODS); this file is text")
    text = open_text_table(path, size=size, encoding=encoding, limits=limits)
    return Table(
        kind="csv", encoding=text.encoding, delimiter=text.delimiter, sheet=None, rows=text.rows
    )
