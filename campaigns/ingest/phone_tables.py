"""Validation tables compiled from libphonenumber's metadata (the phonenumbers package).

``phonenumbers.is_valid_number(phonenumbers.parse(...))`` walks the metadata through
a dozen function calls and up to a dozen regular expressions per number. These tables
fold the same walk into a few precompiled expressions, taking the same decisions in the
same order, so that ``campaigns.ingest.phones`` can give identical verdicts faster:

- ``RegionRules`` holds what ``parse()`` reads from one region's metadata: the
  international (IDD) prefix, the national prefix for parsing and its transform rule,
  the general pattern, and the answers of ``_test_number_length`` by length.
- ``CallingCode`` holds, for each national significant number length, ONE expression
  equivalent to ``region_code_for_number`` followed by ``is_valid_number_for_region``:
  the regions sharing the calling code tried in metadata order (by leading digits, or by
  full validation where a region has none), and for each region the general pattern as
  a lookahead before the union of the type patterns whose possible lengths admit the
  length (``_number_type_helper`` / ``_is_number_matching_desc``).

Everything is built on first use of a region or calling code and cached for the process.
Lengths are read through phonenumbers' own ``_test_number_length`` at build time so the
length rules cannot drift from the library's; ``tests/test_phones.py`` proves the verdicts
identical over a large random sample.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import cache

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, SUPPORTED_REGIONS, PhoneMetadata
from phonenumbers.phonenumberutil import (
    _MAX_INPUT_STRING_LENGTH,
    _MAX_LENGTH_FOR_NSN,
    _MIN_LENGTH_FOR_NSN,
    REGION_CODE_FOR_NON_GEO_ENTITY,
    ValidationResult,
    _test_number_length,
)

MAX_INPUT_LENGTH = _MAX_INPUT_STRING_LENGTH  # parse() refuses longer strings (TOO_LONG)
MAX_NSN_LENGTH = _MAX_LENGTH_FOR_NSN  # parse() refuses longer national numbers (TOO_LONG)
MIN_NSN_LENGTH = _MIN_LENGTH_FOR_NSN  # parse() refuses shorter ones (TOO_SHORT_NSN)

# _number_type_helper's order; mobile is appended unless it repeats the fixed-line pattern.
_TYPE_DESCS = (
    "premium_rate", "toll_free", "shared_cost", "voip", "personal_number",
    "pager", "uan", "voicemail", "fixed_line",
)
_POSSIBLE = (ValidationResult.IS_POSSIBLE, ValidationResult.IS_POSSIBLE_LOCAL_ONLY)
# parse() drops a stripped national prefix when the rest has one of these lengths.
_REFUSED_AFTER_STRIP = (
    ValidationResult.TOO_SHORT, ValidationResult.IS_POSSIBLE_LOCAL_ONLY, ValidationResult.INVALID_LENGTH,
)
_BY_LENGTH = range(MAX_INPUT_LENGTH + 2)


@dataclass(frozen=True, slots=True)
class RegionRules:
    """What parse() reads from one region's (or non-geographic entity's) metadata."""

    country_code: int
    calling_code: str
    idd: re.Pattern[str] | None
    idd_literal: str | None  # the idd pattern when it is plain digits ("810", "00"): startswith is faster
    national_prefix: re.Pattern[str] | None
    national_prefix_literal: str | None  # the national prefix pattern when it is plain digits ("8", "0")
    transform: str | None
    general: re.Pattern[str] | None
    keeps_stripped: tuple[bool, ...]  # by length: parse() keeps a national number stripped to it
    too_long: tuple[bool, ...]  # by length: _test_number_length says TOO_LONG

    def strip_national_prefix(self, number: str, match: re.Match[str]) -> str:
        """Mirror _maybe_strip_national_prefix_carrier_code; match is national_prefix.match(number)."""
        general = self.general
        viable = general is not None and general.fullmatch(number) is not None
        # groups()[-1] raises IndexError for a transform rule without groups, as phonenumbers does.
        if not self.transform or match.groups()[-1] is None:
            rest = number[match.end():]
            if viable and general.fullmatch(rest) is None:
                return number
            return rest
        transformed = self.national_prefix.sub(self.transform, number, count=1)
        if viable and general.fullmatch(transformed) is None:
            return number
        return transformed


@dataclass(frozen=True, slots=True)
class CallingCode:
    """One country calling code: its parsing rules and its validity test by length."""

    code: str
    length: int  # of code
    rules: RegionRules  # the main region's: parse() strips national prefixes with them
    valid: tuple[re.Pattern[str] | None, ...]  # by NSN length; fullmatch means is_valid_number
    possible: tuple[bool, ...]  # by NSN length; is_possible_number_with_reason says possible


class CallingCodes(dict):
    """Calling code digits ("7", "44", "998") -> CallingCode, or None when no such code; built on first use."""

    def __missing__(self, digits: str) -> CallingCode | None:
        code = int(digits) if digits.isdigit() and digits[0] != "0" else 0
        # An int key (as phonenumbers reads the digits); 0 and unknown codes have no entry.
        value = _calling_code(code) if code in COUNTRY_CODE_TO_REGION_CODE else None
        self[digits] = value
        return value


class CallingCodePrefixes(dict):
    """First three digits of an international number -> its CallingCode, or None.

    _extract_country_code takes the shortest known code of 1 to 3 digits, never one that
    starts with 0; international numbers have at least 3 digits here (parse() needs them).
    """

    def __missing__(self, first_three: str) -> CallingCode | None:
        codes, value = calling_codes(), None
        if first_three[:1] != "0":
            for size in (1, 2, 3):
                value = codes[first_three[:size]]
                if value is not None:
                    break
        self[first_three] = value
        return value


@cache
def calling_code_prefixes() -> CallingCodePrefixes:
    """The process-wide table of calling code prefixes, filled lazily."""
    return CallingCodePrefixes()


@cache
def calling_codes() -> CallingCodes:
    """The process-wide table of calling codes, filled lazily."""
    return CallingCodes()


@cache
def region_rules(region: str) -> RegionRules:
    """Parsing rules of a default region (upper-case ISO 3166 alpha-2).

    Raises ValueError for a region phonenumbers does not know.
    """
    if region not in SUPPORTED_REGIONS:
        raise ValueError(f"unknown region {region!r}: expected an ISO 3166 alpha-2 code such as KZ")
    return _rules(PhoneMetadata.metadata_for_region(region, None))


_rules_lock = threading.Lock()
_rules_by_metadata: dict[int, RegionRules] = {}  # keyed by id(): PhoneMetadata is unhashable, and permanent


_compile_lock = threading.Lock()
_compiled: dict[str, re.Pattern[str]] = {}


def _compile(pattern: str) -> re.Pattern[str]:
    with _compile_lock:
        compiled = _compiled.get(pattern)
        if compiled is None:
            compiled = _compiled[pattern] = re.compile(pattern)
        return compiled


def _compile_or_none(pattern: str | None) -> re.Pattern[str] | None:
    return _compile(pattern) if pattern else None


def _rules(metadata: PhoneMetadata) -> RegionRules:
    rules = _rules_by_metadata.get(id(metadata))
    if rules is None:
        rules = _build_rules(metadata)
        with _rules_lock:
            rules = _rules_by_metadata.setdefault(id(metadata), rules)
    return rules


def _build_rules(metadata: PhoneMetadata) -> RegionRules:
    lengths = [_test_number_length("0" * n, metadata) for n in _BY_LENGTH]
    general = metadata.general_desc
    return RegionRules(
        country_code=metadata.country_code,
        calling_code=str(metadata.country_code),
        idd=_compile_or_none(metadata.international_prefix),
        idd_literal=_literal(metadata.international_prefix),
        national_prefix=_compile_or_none(metadata.national_prefix_for_parsing),
        national_prefix_literal=_literal(metadata.national_prefix_for_parsing),
        transform=metadata.national_prefix_transform_rule or None,
        general=_compile_or_none(general.national_number_pattern if general is not None else None),
        keeps_stripped=tuple(result not in _REFUSED_AFTER_STRIP for result in lengths),
        too_long=tuple(result == ValidationResult.TOO_LONG for result in lengths),
    )


def _calling_code(code: int) -> CallingCode:
    regions = COUNTRY_CODE_TO_REGION_CODE[code]
    main = _metadata(code, regions[0])
    if main is None:  # parse() asserts this never happens; refuse to build on broken metadata
        raise RuntimeError(f"phonenumbers has no metadata for calling code {code}")
    lengths = range(MAX_NSN_LENGTH + 1)
    return CallingCode(
        code=str(code),
        length=len(str(code)),
        rules=_rules(main),
        valid=tuple(_compile_or_none(_validity_source(code, regions, n)) for n in lengths),
        possible=tuple(_test_number_length("0" * n, main) in _POSSIBLE for n in lengths),
    )


def _metadata(code: int, region: str) -> PhoneMetadata | None:
    if region == REGION_CODE_FOR_NON_GEO_ENTITY:
        return PhoneMetadata.metadata_for_nongeo_region(code, None)
    return PhoneMetadata.metadata_for_region(region.upper(), None)


def _validity_source(code: int, regions: tuple[str, ...], length: int) -> str | None:
    """One expression whose fullmatch on an NSN of this length equals is_valid_number.

    With one region, region_code_for_number returns it unchecked. With several, it returns
    the first region whose leading digits match (valid or not), or, for a region without
    leading digits, the first one the number is valid in; so region i decides when no
    earlier region's leading digits matched, which the negative lookaheads express.
    """
    if len(regions) == 1:
        metadata = _metadata(code, regions[0])
        return _region_validity_source(metadata, length) if metadata is not None else None
    alternatives, earlier_leads = [], ""
    for region in regions:
        metadata = _metadata(code, region)
        if metadata is None:
            continue
        validity = _region_validity_source(metadata, length)
        if metadata.leading_digits is None:
            if validity is not None:
                alternatives.append(earlier_leads + validity)
            continue
        lead = metadata.leading_digits
        if validity is not None:
            alternatives.append(f"{earlier_leads}(?=(?:{lead})){validity}")
        earlier_leads += f"(?!(?:{lead}))"
    return "|".join(f"(?:{alternative})" for alternative in alternatives) or None


def _region_validity_source(metadata: PhoneMetadata, length: int) -> str | None:
    """_number_type_helper(nsn, metadata) != UNKNOWN, for NSNs of this length, as one pattern."""
    general = metadata.general_desc
    if not _admits(general, length):
        return None
    names = _TYPE_DESCS if metadata.same_mobile_and_fixed_line_pattern else _TYPE_DESCS + ("mobile",)
    # Any type matching decides, so the order of the alternatives is free: mobile numbers,
    # most of any recipient file, are tried first (a third less time per number).
    names = [name for name in ("mobile", "fixed_line") if name in names] + [
        name for name in names if name not in ("mobile", "fixed_line")
    ]
    patterns = []
    for name in names:
        desc = getattr(metadata, name)
        if _admits(desc, length) and desc.national_number_pattern not in patterns:
            patterns.append(desc.national_number_pattern)
    if not patterns:
        return None
    types = "|".join(f"(?:{pattern})" for pattern in patterns)
    return f"(?=(?:{general.national_number_pattern})\\Z)(?:{types})"


def _literal(pattern: str | None) -> str | None:
    return pattern if pattern and pattern.isdigit() and pattern.isascii() else None


def _admits(desc, length: int) -> bool:
    """_is_number_matching_desc's checks that do not depend on the digits."""
    if desc is None or not desc.national_number_pattern:
        return False
    return not desc.possible_length or length in desc.possible_length
