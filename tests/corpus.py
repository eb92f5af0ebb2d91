"""Builders of unusual and malformed recipient files, written into a test's folder.

Every file the reader tests use is generated here, so the corpus is code: what
each file holds is readable next to the test that checks its verdict.
"""

from __future__ import annotations

import datetime
import zipfile
from pathlib import Path
from typing import Iterable, Sequence

# Names as Kazakhstan's recipient lists spell them: Russian and Kazakh names in
# Russian letters (the three single-byte Cyrillic encodings have no Kazakh letters).
NAMES = (
    "Иванов Иван Петрович",
    "Нурсултанова Айгерим",
    "Сериков Ержан Болатович",
    "Касымова Динара",
    "Жумабаев Нурлан",
    "Ахметова Гульнара Сабитовна",
    "Щербакова Юлия Эдуардовна",
    "Ким Виктория",
)


def recipients_text(rows: int = 8, *, delimiter: str = ";", upper: bool = False) -> str:
    """A small CSV (header + ``rows`` rows) of phones and Cyrillic names."""
    lines = [delimiter.join(("Телефон", "ФИО", "Город"))]
    for number in range(rows):
        name = NAMES[number % len(NAMES)]
        lines.append(
            delimiter.join(
                (f"7701{1234560 + number}", name.upper() if upper else name, "Алматы")
            )
        )
    return "\r\n".join(lines) + "\r\n"


def write_text(path: Path, text: str, encoding: str = "utf-8", *, bom: bytes = b"") -> Path:
    """Write ``text`` encoded, after an optional byte-order mark, exactly as given."""
    path.write_bytes(bom + text.encode(encoding))
    return path


def write_xlsx(path: Path, sheets: dict[str, Sequence[Sequence[object]]]) -> Path:
    """An XLSX written by openpyxl: one sheet per entry, rows from A1, None leaves a cell empty."""
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
    book.save(path)
    book.close()
    return path


def write_xls(path: Path, sheets: dict[str, Sequence[Sequence[object]]]) -> Path:
    """An XLS (BIFF8) written by xlwt; dates get a date format, as Excel would store them."""
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    time_style = xlwt.easyxf(num_format_str="YYYY-MM-DD HH:MM:SS")
    for title, rows in sheets.items():
        sheet = book.add_sheet(title)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, datetime.datetime):
                    sheet.write(r, c, value, time_style)
                elif isinstance(value, datetime.date):
                    sheet.write(r, c, value, date_style)
                else:
                    sheet.write(r, c, value)
    book.save(str(path))
    return path


def rewrite_zip_member(path: Path, member: str, edit) -> Path:
    """Rewrite one part of an archive in place: ``edit(text) -> text``."""
    with zipfile.ZipFile(path) as source:
        parts = [(info, source.read(info.filename)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in parts:
            if info.filename == member:
                data = edit(data.decode("utf-8")).encode("utf-8")
            target.writestr(info, data)
    return path


def write_xlsx_with_cached_formulas(path: Path) -> Path:
    """An XLSX whose B2 and B3 are formulas with the values Excel cached (``<f>`` and ``<v>``).

    openpyxl writes formulas without values (it does not compute them), so the
    cached values are put into the sheet's XML as Excel would.
    """
    write_xlsx(path, {"Sheet": [("name", "phone"), ("a", "=77011234560+7"), ("b", "=B2+1")]})

    def cache(xml: str) -> str:
        for formula, value in (("77011234560+7", "77011234567"), ("B2+1", "77011234568")):
            before = f"<f>{formula}</f><v />"
            assert before in xml, xml
            xml = xml.replace(before, f"<f>{formula}</f><v>{value}</v>")
        return xml

    return rewrite_zip_member(path, "xl/worksheets/sheet1.xml", cache)


def write_ods(path: Path, rows: Iterable[Sequence[object]]) -> Path:
    """A minimal OpenDocument spreadsheet: strings and floats, one sheet named Лист1."""
    cells = []
    for row in rows:
        xml_cells = []
        for value in row:
            if isinstance(value, float):
                xml_cells.append(
                    f'<table:table-cell office:value-type="float" office:value="{value!r}">'
                    f"<text:p>{value!r}</text:p></table:table-cell>"
                )
            else:
                xml_cells.append(
                    f'<table:table-cell office:value-type="string"><text:p>{value}</text:p>'
                    f"</table:table-cell>"
                )
        cells.append(f"<table:table-row>{''.join(xml_cells)}</table:table-row>")
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"'
        ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        '<office:body><office:spreadsheet><table:table table:name="Лист1">'
        f"{''.join(cells)}</table:table></office:spreadsheet></office:body>"
        "</office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"'
        ' manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type='
        '"application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    with zipfile.ZipFile(path, "w") as archive:
        # the mimetype comes first and stored, as the OpenDocument format requires
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
        archive.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
    return path


def write_zip_bomb(path: Path, *, inflated_mib: int = 200) -> Path:
    """An XLSX-looking archive whose sheet part is ``inflated_mib`` MiB of zeros.

    Deflate packs zeros a few hundred times smaller, so the archive stays small.
    The zeros are not XML: a reader that parsed the part before refusing it would
    fail with a different message.
    """
    source = write_xlsx(path.with_name("bomb-source.xlsx"), {"Sheet": [("phone",)]})
    with zipfile.ZipFile(source) as original:
        parts = [(info.filename, original.read(info.filename)) for info in original.infolist()]
    source.unlink()
    zeros = bytes(1024 * 1024)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in parts:
            if name != "xl/worksheets/sheet1.xml":
                archive.writestr(name, data)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            for _ in range(inflated_mib):
                part.write(zeros)
    return path
