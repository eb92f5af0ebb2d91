"""Phone numbers of recipient files: normalization and validity, fast, with libphonenumber's verdicts.

``PhoneValidator(default_region).check(raw)`` returns ``(digits, None)`` for a valid number,
where digits is the E.164 form without ``+`` (Mobizon wants international format), or
``(None, reason)``.

Normalization (what "the normalized string" below means):
- characters that only format a number are removed: white space of any kind (NBSP, thin,
  zero-width, BOM), dashes, dots, parentheses and brackets, slashes, quotes (a leading ``'``
  is Excel's text marker); full-width and Arabic-Indic digits read as ASCII digits;
- a number written as a spreadsheet float (``77011234567.0``) is that integer; scientific
  notation (``7.70112E+10``, ``7,70112e+10``) has lost digits: SCIENTIFIC, never guessed;
- what remains must be ASCII digits, optionally after one leading ``+``: letters, other
  characters or no digits at all give NOT_A_NUMBER; a blank cell gives EMPTY;
- a leading ``+`` or ``00`` marks international format; so does the lack of a default
  region (digits-only input is then taken as international); otherwise the digits are a
  national (or region-dialled) number of the default region. Where the default region's
  own international prefix starts with 00 and matches (0011 in AU, 0014 in BR, 00 in GB),
  the digits are read as dialled in that region, as phonenumbers reads them.

The normalized string is ``"+" + digits`` (without the 00) for international input and
the digits alone for national input. The verdict is IDENTICAL to
``phonenumbers.is_valid_number(phonenumbers.parse(normalized, default_region))``, a parse
error counting as invalid, and the digits returned equal
``phonenumbers.format_number(number, PhoneNumberFormat.E164)`` without the ``+``
(``tests/test_phones.py`` proves both over a large random sample). The walk that
phonenumbers takes through its metadata is mirrored here step by step (IDD prefix, calling
code in the default region's own digits, national prefix and carrier code stripping) on
tables precompiled by ``campaigns.ingest.phone_tables``: 2-4 µs a row instead of 50-150
(``bench/phones.py``).

Reasons for invalid numbers: UNKNOWN_COUNTRY when the calling code does not exist;
WRONG_LENGTH when parse() refuses the length, or ``is_possible_number_with_reason`` says
TOO_SHORT, TOO_LONG or INVALID_LENGTH; WRONG_RANGE when the length is possible but the
digits are not in a valid range.
"""

from __future__ import annotations

import re
from typing import Sequence

from campaigns.ingest.phone_lanes import Lanes, build_lanes
from campaigns.ingest.phone_tables import (
    MAX_INPUT_LENGTH,
    MAX_NSN_LENGTH,
    MIN_NSN_LENGTH,
    CallingCode,
    CallingCodePrefixes,
    CallingCodes,
    RegionRules,
    calling_code_prefixes,
    calling_codes,
    region_rules,
)

EMPTY = "empty"
NOT_A_NUMBER = "not a number"
SCIENTIFIC = "scientific notation, digits lost"
UNKNOWN_COUNTRY = "unknown country code"
WRONG_LENGTH = "wrong length"
WRONG_RANGE = "not a valid number range"

Verdict = tuple[str | None, str | None]
# What the parsing steps come to: (CallingCode, national number) for is_valid_number to
# judge, or (None, reason) when parse() itself refuses the number.
Parsed = tuple["CallingCode | None", str]

_FORMATTING = (
    " \t\r\n\v\f\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u200b\u2060\u202f\u205f\u3000\ufeff\u00ad"  # spaces, zero-width, BOM, soft hyphen
    "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff0d"  # dashes
    "()[]{}\uff08\uff09\uff3b\uff3d/\\\uff0f'\"\u2018\u2019\u201c\u201d`"  # brackets, slashes, quotes
)
_DIGIT_FORMS = ("\uff10", "\u0660", "\u06f0")  # full-width, Arabic-Indic, Eastern Arabic-Indic zeros
_CLEAN = str.maketrans(
    {
        **dict.fromkeys(map(ord, _FORMATTING)),
        **{zero + d: str(d) for zero in map(ord, _DIGIT_FORMS) for d in range(10)},
        0xFF0B: "+",  # full-width plus
        0xFF0E: ".",  # full-width full stop
    }
)
_ASCII_FORMATTING = "".join(char for char in _FORMATTING if char.isascii()).encode()
# Excel shows a long number as 7.70112E+10 (or 7,70112E+10 with a decimal comma).
_SCIENTIFIC = re.compile(r"[+-]?\d+(?:[.,]\d*)?[eE][+-]?\d+", re.ASCII)
# A phone stored as a number and written out as a float: the integer it holds.
_FLOAT = re.compile(r"(\+?\d+)\.0+", re.ASCII)
LEARN_AFTER = 200  # valid numbers of a calling code taking the Python way before it gets lanes
MAX_LANE_CODES = 8
_SEPARATOR = "\x00"  # joins a batch's cells: never formatting, and a cell holding it is caught


class PhoneValidator:
    """Normalizes and validates phone numbers; see the module docstring for the exact rules."""

    def __init__(self, default_region: str | None = None, *, lane_codes: Sequence[str] = ()):
        """default_region: ISO 3166 alpha-2 code (e.g. "KZ") for national formats, or None.
        lane_codes: calling codes given lanes from the start (campaigns.ingest.phone_lanes),
        besides the default region's own; others get theirs as check_many meets them.

        Raises ValueError for a region phonenumbers does not know.
        """
        self._codes: CallingCodes = calling_codes()
        self._prefixes: CallingCodePrefixes = calling_code_prefixes()
        self._region: RegionRules | None = None
        self.region: str | None = None  # the default region as given to region_rules
        if default_region is not None:
            self.region = default_region.strip().upper()
            self._region = region_rules(self.region)
        home = [self._region.calling_code] if self._region is not None else []
        self._lane_codes: list[str] = [c for c in dict.fromkeys([*home, *lane_codes]) if self._codes[c] is not None]
        self.lane_hits = 0  # cells check_many decided by a lane
        self._walked: dict[str, int] = {}  # calling code -> valid numbers that took the Python way
        self._lanes: Lanes | None = self._build_lanes()

    def _build_lanes(self) -> "Lanes | None":
        return build_lanes(self._region, [self._codes[c] for c in self._lane_codes])

    def check(self, raw: str) -> Verdict:
        """(digits-only international number, None) when valid, else (None, reason)."""
        found = self._parse(raw)
        code = found[0]
        if code is None:
            return found
        return _validity(code, found[1])

    def _parse(self, raw: str) -> Parsed:
        """What parse() makes of raw: (CallingCode, national number) or (None, reason)."""
        if raw.isascii():  # bytes.translate deletes in C, many times faster than str.translate
            digits = raw.encode().translate(None, _ASCII_FORMATTING).decode()
        else:
            digits = raw.translate(_CLEAN)
            if not digits.isascii():
                return self._unusual(raw, digits)
        if digits.isdigit():
            if digits[:2] != "00":
                region = self._region
                if region is not None:
                    return self._national(digits, region)
                return self._international(digits)
            return self._zero_zero(digits)
        if digits[:1] == "+":
            rest = digits[1:]
            if rest.isdigit():
                return self._international(rest)
        return self._unusual(raw, digits)

    def check_many(self, raws: Sequence[str]) -> list[Verdict]:
        """The verdicts of ``raws``, equal to ``list(map(self.check, raws))``, faster.

        The formatting of the whole batch is removed by one ``bytes.translate`` in C; cells
        whose cleaned form is plain digits (after an optional ``+``, or a spreadsheet float
        written as such, ``77011234567.0``) go straight to the parsing steps, anything else
        (non-ASCII text, letters, blanks, dotted formats, scientific notation) through
        ``check``'s own path. The parsed numbers are then judged by calling code and length,
        each group's validity expression run over the group by ``map`` in C.
        """
        digits, reasons = self.digits_many(raws)
        refusals = iter(reasons)
        return [(found, None) if found else (None, next(refusals)) for found in digits]

    def digits_many(self, raws: Sequence[str], *, invalid: str = "") -> tuple[list[str], list[str]]:
        """check_many's verdicts in a compact form: the digits of each cell (``invalid`` when
        it is invalid), and the reasons of the invalid cells in their order.

        Cells whose cleaned form a lane decides (campaigns.ingest.phone_lanes), spreadsheet
        floats included, take no step in Python; the others take the parsing steps.
        """
        count = len(raws)
        joined = _SEPARATOR.join(raws)
        try:
            cleaned = joined.encode().translate(None, _ASCII_FORMATTING).decode()
        except UnicodeError:  # a lone surrogate (never from a decoded file): one at a time
            return _compact(list(map(self.check, raws)), invalid)
        pieces = cleaned.split(_SEPARATOR)
        if len(pieces) != count:  # a cell held the separator itself
            return _compact(list(map(self.check, raws)), invalid)
        all_ascii = cleaned.isascii()
        lanes = self._lanes
        if lanes is None:
            return _compact(self._walk(pieces, raws, all_ascii), invalid)
        prepends = lanes.prepends
        digits = [
            prepends[m.lastindex] + m[m.lastindex] if m is not None else invalid  # type: ignore[index]
            for m in map(lanes.pattern.fullmatch, pieces)
        ]
        misses = [i for i, found in enumerate(digits) if found == invalid]
        hits = count - len(misses)
        misses, hits = self._floats(misses, digits, pieces, raws, lanes, hits)
        self.lane_hits += hits
        reasons: list[str] = []
        if misses:
            walked = self._walk([pieces[i] for i in misses], [raws[i] for i in misses], all_ascii)
            for i, (found, reason) in zip(misses, walked):
                if found is None:
                    reasons.append(reason)  # type: ignore[arg-type]
                else:
                    digits[i] = found
        return digits, reasons

    @staticmethod
    def _floats(
        misses: list[int], digits: list[str], pieces: list[str], raws: Sequence[str], lanes: Lanes, hits: int
    ) -> tuple[list[int], int]:
        """Spreadsheet floats written as they are (``77011234567.0``: nothing was cleaned off)
        are read as the integer before the dot, as _walk reads them: through the lanes."""
        fullmatch, prepends, left = lanes.pattern.fullmatch, lanes.prepends, []
        for i in misses:
            piece = pieces[i]
            if "." in piece:
                as_float = _FLOAT.fullmatch(piece)
                if as_float is not None and piece == raws[i]:
                    m = fullmatch(as_float.group(1))
                    if m is not None:
                        digits[i] = prepends[m.lastindex] + m[m.lastindex]  # type: ignore[index]
                        hits += 1
                        continue
            left.append(i)
        return left, hits

    def _walk(self, pieces: list[str], raws: Sequence[str], all_ascii: bool) -> list[Verdict]:
        """check_many's verdicts of cleaned cells, through the parsing steps in Python."""
        parse, international, national, zero_zero = self._parse, self._international, self._national, self._zero_zero
        region = self._region
        found: list[Parsed] = []
        append = found.append
        for i, digits in enumerate(pieces):
            if not digits.isdigit() or not (all_ascii or digits.isascii()):
                if digits[:1] == "+":
                    rest = digits[1:]
                    if rest.isdigit() and (all_ascii or rest.isascii()):
                        append(international(rest))
                        continue
                raw = raws[i]
                # A float written as it is (nothing removed, so the cleaned cell is the raw
                # one): _unusual reads the integer before the dot.
                as_float = None
                if len(digits) == len(raw) and "." in digits and (all_ascii or raw.isascii()):
                    as_float = _FLOAT.fullmatch(raw)
                if as_float is None:
                    append(parse(raw))
                    continue
                digits = as_float.group(1)
                if digits[:1] == "+":
                    append(international(digits[1:]))
                    continue
            if digits[:2] != "00":
                append(national(digits, region) if region is not None else international(digits))
            else:
                append(zero_zero(digits))
        verdicts = [item if item[0] is None else _validity(*item) for item in found]
        self._learn(found, verdicts)
        return verdicts

    def _learn(self, found: list[Parsed], verdicts: list[Verdict]) -> None:
        """Count the calling codes of the valid numbers that took the Python way, and give
        a code its lanes once the file shows it is common (LEARN_AFTER such numbers)."""
        seen = self._walked
        for (code, _), (digits, _) in zip(found, verdicts):
            if digits is not None:
                seen[code.code] = seen.get(code.code, 0) + 1  # type: ignore[union-attr]
        common = [code for code, number in seen.items() if number >= LEARN_AFTER and code not in self._lane_codes]
        if common and len(self._lane_codes) < MAX_LANE_CODES:
            self._lane_codes.extend(common[: MAX_LANE_CODES - len(self._lane_codes)])
            self._lanes = self._build_lanes()
            for code in common:
                seen.pop(code, None)

    def _unusual(self, raw: str, cleaned: str) -> Parsed:
        """Blank cells, spreadsheet floats, scientific notation, dotted formats and junk."""
        text = raw.strip().strip("\u200b\u2060\ufeff")
        if not text:
            return None, EMPTY
        if _SCIENTIFIC.fullmatch(text):
            return None, SCIENTIFIC
        as_float = _FLOAT.fullmatch(text)
        digits = as_float.group(1) if as_float else cleaned.replace(".", "")
        if digits[:1] == "+":
            rest = digits[1:]
            if rest.isdigit() and rest.isascii():
                return self._international(rest)
        elif digits.isdigit() and digits.isascii():
            if digits[:2] == "00":
                return self._zero_zero(digits)
            if self._region is not None:
                return self._national(digits, self._region)
            return self._international(digits)
        return None, NOT_A_NUMBER

    def _zero_zero(self, digits: str) -> Parsed:
        """00 is the international prefix, unless the default region dials abroad with a longer
        one that starts with 00 (0011 in Australia, 0014 in Brazil): then parse() reads it."""
        region = self._region
        if region is not None and region.idd is not None and region.idd.match(digits):
            return self._national(digits, region)
        return self._international(digits[2:])

    def _international(self, digits: str) -> Parsed:
        """parse("+" + digits, default_region), then is_valid_number."""
        length = len(digits)
        # parse() needs 3 digits after a plus to see a number, more than 2 to read a code.
        if length < 3 or length >= MAX_INPUT_LENGTH:
            return None, WRONG_LENGTH
        code = self._prefixes[digits[:3]]
        if code is not None:
            return _parsed(code, digits[code.length:], code.rules)
        if self._region is None:
            return None, UNKNOWN_COUNTRY
        # parse() retries without the plus when the code after it is unknown.
        return self._national(digits, self._region, after_plus=True)

    def _national(self, digits: str, region: RegionRules, after_plus: bool = False) -> Parsed:
        """parse(digits, default_region) (_maybe_extract_country_code), then is_valid_number."""
        length = len(digits)
        if length < MIN_NSN_LENGTH or length > MAX_INPUT_LENGTH:
            return None, WRONG_LENGTH
        # The region's international prefix (810 in KZ and RU, 011 in the US), unless a 0
        # follows it: calling codes never start with 0.
        literal = region.idd_literal
        if literal is not None:
            end = len(literal) if digits.startswith(literal) else -1
        elif region.idd is not None:
            match = region.idd.match(digits)
            end = -1 if match is None else match.end()
        else:
            end = -1
        if end >= 0:
            if end == length or digits[end] != "0":
                rest = digits[end:]
                if len(rest) <= MIN_NSN_LENGTH:
                    return None, WRONG_LENGTH
                code = self._prefixes[rest[:3]]
                if code is None:
                    return None, UNKNOWN_COUNTRY
                return _parsed(code, rest[code.length:], code.rules)
        calling_code = region.calling_code
        if digits.startswith(calling_code):
            # The region's own calling code without + (77011234567 in KZ): parse() takes it
            # as such when the rest fits the region's pattern better, or the whole is too long.
            national = digits[len(calling_code):]
            prefix = region.national_prefix
            if national and prefix is not None:
                match = prefix.match(national)
                if match is not None:
                    national = region.strip_national_prefix(national, match)
            general = region.general
            if region.too_long[length] or (
                general is not None
                and general.fullmatch(digits) is None
                and general.fullmatch(national) is not None
            ):
                code = self._codes[calling_code]
                return _parsed(code, national, code.rules)
        if after_plus:
            return None, UNKNOWN_COUNTRY
        return _parsed(self._codes[calling_code], digits, region)


def _parsed(code: CallingCode, national: str, rules: RegionRules) -> Parsed:
    """The end of parse(): national prefix stripping, length limits."""
    if len(national) < MIN_NSN_LENGTH:
        return None, WRONG_LENGTH
    literal = rules.national_prefix_literal
    if literal is None or national.startswith(literal):
        match = rules.national_prefix.match(national) if rules.national_prefix is not None else None
        if match is not None:
            stripped = rules.strip_national_prefix(national, match)
            # parse() keeps the stripped number only if its length is possible for the
            # region (the original could be a valid short number).
            if rules.keeps_stripped[len(stripped)]:
                national = stripped
    length = len(national)
    if length > MAX_NSN_LENGTH or length < MIN_NSN_LENGTH:
        return None, WRONG_LENGTH
    return code, national


def _validity(code: CallingCode, national: str) -> Verdict:
    """is_valid_number on a parsed number (its national number's length is within limits)."""
    length = len(national)
    valid = code.valid[length]
    if valid is not None and valid.fullmatch(national) is not None:
        return code.code + national, None
    return None, WRONG_RANGE if code.possible[length] else WRONG_LENGTH


def _compact(verdicts: list[Verdict], invalid: str) -> tuple[list[str], list[str]]:
    return [digits or invalid for digits, _ in verdicts], [reason for digits, reason in verdicts if digits is None]  # type: ignore[misc]
