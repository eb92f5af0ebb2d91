"""The rejects file: every invalid or duplicate row with its reason, safe to open in a spreadsheet.

A cell starting with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return, which some
programs skip before looking) is a formula to Excel, LibreOffice and Google Sheets; such
cells are written with a leading ``'`` so that they show as text and never run (OWASP,
"CSV injection"). Phones like ``+77011234567`` therefore appear as ``'+77011234567``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = ("row", "phone as given", "reason")


def neutralize(cell: str) -> str:
    """``cell`` as a spreadsheet shows it and never runs it."""
    if cell.startswith(_FORMULA_STARTS):
        return "'" + cell
    return cell


class RejectsWriter:
    """Writes rejected rows to a CSV file (UTF-8 with a BOM so that Excel reads it as such).

    ``begin(header)`` writes the header line: row, phone as given, reason, then the source file's
    own header cells (or ``column 1``, ``column 2``, … when it has none), then ``write`` is
    called for each rejected row. Use as a context manager, or call ``close``.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._file = open(self.path, "w", encoding="utf-8-sig", newline="")
        self._writer = csv.writer(self._file)
        self._width: int | None = None
        self.written = 0

    def begin(self, header: Sequence[str] | None, width: int) -> None:
        """Write the header line; ``width`` is the number of cells of the source's first row."""
        self._width = width
        names = list(header) if header is not None else [f"column {i}" for i in range(1, width + 1)]
        self._writer.writerow([neutralize(cell) for cell in (*COLUMNS, *names)])

    def write(self, row: int, phone: str, reason: str, cells: Sequence[str]) -> None:
        """One rejected row: its number, the phone as given, the reason and the original cells."""
        if self._width is None:
            self.begin(None, len(cells))
        self._writer.writerow([str(row), neutralize(phone), neutralize(reason), *map(neutralize, cells)])
        self.written += 1

    def close(self) -> None:
        self._file.close()

    def discard(self) -> None:
        """Close and delete the file (the input was refused: a partial list would mislead)."""
        self.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> "RejectsWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
