"""Lanes: one regular expression that decides the common valid numbers of a file in C.

``PhoneValidator`` walks parse()'s steps in Python for each number (2-3 µs). But in a
real file almost every number takes one of a few paths through those steps: "+7 701…",
"8 701…" and "7 701…" in Kazakhstan. A *lane* is one such path written as a regular
expression over the cleaned cell: every test the path makes (the IDD prefix not there,
the calling code there, the national prefix there or not, the general pattern matching
or not, the final validity) becomes a literal, a lookahead or the validity pattern
itself, so a cell matches the lane exactly when the Python walk would take that path and
end in a valid number. The lanes of the calling codes a file uses are joined into one
alternation, each with one capturing group holding the digits the number keeps, so
``fullmatch`` both decides and (through ``lastindex``) says which lane matched.

A cell that matches no lane is not invalid: it goes the Python way, which stays the
reference (an unusual path, an invalid number, a float, text). Only paths made of
literal prefixes are laned (a national prefix with a transform rule, a regional IDD
pattern read with a calling code after it, are not), so each lane mirrors
``campaigns.ingest.phones`` line by line; ``tests/test_phones.py`` proves the verdicts
equal to phonenumbers' with lanes for every calling code of its sample.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from campaigns.ingest.phone_tables import (
    MAX_INPUT_LENGTH,
    MAX_NSN_LENGTH,
    MIN_NSN_LENGTH,
    CallingCode,
    RegionRules,
    calling_code_prefixes,
)

_CAPTURING = re.compile(r"(?<!\\)\((?!\?)")


@dataclass(frozen=True)
class Lanes:
    """The lanes of some calling codes: ``pattern.fullmatch(cell)`` gives a match ``m``
    for a valid number, whose digits are ``prepends[m.lastindex] + m[m.lastindex]``."""

    pattern: re.Pattern[str]
    prepends: tuple[str, ...]  # by group number; [0] unused


def build_lanes(region: RegionRules | None, codes: list[CallingCode]) -> Lanes | None:
    """Lanes for numbers of ``codes`` in cells read with default ``region``, or None if none."""
    sources: list[str] = []  # alternatives of the pattern
    prepends: list[str] = []  # by capturing group, from 1: each lane has one
    if region is None:  # digits alone are international without a default region
        international = r"(?:\+|00)?"
    elif region.idd is not None:  # "00…": parse() reads the region's own IDD when it matches there (0011 in AU)
        international = f"(?:\\+|(?!(?:{_plain(region.idd)}))00)"
    else:
        international = r"(?:\+|00)"
    for code in codes:
        if not _prefix_free(code):
            continue
        body = _international(code)
        if body:  # the forms share one copy of the body: a third of the pattern to compile
            sources.append(international + "(?:" + "|".join(source for source, _ in body) + ")")
            prepends.extend(prepend for _, prepend in body)
        if region is not None and code.code == region.calling_code:
            for source, prepend in _national(region, code):
                sources.append(source)
                prepends.append(prepend)
    if not sources:
        return None
    alternatives = "|".join(f"(?:{source})" for source in sources)
    pattern = re.compile(alternatives, re.ASCII)
    if pattern.groups != len(prepends):  # a metadata pattern kept a group: no lanes
        return None
    return Lanes(pattern, ("", *prepends))


def _international(code: CallingCode) -> list[tuple[str, str]]:
    """PhoneValidator._international(x) for x starting with ``code``: the number read with the
    code's main region's rules (_parsed), the national prefix kept out or stripped."""
    lanes = []
    c, rules = code.code, code.rules
    for m, nsn in _lengths(code, len(c)):
        # _parsed: no national prefix at the start of the national number
        lanes.append((f"({c}{_no_prefix(rules)}{nsn})", ""))
        stripped = _stripped(rules, m, nsn)
        if stripped is not None:
            lanes.append((c + stripped, c))
    return lanes


def _national(region: RegionRules, code: CallingCode) -> list[tuple[str, str]]:
    """PhoneValidator._national(d, region) for digits of the region's own calling code."""
    c = region.calling_code
    # check_many reads "00…" with _zero_zero, never _national
    gate = "(?!00)" + _no_idd(region)
    lanes = []
    general = _plain(region.general) if region.general is not None else None
    for m, nsn in _lengths(code, 0):
        # d = calling code + national number (77011234567 in KZ): the code is taken as such
        # when d is too long for the region or the rest fits its pattern and d does not.
        length = len(c) + m
        if m >= 1 and length <= MAX_INPUT_LENGTH:
            whole = region.too_long[length]
            if whole or general is not None:
                not_whole = "" if whole else f"(?!(?:{general})\\Z)"
                rest_fits = "" if whole else f"(?=(?:{general})\\Z)"
                # (the cheap test that tells the lanes apart first: most cells fail it)
                lanes.append(
                    (f"(?={c}){gate}{not_whole}({c}{_no_prefix(region)}{rest_fits}{_no_prefix(code.rules)}{nsn})", "")
                )
        # d is the national number itself (with the national prefix or without it)
        lanes.append((f"(?!{c}){gate}({_no_prefix(region)}{nsn})", c))
        stripped = _stripped(region, m, nsn)
        if stripped is not None:
            lanes.append((f"(?!{c})(?={region.national_prefix_literal}){gate}{stripped}", c))
    return lanes


def _lengths(code: CallingCode, before: int) -> list[tuple[int, str]]:
    """(m, expression) for each national number length m that can be valid: the expression
    matches exactly the valid national numbers of that length, up to the cell's end."""
    out = []
    for m in range(MIN_NSN_LENGTH, MAX_NSN_LENGTH + 1):
        valid = code.valid[m]
        if valid is None or before + m >= MAX_INPUT_LENGTH:
            continue
        out.append((m, f"(?=\\d{{{m}}}\\Z)(?:{_plain(valid)})"))
    return out


def _stripped(rules: RegionRules, m: int, nsn: str) -> str | None:
    """A literal national prefix stripped from a number whose rest (length m, valid) is kept:
    RegionRules.strip_national_prefix without a transform, then parse()'s length check.
    The rest is the lane's group."""
    prefix = rules.national_prefix_literal
    if prefix is None or rules.transform or not rules.keeps_stripped[m]:
        return None
    if rules.general is None:
        condition = ""
    else:  # stripped unless the whole fits the general pattern and the rest does not
        general = _plain(rules.general)
        condition = f"(?:(?!(?:{general})\\Z)|(?={prefix}(?:{general})\\Z))"
    return f"{condition}{prefix}({nsn})"


def _no_prefix(rules: RegionRules) -> str:
    """The national prefix for parsing does not match at this point (or there is none)."""
    if rules.national_prefix is None:
        return ""
    return f"(?!(?:{_plain(rules.national_prefix)}))"


def _no_idd(region: RegionRules) -> str:
    """_national does not take the IDD path: no IDD match (its first, as re.match gives it,
    which the atomic group keeps) followed by something other than 0."""
    if region.idd is None:
        return ""
    return f"(?!(?>(?:{_plain(region.idd)}))(?!0))"


def _plain(pattern: re.Pattern[str]) -> str:
    """The pattern's source with its capturing groups made non-capturing."""
    return _CAPTURING.sub("(?:", pattern.pattern)


def _prefix_free(code: CallingCode) -> bool:
    """_international reads this code from any number starting with it (no shorter code is
    a prefix of it, which calling codes never are; checked rather than assumed)."""
    prefixes = calling_code_prefixes()
    heads = [code.code] if code.length >= 3 else [code.code + f"{i:0{3 - code.length}d}" for i in range(10 ** (3 - code.length))]
    return all(prefixes[head] is code for head in heads)
