"""Excel and OpenDocument recipient files: XLSX, XLSB, XLS and ODS, through a chosen engine.

python-calamine (Rust) reads every kind and is the default; openpyxl reads
XLSX, xlrd reads XLS. Every engine's cells become the same strings: a number
stored as ``77011234567.0`` is ``"77011234567"``, dates are ISO, booleans
``TRUE``/``FALSE``, formulas give their cached values. Row numbers are the
sheet's own (1-based); a cell holding an error (``#N/A``) is empty, as
python-calamine gives it; trailing empty cells are dropped and empty rows
skipped, so all engines give the same rows.

Archives (XLSX, XLSB, ODS) are inspected before any engine sees them: a damaged
archive, or one whose parts inflate far beyond their size (a zip bomb), is
refused unparsed.
"""

from __future__ import annotations

import datetime
import io
import warnings
import zipfile
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Sequence

from campaigns.ingest.limits import FileRefused, Limits, human_bytes

EXCEL_ENGINES = ("calamine", "openpyxl", "xlrd")
ENGINE_KINDS = {
    "calamine": ("xlsx", "xlsb", "xls", "ods"),
    "openpyxl": ("xlsx",),
    "xlrd": ("xls",),
}
_SUFFIXES = {
    "xlsx": (".xlsx", ".xlsm", ".xltx", ".xltm"),
    "xlsb": (".xlsb",),
    "xls": (".xls", ".xla"),
    "ods": (".ods",),
}
# Parts smaller than this are not judged by their ratio: a small part of
# repeated markup legitimately compresses very well.
RATIO_CHECK_MIN_BYTES = 1024 * 1024

_MIDNIGHT = datetime.time()
# python-calamine gives a cell holding an error (a formula's #N/A...) as empty;
# the other engines are made to agree.
_ERROR_TEXTS = frozenset(
    ("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA")
)


def archive_kind(path: Path, limits: Limits) -> str:
    """The kind of spreadsheet a ZIP archive holds: ``xlsx``, ``xlsb`` or ``ods``.

    Reads only the archive's directory. Raises FileRefused for a damaged or
    truncated archive, an archive that holds no spreadsheet, and a zip bomb
    (a part inflating more than ``limits.max_inflate_ratio`` times, or all parts
    together more than ``limits.max_inflated_bytes``).
    """
    label = path.name
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            names = {member.filename for member in members}
            mimetype = _mimetype(archive, names)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise FileRefused(
            label, f"not a readable XLSX file: the archive is damaged or truncated ({exc})"
        ) from None
    if "xl/workbook.xml" in names:
        kind = "xlsx"
    elif "xl/workbook.bin" in names:
        kind = "xlsb"
    elif "content.xml" in names and "opendocument.spreadsheet" in mimetype:
        kind = "ods"
    else:
        raise FileRefused(
            label, "a ZIP archive that holds no spreadsheet (not XLSX or ODS); unzip it first"
        )
    _refuse_zip_bomb(label, kind, members, limits)
    return kind


def _mimetype(archive: zipfile.ZipFile, names: set[str]) -> str:
    if "mimetype" not in names or archive.getinfo("mimetype").file_size > 200:
        return ""
    return archive.read("mimetype").decode("ascii", "replace")


def _refuse_zip_bomb(label: str, kind: str, members: list[zipfile.ZipInfo], limits: Limits) -> None:
    total = sum(member.file_size for member in members)
    if total > limits.max_inflated_bytes:
        raise FileRefused(
            label,
            f"refused unread: the {kind.upper()} parts inflate to {human_bytes(total)}, "
            f"more than the {human_bytes(limits.max_inflated_bytes)} limit",
        )
    for member in members:
        if member.file_size < RATIO_CHECK_MIN_BYTES:
            continue
        ratio = member.file_size / max(member.compress_size, 1)
        if ratio > limits.max_inflate_ratio:
            raise FileRefused(
                label,
                f"refused unread: part {member.filename} inflates {ratio:,.0f} times "
                f"(to {human_bytes(member.file_size)}), more than the "
                f"{limits.max_inflate_ratio} times allowed; it looks like a zip bomb",
            )


def open_sheet(
    path: Path, kind: str, *, sheet: str | None, engine: str, limits: Limits
) -> tuple[str, Iterator[tuple[int, list[str]]]]:
    """The name of the chosen sheet (the first by default) and its rows, streamed.

    ``sheet`` is a sheet name, or a 1-based position. Raises FileRefused for an
    unknown engine, an engine that cannot read ``kind``, an unknown sheet (the
    message lists the sheets) and an unreadable workbook; the rows raise
    FileRefused for more than ``limits.max_rows`` rows or a sheet that cannot
    be parsed.
    """
    label = path.name
    if engine not in EXCEL_ENGINES:
        raise FileRefused(
            label, f"unknown Excel engine {engine!r}; choose one of {', '.join(EXCEL_ENGINES)}"
        )
    if kind not in ENGINE_KINDS[engine]:
        able = [name for name in EXCEL_ENGINES if kind in ENGINE_KINDS[name]]
        raise FileRefused(
            label,
            f"this is an {kind.upper()} file, which the {engine} engine cannot read; "
            f"use {' or '.join(able)}",
        )
    names = _ENGINES[engine][0](path, label, kind)
    index = _sheet_index(label, names, sheet)
    rows = _numbered_rows(label, kind, _ENGINES[engine][1](path, label, kind, index), limits)
    return names[index], rows


def _sheet_index(label: str, names: Sequence[str], sheet: str | None) -> int:
    if not names:
        raise FileRefused(label, "the workbook has no sheets")
    if sheet is None:
        return 0
    wanted = str(sheet).strip()
    if wanted in names:
        return list(names).index(wanted)
    folded = [name.casefold() for name in names]
    if wanted.casefold() in folded:
        return folded.index(wanted.casefold())
    if wanted.isdigit() and 1 <= int(wanted) <= len(names):
        return int(wanted) - 1
    listing = ", ".join(f"{number} {name!r}" for number, name in enumerate(names, 1))
    raise FileRefused(label, f"no sheet {wanted!r}; the sheets are: {listing}")


def _numbered_rows(
    label: str, kind: str, values: Iterator[Sequence[object]], limits: Limits
) -> Iterator[tuple[int, list[str]]]:
    with _parser_errors(label, kind):
        for number, row in enumerate(values, 1):
            cells = [value if type(value) is str else cell_text(value) for value in row]
            while cells and not cells[-1]:
                cells.pop()
            if not cells:
                continue
            if "\x00" in "".join(cells):
                # As for CSV: a NUL is binary data in a text cell, and PostgreSQL text cannot hold it.
                raise FileRefused(label, "a cell contains a NUL character (binary data in a text cell)", number)
            if number > limits.max_rows:
                raise FileRefused(label, f"more than {limits.max_rows:,} rows (the limit)")
            yield number, cells


@contextmanager
def _parser_errors(label: str, kind: str) -> Iterator[None]:
    """Turn whatever a parser raises on a malformed workbook into FileRefused.

    The engines parse untrusted files and fail in many ways (zip, XML, struct,
    key and index errors, Rust panics); a person needs one line, not a traceback.
    """
    try:
        yield
    except FileRefused:
        raise
    except Exception as exc:  # noqa: BLE001 - see the docstring
        raise FileRefused(label, _unreadable(kind, exc)) from None
    except BaseException as exc:
        # pyo3 turns a Rust panic into PanicException, a BaseException
        if type(exc).__name__ != "PanicException":
            raise
        raise FileRefused(label, _unreadable(kind, exc)) from None


def _unreadable(kind: str, exc: BaseException) -> str:
    if type(exc).__name__ == "PasswordError":
        return "the workbook is password-protected; save a copy without the password"
    detail = str(exc).strip() or type(exc).__name__
    return f"not a readable {kind.upper()} file ({detail})"


def cell_text(value: object) -> str:
    """A cell's value as the text a person sees (see the module docstring)."""
    if value is None:
        return ""
    kind = type(value)
    if kind is float:
        return _number_text(value)
    if kind is bool:
        return "TRUE" if value else "FALSE"
    if kind is datetime.datetime:
        if value.time() == _MIDNIGHT:
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if kind in (datetime.date, datetime.time):
        return value.isoformat()
    if kind is datetime.timedelta:
        seconds = int(value.total_seconds())
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return str(value)


def _number_text(number: float) -> str:
    if number.is_integer():
        return str(int(number))
    text = repr(number)
    if "e" in text and "inf" not in text:
        text = format(Decimal(text), "f")
    return text


# --- engines: each lists the sheet names, and yields a sheet's rows of raw values


def _check_compound_file(path: Path, label: str) -> None:
    """Refuse an XLS whose compound-file structure is damaged, before calamine reads it.

    calamine trusts the sector tables of an XLS: a damaged one made it try to allocate
    4 GiB and abort the process (found by fuzzing), which no ``except`` can catch.
    xlrd's pure-Python reader of the same structure checks it and raises instead.
    """
    from xlrd import compdoc

    try:
        compdoc.CompDoc(path.read_bytes(), logfile=io.StringIO())
    except Exception as exc:  # noqa: BLE001 - xlrd asserts, recurses and indexes on damage
        detail = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise FileRefused(label, f"not a readable XLS file (damaged: {detail})") from None


def _calamine_book(path: Path, kind: str):
    from python_calamine import CalamineWorkbook

    if path.suffix.lower() in _SUFFIXES[kind]:
        return CalamineWorkbook.from_path(str(path))
    # calamine picks the format of a path by its extension; from bytes it
    # looks at the content (the file is read into memory: it is under the limit)
    with open(path, "rb") as file:
        return CalamineWorkbook.from_filelike(file)


def _calamine_names(path: Path, label: str, kind: str) -> list[str]:
    if kind == "xls":
        _check_compound_file(path, label)
    with _parser_errors(label, kind), _calamine_book(path, kind) as book:
        return list(book.sheet_names)


def _calamine_rows(path: Path, label: str, kind: str, index: int) -> Iterator[Sequence[object]]:
    with _parser_errors(label, kind), _calamine_book(path, kind) as book:
        sheet = book.get_sheet_by_index(index)
        if sheet.start is None:  # an empty sheet
            return
        # iter_rows starts at the sheet's first row but at its first used
        # column: put the columns before it back, as the other engines give them.
        padding = [""] * sheet.start[1]
        for row in sheet.iter_rows():
            yield padding + row if padding else row


def _openpyxl_names(path: Path, label: str, kind: str) -> list[str]:
    with open(path, "rb") as file:
        book = _openpyxl_book(file, label, kind)
        try:
            return list(book.sheetnames)
        finally:
            book.close()


def _openpyxl_rows(path: Path, label: str, kind: str, index: int) -> Iterator[Sequence[object]]:
    # Given a file rather than a path, openpyxl does not refuse a wrong extension.
    with open(path, "rb") as file:
        yield from _openpyxl_sheet_rows(_openpyxl_book(file, label, kind), label, index)


def _openpyxl_sheet_rows(book, label: str, index: int) -> Iterator[Sequence[object]]:
    try:
        sheet = book[book.sheetnames[index]]
        if not hasattr(sheet, "iter_rows"):
            raise FileRefused(label, f"sheet {sheet.title!r} is a chart, not a worksheet")
        # The <dimension> some programs write is wrong (often just "A1"); read
        # the rows as they are instead of trusting it.
        sheet.reset_dimensions()
        for row in sheet.iter_rows(values_only=True):
            # values_only gives an error cell as its text
            yield [None if value in _ERROR_TEXTS else value for value in row]
    finally:
        book.close()


def _openpyxl_book(file: BinaryIO, label: str, kind: str):
    import openpyxl

    with _parser_errors(label, kind), warnings.catch_warnings():
        # openpyxl warns about styles and extensions it ignores; values are unaffected
        warnings.simplefilter("ignore")
        return openpyxl.load_workbook(file, read_only=True, data_only=True, keep_links=False)


def _xlrd_names(path: Path, label: str, kind: str) -> list[str]:
    book = _xlrd_book(path, label, kind)
    try:
        return list(book.sheet_names())
    finally:
        book.release_resources()


def _xlrd_rows(path: Path, label: str, kind: str, index: int) -> Iterator[Sequence[object]]:
    import xlrd

    book = _xlrd_book(path, label, kind)
    try:
        sheet = book.sheet_by_index(index)
        for number in range(sheet.nrows):
            yield [
                _xlrd_value(xlrd, ctype, value, book.datemode)
                for ctype, value in zip(sheet.row_types(number), sheet.row_values(number))
            ]
    finally:
        book.release_resources()


def _xlrd_book(path: Path, label: str, kind: str):
    import xlrd

    with _parser_errors(label, kind):
        # xlrd prints its warnings to stdout unless given a log file
        return xlrd.open_workbook(str(path), on_demand=True, logfile=io.StringIO())


def _xlrd_value(xlrd, ctype: int, value: object, datemode: int) -> object:
    if ctype == xlrd.XL_CELL_DATE:
        moment = xlrd.xldate.xldate_as_datetime(value, datemode)
        return moment.time() if value < 1 else moment
    if ctype == xlrd.XL_CELL_BOOLEAN:
        return bool(value)
    if ctype == xlrd.XL_CELL_ERROR:
        return None
    return value


_ENGINES: dict[str, tuple[Callable, Callable]] = {
    "calamine": (_calamine_names, _calamine_rows),
    "openpyxl": (_openpyxl_names, _openpyxl_rows),
    "xlrd": (_xlrd_names, _xlrd_rows),
}
