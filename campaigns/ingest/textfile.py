"""CSV and plain-text recipient files: encoding, dialect, and rows streamed in constant memory.

Rows come out of ``csv.reader`` fed with lines we cut from large decoded
chunks, so the per-row cost is the C reader's alone: the row number comes from
``itertools.count`` zipped in C, blank lines are dropped by ``filter`` in C.
Per chunk (not per row) we check what ``csv`` would let through or choke on:
bytes that do not decode, NUL characters, runaway lines. Such a problem is
raised from inside the line feed, so it surfaces while ``csv.reader`` is
parsing the very record that holds it, and that record's number is the row
named in the message.

Row numbers count records, as a spreadsheet program numbers the rows of a
CSV: a cell with a quoted line break does not shift the rows after it.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from itertools import chain, count, islice
from operator import itemgetter
from pathlib import Path
from typing import BinaryIO, Iterator

from campaigns.ingest.encoding import (
    EncodingProblem,
    NotText,
    TextEncoding,
    detect_encoding,
    named_encoding,
)
from campaigns.ingest.limits import FileRefused, Limits

DELIMITERS = ",;\t|"
SAMPLE_BYTES = 64 * 1024  # the head of the file: encoding and dialect are decided on it
PIECE_BYTES = 16 * 1024  # plus a piece from the middle and one from the end, for the encoding
# csv.Sniffer's quote pattern is quadratic on a sample full of unclosed quotes:
# a hundred lines tell the dialect as well as a thousand.
SNIFF_CHARS = 8 * 1024
CHUNK_BYTES = 256 * 1024
MAX_LINE_CHARS = 1024 * 1024  # no recipient row is this long; keeps memory bounded
MAX_CELL_CHARS = 1024 * 1024  # csv's own bound, for a quoted cell spanning lines
MAX_CONTROL_SHARE = 0.05  # more control characters than this in the sample: binary data

_CONTROLS = dict.fromkeys(c for c in range(32) if chr(c) not in "\t\n\r")
_CONTROLS[0x7F] = None  # DEL
_MARKUP = ("<!doctype html", "<html", "<table", "<?xml", "<workbook")
_NOT_A_TABLE = "not a CSV, XLS or XLSX file"


@dataclass(frozen=True)
class Dialect:
    delimiter: str
    quotechar: str = '"'
    skipinitialspace: bool = False


@dataclass(frozen=True)
class TextTable:
    encoding: str
    delimiter: str
    rows: Iterator[tuple[int, list[str]]]


class _BadText(Exception):
    """A problem found in the line feed; the row is added by whoever knows it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def open_text_table(path: Path, *, size: int, encoding: str | None, limits: Limits) -> TextTable:
    """Decide the encoding and dialect of a text file; its rows stream when iterated.

    Raises FileRefused for binary data, an encoding that cannot be named or
    detected, or markup saved under a spreadsheet name; the rows raise
    FileRefused naming the row for text that does not decode, NUL bytes,
    broken quoting, huge cells, and more than ``limits.max_rows`` rows.
    """
    label = path.name
    with open(path, "rb") as raw:
        head, pieces = _samples(raw, size)
    try:
        chosen = named_encoding(encoding, head) if encoding else detect_encoding(head, pieces)
    except NotText:
        raise FileRefused(label, f"{_NOT_A_TABLE} (it holds binary data)") from None
    except EncodingProblem as exc:
        raise FileRefused(label, str(exc)) from None
    whole = size <= SAMPLE_BYTES
    sample = codecs.getincrementaldecoder(chosen.codec)("replace").decode(head[chosen.skip :], whole)
    _refuse_non_tables(label, sample, whole)
    dialect = sniff_dialect(sample if whole else _whole_lines(sample))
    rows = _records(path, label, chosen, dialect, limits)
    return TextTable(encoding=chosen.name, delimiter=dialect.delimiter, rows=rows)


def sniff_dialect(sample: str) -> Dialect:
    """The delimiter (one of , ; TAB |) and quote (" or ') of a sample of whole lines.

    A sample the sniffer cannot decide (a single column, typically a list of
    numbers one per line) gets the delimiter found on most lines, else ``,``.
    """
    if len(sample) > SNIFF_CHARS:
        sample = _whole_lines(sample[:SNIFF_CHARS])
    sniffer = csv.Sniffer()
    # When several delimiters are equally consistent, ';' files with decimal
    # commas (the Russian and Kazakh Excel export) must not split on ','.
    sniffer.preferred = [";", "\t", "|", ","]
    try:
        found = sniffer.sniff(sample, delimiters=DELIMITERS)
    except csv.Error:
        return Dialect(_commonest_delimiter(sample))
    if found.delimiter not in DELIMITERS:
        return Dialect(_commonest_delimiter(sample))
    quote = found.quotechar if found.quotechar in ("'", '"') else '"'
    return Dialect(found.delimiter, quote, bool(found.skipinitialspace))


def _commonest_delimiter(sample: str) -> str:
    lines = [line for line in sample.splitlines()[:200] if line.strip()]
    best = max(DELIMITERS, key=lambda d: sum(d in line for line in lines))
    if lines and sum(best in line for line in lines) * 2 >= len(lines):
        return best
    return ","


def _samples(raw: BinaryIO, size: int) -> tuple[bytes, list[bytes]]:
    head = raw.read(SAMPLE_BYTES)
    pieces = []
    if size > SAMPLE_BYTES + 4 * PIECE_BYTES:
        for offset in (size // 2, size - PIECE_BYTES):
            raw.seek(offset)
            piece = raw.read(PIECE_BYTES)
            # start after a line end, never inside a multi-byte character
            start = piece.find(b"\n") + 1
            if start:
                pieces.append(piece[start:])
    return head, pieces


def _refuse_non_tables(label: str, sample: str, whole: bool) -> None:
    if whole and not sample.strip():
        raise FileRefused(label, "the file is empty")
    controls = len(sample) - len(sample.translate(_CONTROLS))
    if controls > MAX_CONTROL_SHARE * len(sample):
        raise FileRefused(label, f"{_NOT_A_TABLE} (it holds binary data)")
    if sample.lstrip().lower().startswith(_MARKUP):
        raise FileRefused(
            label,
            f"{_NOT_A_TABLE}: it is an HTML or XML page (often a web export saved as .xls); "
            f"open it in a spreadsheet program and save it as XLSX or CSV",
        )


def _records(
    path: Path, label: str, encoding: TextEncoding, dialect: Dialect, limits: Limits
) -> Iterator[tuple[int, list[str]]]:
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise FileRefused(label, f"cannot be read: {exc.strerror}") from None
    # The limit is process-wide; set it on every read so that what another
    # module set (csv's default is 128 Ki) cannot unbound a cell's memory.
    csv.field_size_limit(MAX_CELL_CHARS)
    with raw:
        raw.seek(encoding.skip)
        reader = csv.reader(
            chain.from_iterable(_line_batches(raw, encoding)),
            delimiter=dialect.delimiter,
            quotechar=dialect.quotechar,
            skipinitialspace=dialect.skipinitialspace,
            doublequote=True,
            strict=True,
        )
        counter = count(1)
        numbered = zip(counter, reader)
        try:
            # itemgetter(1): drop blank lines (csv gives them as []), keep their numbers
            yield from filter(itemgetter(1), islice(numbered, limits.max_rows))
            for _, row in numbered:
                if row:
                    raise FileRefused(label, f"more than {limits.max_rows:,} rows (the limit)")
        # zip takes the next number before asking the reader for its record, so
        # when the reader fails, the number of the record it was parsing is
        # the last one taken: one less than the counter's next.
        except csv.Error as exc:
            raise FileRefused(label, _csv_reason(exc, dialect), row=next(counter) - 1) from None
        except _BadText as exc:
            raise FileRefused(label, exc.reason, row=next(counter) - 1) from None
        except OSError as exc:
            raise FileRefused(label, f"cannot be read: {exc.strerror}") from None


def _line_batches(raw: BinaryIO, encoding: TextEncoding) -> Iterator[list[str]]:
    """Decode ``raw`` in large chunks and cut them into lists of whole lines.

    Lines end at \\r\\n, \\n or \\r, their ends kept, as ``open(newline="")``
    gives them to ``csv.reader``. Raises _BadText, after yielding every line
    before the one at fault, for undecodable bytes, NUL, or a runaway line.
    """
    decoder = codecs.getincrementaldecoder(encoding.codec)()
    carry = ""
    while True:
        data = raw.read(CHUNK_BYTES)
        final = not data
        try:
            text = carry + decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            good = carry + exc.object[: exc.start].decode(encoding.codec)
            yield _complete_lines(good)[0]
            if final and exc.reason == "unexpected end of data":
                detail = "the file ends in the middle of a character"
            else:
                detail = f"byte 0x{exc.object[exc.start]:02X}"
            raise _BadText(f"cannot be decoded as {encoding.name} ({detail})") from None
        nul = text.find("\x00")
        if nul >= 0:
            yield _complete_lines(text[:nul])[0]
            raise _BadText("contains a NUL byte: binary data, or the wrong encoding")
        if final:
            yield _split_lines(text, final=True)
            return
        lines, carry = _complete_lines(text)
        if len(carry) > MAX_LINE_CHARS:
            yield lines
            raise _BadText(f"a line is longer than {MAX_LINE_CHARS:,} characters")
        yield lines


def _complete_lines(text: str) -> tuple[list[str], str]:
    """Split ``text`` into its whole lines and the unfinished rest."""
    end = _end_of_last_line(text)
    return _split_lines(text[:end], final=False), text[end:]


def _whole_lines(text: str) -> str:
    return text[: _end_of_last_line(text)] or text


def _end_of_last_line(text: str) -> int:
    end = max(text.rfind("\n"), text.rfind("\r"))
    if end >= 0 and end == len(text) - 1 and text[end] == "\r":
        # the \n of a \r\n may be in the next chunk: keep this line for later
        end = max(text.rfind("\n", 0, end), text.rfind("\r", 0, end))
    return end + 1


def _split_lines(text: str, *, final: bool) -> list[str]:
    lines = text.splitlines(keepends=True)
    breaks = text.count("\n") + text.count("\r") - text.count("\r\n")
    if final and text and text[-1] not in "\r\n":
        breaks += 1
    if len(lines) != breaks:
        # str.splitlines also breaks at \v, \f, \x1c-\x1e, \x85, \u2028 and
        # \u2029, which csv treats as data: let StringIO cut at \r and \n only.
        lines = list(io.StringIO(text, newline=""))
    return lines


def _csv_reason(exc: csv.Error, dialect: Dialect) -> str:
    message = str(exc)
    quote = dialect.quotechar
    if "field larger than field limit" in message:
        return (
            f"a cell is longer than {MAX_CELL_CHARS:,} characters "
            f"(is a {quote} quote left open?)"
        )
    if "unexpected end of data" in message:
        return f"a {quote} quote opened in this row is never closed"
    if "expected after" in message:
        return (
            f"text follows a closing {quote} quote; quote the whole cell "
            f"and double the {quote} quotes inside it"
        )
    return f"not valid CSV ({message})"
