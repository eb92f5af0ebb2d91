"""Recipients of a file: which row is the header, which column holds the phone, and each
data row's verdict (valid, invalid with a reason, or a duplicate of an earlier row).

Template campaigns (seed 002, addRecipients ``recipientsFile``): the first row is the header,
the phone column is ``recipient`` or a common name for a phone column, the other columns are
placeholder values whose headers must equal the placeholder names; a repeated header is an
error. Plain campaigns also take numbers one per line, with or without a header: the first
row is data when its phone cell is a number.

The per-row loop is the hot path of ingestion (a million rows in a few seconds), so it is
written flat: indexes precomputed, one tuple per row, the dictionary of phones seen holding
ints, the phones of a block of rows checked together (``campaigns.ingest.checking``), and
the rare paths (invalid rows, duplicates) kept out of the common one.
"""

from __future__ import annotations

import gc
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import compress
from json.encoder import encode_basestring
from operator import eq, itemgetter, not_
from typing import Callable, Iterable, Iterator, Mapping, Protocol, Sequence

from campaigns.ingest import segments as seg
from campaigns.ingest.checking import INVALID as INVALID_NUMBER
from campaigns.ingest.checking import PhoneChecks, checked_blocks, inline_checks
from campaigns.ingest.limits import FileRefused
from campaigns.ingest.phones import EMPTY, NOT_A_NUMBER, PhoneValidator
from campaigns.ingest.placeholders import Template, compile_template

VALID, INVALID, DUPLICATE = "valid", "invalid", "duplicate"

# Header names taken as the phone column, compared after header_key(); Mobizon's own
# name comes first and wins over the others.
RECIPIENT = "recipient"
PHONE_HEADERS = frozenset(
    {
        "recipient", "recipients", "phone", "phones", "phone number", "phonenumber", "phone no",
        "number", "numbers", "msisdn", "mobile", "mobile phone", "mobile number", "mobilephone",
        "mob", "cell", "cellphone", "cell phone", "tel", "telephone",
        "телефон", "телефоны", "тел", "номер", "номер телефона", "номера", "мобильный",
        "мобильный телефон", "моб", "сотовый", "сотовый телефон", "получатель",
        "телефон нөмірі", "нөмір", "ұялы телефон",
    }
)
_SEPARATORS = re.compile(r"[\s_.:#№-]+")

# Verdict reasons that still mean "this cell is a phone number, just not a valid one".
_NOT_PHONE_LIKE = frozenset({EMPTY, NOT_A_NUMBER})

MAX_PROBLEMS = 20
MAX_SHOWN = 80  # characters of a phone cell shown in the report (the rejects file has them all)

Row = tuple
ProblemHook = Callable[[int, str, str, Sequence[str]], None]


class Sink(Protocol):
    """Where ``Check`` puts a file's recipient rows, a block of rows at a time.

    ``start(segments)`` comes first: an int for a plain campaign, whose valid rows all have
    that many segments and no fields, and are ``(id, row_number, raw_phone, phone)``; None
    for a template campaign, whose valid rows are ``(id, row_number, raw_phone, phone,
    fields, segments)``, where ``id`` is ``valid_base + row_number`` and ``phone`` the
    international number's digits as an int. Then ``write(valid, others)`` for each block,
    both lists in file order: the n-th valid row of the file (from 0) belongs to chunk
    ``n // chunk_size``; other rows are ``(row_number, raw_phone, phone, verdict,
    reason)``, phone None when invalid.
    """

    valid_base: int  # a valid row's id less its row number (campaigns.store.keys)

    def start(self, segments: int | None) -> None: ...

    def write(self, valid: list[Row], others: list[Row]) -> None: ...


def header_key(cell: str) -> str:
    """A header cell as compared with PHONE_HEADERS: trimmed, case-folded, separators as one space."""
    return _SEPARATORS.sub(" ", cell.replace("\ufeff", "").casefold()).strip()


@dataclass(frozen=True)
class Layout:
    """Where things are in the file's rows."""

    header: tuple[str, ...] | None  # the header row's cells (trimmed), None when the file has none
    header_row: int | None  # its row number
    phone_index: int
    columns: tuple[str, ...] = ()  # placeholders that have a column, in the text's order
    column_indexes: tuple[int, ...] = ()
    missing: tuple[str, ...] = ()  # placeholders without a column

    @property
    def phone_header(self) -> str | None:
        return None if self.header is None else self.header[self.phone_index]


def find_layout(
    number: int,
    first: Sequence[str],
    placeholders: Sequence[str],
    validator: PhoneValidator,
    file: str,
) -> Layout:
    """The layout given the first non-blank row (``number`` is its row number).

    A template campaign (``placeholders`` not empty) always has a header. Raises FileRefused
    for a repeated header, no phone column (listing the headers) or several phone columns.
    """
    header = tuple(cell.strip().replace("\ufeff", "") for cell in first)
    phone = _phone_column(header, number, file)
    if phone is None and not placeholders:
        phone = _first_number(header, validator)
        if phone is not None:
            return Layout(None, None, phone)
        if len(header) == 1:  # one column of numbers under a header of another name
            phone = 0
    if phone is None:
        shown = ", ".join(repr(h) for h in header if h) or "no names"
        raise FileRefused(
            file,
            f"no phone column: the header row has {shown}; name the phone column 'recipient' "
            "(or phone, number, msisdn, mobile, телефон, номер)",
            number,
        )
    _refuse_repeats(header, number, file)
    columns = tuple(name for name in placeholders if name in header)
    return Layout(
        header=header,
        header_row=number,
        phone_index=phone,
        columns=columns,
        column_indexes=tuple(header.index(name) for name in columns),
        missing=tuple(name for name in placeholders if name not in header),
    )


def _phone_column(header: Sequence[str], number: int, file: str) -> int | None:
    keys = [header_key(cell) for cell in header]
    if RECIPIENT in keys and keys.count(RECIPIENT) == 1:
        return keys.index(RECIPIENT)
    found = [i for i, key in enumerate(keys) if key in PHONE_HEADERS]
    if len(found) > 1:
        names = ", ".join(repr(header[i]) for i in found)
        raise FileRefused(
            file, f"several phone columns ({names}): name the one to send to 'recipient'", number
        )
    return found[0] if found else None


def _first_number(cells: Sequence[str], validator: PhoneValidator) -> int | None:
    for i, cell in enumerate(cells):
        digits, reason = validator.check(cell)
        if digits is not None or reason not in _NOT_PHONE_LIKE:
            return i
    return None


def _refuse_repeats(header: Sequence[str], number: int, file: str) -> None:
    # Mobizon returns an error for columns with the same heading (seed 002, recipientsFile).
    seen: dict[str, int] = {}
    for i, name in enumerate(header, 1):
        if not name:
            continue  # unnamed columns (Excel's trailing empties) are never placeholders
        if name in seen:
            raise FileRefused(
                file, f"duplicate column header {name!r} (columns {seen[name]} and {i})", number
            )
        seen[name] = i


@dataclass
class Tally:
    """What the rows came to; ``problems`` holds the first MAX_PROBLEMS problem rows."""

    valid: int = 0
    invalid: int = 0
    duplicates: int = 0
    invalid_by_reason: dict[str, int] = field(default_factory=dict)
    problems: list[dict] = field(default_factory=list)
    segments_total: int = 0
    segments_max: int = 0
    encodings: set[str] = field(default_factory=set)
    empty_values: dict[str, int] = field(default_factory=dict)  # placeholder -> valid recipients without a value

    @property
    def rows(self) -> int:
        return self.valid + self.invalid + self.duplicates


def first_row(rows: Iterator[tuple[int, list[str]]]) -> tuple[int, list[str]] | None:
    """The first row with any content, consumed from ``rows`` (leading blank rows dropped)."""
    for number, cells in rows:
        if _has_content(cells):
            return number, cells
    return None


@dataclass
class Check:
    """Checks the data rows of one file, giving ``sink`` its recipient rows (see Sink).

    The first occurrence of a phone is the valid one and later ones are duplicates naming
    its row. Rows with no content at all are skipped, not counted.
    """

    layout: Layout
    validator: PhoneValidator
    text: str
    mode: str = "keep"
    sink: Sink | None = None
    on_problem: ProblemHook | None = None
    checks: PhoneChecks | None = None  # where phones are checked; None: by ``validator``, here
    # phones (international digits as ints) left out, each with its reason: such a row is
    # invalid with that reason (an opt-out, "sent on <date> by this schedule"…)
    excluded: Mapping[int, str] | None = None
    tally: Tally = field(default_factory=Tally)
    _exclusions: list[str] = field(default_factory=list)

    def _exclude(self, seen: dict[int, int]) -> None:
        """Mark the excluded phones as seen at row ``-2 - k`` (k: their reason's index), so
        the hot path treats them as repeats and only the rare path tells them apart."""
        codes: dict[str, int] = {}
        for phone, reason in self.excluded.items():
            code = codes.get(reason)
            if code is None:
                code = codes[reason] = -2 - len(codes)
            seen[phone] = code
        self._exclusions = list(codes)

    def _checks(self) -> PhoneChecks:
        return self.checks if self.checks is not None else inline_checks(self.validator)

    def run(self, rows: Iterable[tuple[int, list[str]]]) -> Tally:
        """Check every data row (the header row, if any, must be consumed already)."""
        rows = iter(rows)
        seen: dict[int, int] = {INVALID_NUMBER: -1}  # phone as an int -> row of its first occurrence
        if self.excluded:
            self._exclude(seen)
        template = compile_template(self.text, self.layout.columns, self.mode)
        with _collector_paused():
            if template.slots:
                self._template_rows(rows, seen, template)
            else:  # the same message for everyone: placeholders without a column kept or stripped
                self._plain_rows(rows, seen, template.render(()))
        return self.tally

    def _plain_rows(self, rows: Iterator[tuple[int, list[str]]], seen: dict[int, int], message: str) -> None:
        tally = self.tally
        message_segments, encoding = seg.count(message)
        setdefault = seen.setdefault
        phone = self.layout.phone_index
        sink = self.sink
        base = 0 if sink is None else sink.valid_base
        if sink is not None:
            sink.start(message_segments)
        valid = 0
        # Each step over a block's rows runs in C (map, compress); Python only visits the
        # invalid and duplicate rows. An invalid row's number is INVALID_NUMBER (0), whose key
        # is already taken by row -1, so no invalid row is ever a first occurrence.
        for block, raws, verdicts, reasons in checked_blocks(rows, phone, self._checks()):
            numbers = list(map(itemgetter(0), block))
            firsts = list(map(setdefault, verdicts, numbers))
            new = list(map(eq, firsts, numbers))
            good: list[Row] = list(compress(zip(map(base.__add__, numbers), numbers, raws, verdicts), new))
            others: list[Row] = []
            if len(good) < len(block):
                for i in compress(range(len(block)), map(not_, new)):
                    number, cells = block[i]
                    digits = verdicts[i]
                    if digits != INVALID_NUMBER:
                        if firsts[i] < -1:
                            others.append(self._left_out(number, raws[i], digits, firsts[i], cells))
                        else:
                            others.append(self._duplicate(number, raws[i], digits, firsts[i], cells))
                        continue
                    reason = next(reasons)
                    if reason != EMPTY or _has_content(cells):
                        others.append(self._invalid(number, raws[i], reason, cells))
            valid += len(good)
            if sink is not None:
                sink.write(good, others)
        tally.valid = valid
        if valid:
            tally.segments_total = valid * message_segments
            tally.segments_max = message_segments
            tally.encodings.add(encoding)

    def _template_rows(
        self, rows: Iterator[tuple[int, list[str]]], seen: dict[int, int], template: Template
    ) -> None:
        tally = self.tally
        layout = self.layout
        setdefault = seen.setdefault
        count = seg.count
        names, indexes = layout.columns, layout.column_indexes
        # Values are picked from the row in C: in the columns' order for the fields, in
        # the text's order (a placeholder may repeat) for the message.
        pick_fields = _picker(indexes)
        pick_text = _picker([indexes[slot] for slot in template.slots])
        text_format = template.format
        # The fields' JSON object, built from a format: placeholder names are plain
        # [A-Za-z0-9_-] and need no escaping, values go through json's own string escaper
        # (readable, no \u escapes). Four times faster than json.dumps of a dict per row.
        fields_format = "{" + ",".join(f'"{name}":%s' for name in names) + "}"
        quote = encode_basestring
        reject = self.mode == "reject"
        phone = layout.phone_index
        width = max((phone, *indexes)) + 1
        encodings = tally.encodings
        sink = self.sink
        base = 0 if sink is None else sink.valid_base
        if sink is not None:
            sink.start(None)
        valid = total = largest = 0
        for block, raws, verdicts, reasons in checked_blocks(rows, phone, self._checks()):
            good: list[Row] = []
            others: list[Row] = []
            append = good.append
            for (number, cells), raw, digits in zip(block, raws, verdicts):
                if len(cells) < width:
                    cells = cells + [""] * (width - len(cells))
                if digits == INVALID_NUMBER:
                    reason = next(reasons)
                    if reason != EMPTY or _has_content(cells):
                        others.append(self._invalid(number, raw, reason, cells))
                    continue
                values = pick_fields(cells)
                blank = not all(map(str.strip, values))
                if blank and reject:
                    empty = _first_empty(names, values)
                    others.append(self._invalid(number, raw, f"empty value for {{{empty}}}", cells))
                    continue
                first = setdefault(digits, number)
                if first != number:
                    if first < -1:
                        others.append(self._left_out(number, raw, digits, first, cells))
                    else:
                        others.append(self._duplicate(number, raw, digits, first, cells))
                    continue
                if blank:
                    self._count_empty(names, values)
                parts, encoding = count(text_format % pick_text(cells))
                encodings.add(encoding)
                total += parts
                if parts > largest:
                    largest = parts
                append((base + number, number, raw, digits, fields_format % tuple(map(quote, values)), parts))
            valid += len(good)
            if sink is not None:
                sink.write(good, others)
        tally.valid = valid
        tally.segments_total = total
        tally.segments_max = largest

    def _invalid(self, number: int, raw: str, reason: str, cells: Sequence[str]) -> Row:
        tally = self.tally
        tally.invalid += 1
        tally.invalid_by_reason[reason] = tally.invalid_by_reason.get(reason, 0) + 1
        self._problem(number, raw, reason, cells)
        return (number, raw, None, INVALID, reason)

    def _left_out(self, number: int, raw: str, digits: int, code: int, cells: Sequence[str]) -> Row:
        """An excluded phone: invalid with its reason, its phone kept."""
        tally = self.tally
        reason = self._exclusions[-2 - code]
        tally.invalid += 1
        tally.invalid_by_reason[reason] = tally.invalid_by_reason.get(reason, 0) + 1
        self._problem(number, raw, reason, cells)
        return (number, raw, digits, INVALID, reason)

    def _duplicate(self, number: int, raw: str, digits: int, first: int, cells: Sequence[str]) -> Row:
        self.tally.duplicates += 1
        reason = f"duplicate of row {first}"
        self._problem(number, raw, reason, cells)
        return (number, raw, digits, DUPLICATE, reason)

    def _count_empty(self, names: Sequence[str], values: Sequence[str]) -> None:
        empty = self.tally.empty_values
        for name, value in zip(names, values):
            if not value.strip():
                empty[name] = empty.get(name, 0) + 1

    def _problem(self, number: int, raw: str, reason: str, cells: Sequence[str]) -> None:
        problems = self.tally.problems
        if len(problems) < MAX_PROBLEMS:
            shown = raw if len(raw) <= MAX_SHOWN else raw[: MAX_SHOWN - 1] + "…"
            problems.append({"row": number, "phone": shown, "reason": reason})
        if self.on_problem is not None:
            self.on_problem(number, raw, reason, cells)


def _picker(indexes: Sequence[int]) -> Callable[[Sequence[str]], tuple[str, ...]]:
    """A function giving the cells at ``indexes`` of a row, as a tuple."""
    if len(indexes) == 1:
        only = indexes[0]
        return lambda cells: (cells[only],)
    return itemgetter(*indexes)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while rows stream.

    Every row allocates container objects (the reader's list, the recipient tuple) that
    trigger collections, and each full collection walks every live object: measured on a
    million rows, 40% of the checking time went to collections that freed nothing. The
    loop makes no reference cycles, so nothing is left for the collector afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _has_content(cells: Sequence[str]) -> bool:
    for cell in cells:
        if cell.strip():
            return True
    return False


def _first_empty(names: Sequence[str], values: Sequence[str]) -> str:
    for name, value in zip(names, values):
        if not value.strip():
            return name
    raise ValueError("no empty value")
