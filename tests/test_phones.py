"""Phone normalization and validity: the documented examples, the reasons, and a proof over a
large random sample that the verdicts are identical to phonenumbers'."""

from __future__ import annotations

import functools
import random
import re
import subprocess
import sys
from collections import Counter

import phonenumbers
import pytest
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, NumberParseException, PhoneMetadata, ValidationResult

from campaigns.ingest.phones import (
    EMPTY,
    LEARN_AFTER,
    NOT_A_NUMBER,
    SCIENTIFIC,
    UNKNOWN_COUNTRY,
    WRONG_LENGTH,
    WRONG_RANGE,
    PhoneValidator,
)


@pytest.mark.parametrize(
    ("region", "raw", "expected"),
    [
        ("KZ", "8 (701) 123-45-67", "77011234567"),
        ("KZ", "+7 701 123 45 67", "77011234567"),
        (None, "+7 701 123 45 67", "77011234567"),
        ("KZ", "77011234567", "77011234567"),
        (None, "77011234567", "77011234567"),  # digits-only without a region: international
        ("KZ", "00 7 701 123 45 67", "77011234567"),
        ("KZ", "8\u00a0701\u00a0123\u00a045\u00a067", "77011234567"),
        ("KZ", "'+77011234567", "77011234567"),  # Excel's text marker
        ("KZ", "77011234567.0", "77011234567"),  # a spreadsheet float holding the number
        ("KZ", "701.123.45.67", "77011234567"),
        ("KZ", "8/701/1234567", "77011234567"),
        ("KZ", "\ufeff+7\u200b701 123 45 67\r\n", "77011234567"),  # BOM, zero-width space, line end
        ("KZ", "\u0668\u0667\u0660\u0661\u0661\u0662\u0663\u0664\u0665\u0666\u0667", "77011234567"),
        ("KZ", "\uff0b\uff17\uff17\uff10\uff11\uff11\uff12\uff13\uff14\uff15\uff16\uff17", "77011234567"),
        ("KZ", "810 44 20 7946 0958", "442079460958"),  # KZ's own international prefix
        ("RU", "8 (912) 345-67-89", "79123456789"),
        ("US", "(650) 253-0000", "16502530000"),
        ("US", "1-650-253-0000", "16502530000"),
        ("GB", "020 7946 0958", "442079460958"),
        ("DE", "030 123456", "4930123456"),
        ("IT", "06 6982 1234", "390669821234"),  # Italian leading zero kept
        ("UZ", "90 123 45 67", "998901234567"),
        ("UA", "050 123 4567", "380501234567"),
        (None, "+39 06 6982 1234", "390669821234"),
    ],
)
def test_valid_numbers_normalize_to_international_digits(region, raw, expected):
    assert PhoneValidator(region).check(raw) == (expected, None)


@pytest.mark.parametrize(
    ("region", "raw", "reason"),
    [
        ("KZ", "", EMPTY),
        ("KZ", "   \t", EMPTY),
        ("KZ", "\u00a0", EMPTY),
        ("KZ", "7.70112E+10", SCIENTIFIC),
        (None, "7,70112e+10", SCIENTIFIC),
        ("KZ", "7.7011234567E+10", SCIENTIFIC),  # never guessed, even when digits survive
        ("KZ", "abc", NOT_A_NUMBER),
        ("KZ", "\u00b27011234567", NOT_A_NUMBER),  # a superscript two is a digit to str.isdigit, not here
        ("KZ", "+7 701 CALL NOW", NOT_A_NUMBER),
        ("KZ", "tel:+77011234567", NOT_A_NUMBER),
        ("KZ", "77011234567 ext 5", NOT_A_NUMBER),
        ("KZ", "-", NOT_A_NUMBER),
        ("KZ", "()", NOT_A_NUMBER),
        ("KZ", "+", NOT_A_NUMBER),
        ("KZ", "7701+1234567", NOT_A_NUMBER),
        ("KZ", "77011234567, 77021234567", NOT_A_NUMBER),
        (None, "+999 123 4567", UNKNOWN_COUNTRY),
        (None, "+0 701 123 4567", UNKNOWN_COUNTRY),
        ("KZ", "810 999 123 4567", UNKNOWN_COUNTRY),
        ("KZ", "8 701 123 45", WRONG_LENGTH),
        ("KZ", "8 701 123 45 67 89", WRONG_LENGTH),
        (None, "+7 701", WRONG_LENGTH),
        (None, "5", WRONG_LENGTH),
        ("KZ", "5", WRONG_LENGTH),
        (None, "+7 1234 567 890 123 456 789", WRONG_LENGTH),
        ("KZ", "8 (100) 123-45-67", WRONG_RANGE),
        (None, "+1 123 456 7890", WRONG_RANGE),
    ],
)
def test_invalid_numbers_carry_their_reason(region, raw, reason):
    assert PhoneValidator(region).check(raw) == (None, reason)


def test_regions_are_iso_codes_in_any_case():
    assert PhoneValidator("kz").check("8 701 123 45 67") == ("77011234567", None)
    for bad in ("XX", "001", "KAZ", ""):
        with pytest.raises(ValueError):
            PhoneValidator(bad)


def test_nothing_is_built_at_import_time():
    code = (
        "import campaigns.ingest.phones, campaigns.ingest.phone_tables as t\n"
        "assert t.calling_codes.cache_info().currsize == 0 and t.region_rules.cache_info().currsize == 0\n"
        "assert not t._compiled and not t._rules_by_metadata\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------------
# The proof: identical verdicts to phonenumbers over a large random sample.
# ---------------------------------------------------------------------------------------------

SAMPLE_SIZE = 200_000
# The brief's regions, and regions whose metadata takes the rarer paths of parse(): national prefix
# transform rules (AR, BR, AG, GG, JE, JP, GA, MG, SM, NF, CC), international prefixes starting
# with 00 (AU, BR, KR, HK, CO), leading zeros (IT, VA), shared calling codes (CA, JE, GG, VA, CC).
DEFAULT_REGIONS = (
    "KZ", "RU", "US", "GB", "DE", "IT", "BR", "UZ", "UA", "AR", "MX", "FR", "IN", "CN", "AU", "VA",
    "JE", "CA", "AG", "GG", "JP", "GA", "MG", "SM", "NF", "CC", "KR", "HK", "CO",
)
_TYPES = (
    "fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "voip",
    "personal_number", "pager", "uan", "voicemail",
)
_SEPARATORS = (" ", " ", "-", "-", ".", " - ", "\u00a0", "/", "\u2009", "\u2011")
_DIGITS = "0123456789"


@functools.cache
def _groupings(length: int) -> list[tuple[int, ...]]:
    """Ways to cut a number of this length into groups of 1 to 4 digits (a seeded choice of them)."""
    rng = random.Random(length)
    return [tuple(rng.choices((1, 2, 3, 4), k=length)) for _ in range(64)]


_FLOAT_LOOKALIKE = re.compile(r"\+?\d+\.0+")  # the validator reads these as spreadsheet floats


def reference(normalized: str, region: str | None) -> tuple[str | None, str | None]:
    """phonenumbers' own verdict on the normalized string, with the module's reason names."""
    try:
        number = phonenumbers.parse(normalized, region)
    except NumberParseException as error:
        if error.error_type == NumberParseException.INVALID_COUNTRY_CODE:
            return None, UNKNOWN_COUNTRY
        return None, WRONG_LENGTH  # too short or too long: digits-only strings parse otherwise
    if phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:], None
    possible = phonenumbers.is_possible_number_with_reason(number)
    impossible = (ValidationResult.TOO_SHORT, ValidationResult.TOO_LONG, ValidationResult.INVALID_LENGTH)
    return None, WRONG_LENGTH if possible in impossible else WRONG_RANGE


def _metadata(code: int, region: str):
    if region == "001":
        return PhoneMetadata.metadata_for_nongeo_region(code)
    return PhoneMetadata.metadata_for_region(region)


def _seeds() -> dict[int, list[str]]:
    """Example national numbers of every type, for every calling code."""
    seeds = {}
    for code, regions in COUNTRY_CODE_TO_REGION_CODE.items():
        examples = []
        for region in regions:
            metadata = _metadata(code, region)
            for name in _TYPES:
                desc = getattr(metadata, name)
                if desc is not None and desc.example_number:
                    examples.append(desc.example_number)
        seeds[code] = examples or ["1234567"]
    return seeds


def _national_number(rng: random.Random, examples: list[str], metadata) -> str:
    """An example number, kept or mutated towards the edges of the valid ranges."""
    number = rng.choice(examples)
    roll = rng.random()
    if roll < 0.15:
        return number
    if roll < 0.65:  # new subscriber digits: mostly valid
        keep = rng.randrange(1, len(number)) if len(number) > 1 else 0
        return number[:keep] + "".join(rng.choices(_DIGITS, k=len(number) - keep))
    if roll < 0.75:
        cut = rng.randrange(len(number))
        return number[:cut] + number[cut + 1:]
    if roll < 0.85:
        cut = rng.randrange(len(number) + 1)
        return number[:cut] + rng.choice(_DIGITS) + number[cut:]
    if roll < 0.93:
        prefix = metadata.national_prefix or rng.choice("018")
        return prefix + number
    return "".join(rng.choices(_DIGITS, k=rng.randrange(1, 19)))


def _formatted(rng: random.Random, digits: str, marker: str = "") -> str:
    """digits, after an international marker, as people and spreadsheets write them."""
    roll = rng.random()
    if roll < 0.3 or len(digits) < 3:
        text = digits
    else:
        separator, parts, start = rng.choice(_SEPARATORS), [], 0
        for size in rng.choice(_groupings(len(digits))):
            if start >= len(digits):
                break
            parts.append(digits[start:start + size])
            start += size
        if len(parts) > 2 and rng.random() < 0.4:
            parts[1] = f"({parts[1]})"
        text = separator.join(parts)
        if _FLOAT_LOOKALIKE.fullmatch(text):
            text = digits
    text = marker + text
    if rng.random() < 0.05:
        text = "'" + text
    if rng.random() < 0.05:
        text = f"  {text} "
    return text


def _junk(rng: random.Random) -> tuple[str, str]:
    """A cell that is not a phone number, with the reason it must get."""
    kind = rng.randrange(5)
    if kind == 0:
        return rng.choice(["", " ", "\t", "\u00a0", "  \u00a0 "]), EMPTY
    if kind == 1:
        mantissa = f"{rng.randint(1, 9)}{rng.choice('.,')}{rng.randint(0, 99999)}"
        return f"{mantissa}{rng.choice('eE')}{rng.choice(['+', '', '-'])}{rng.randint(1, 15)}", SCIENTIFIC
    if kind == 2:
        digits = "".join(rng.choices(_DIGITS, k=rng.randint(0, 12)))
        cut = rng.randint(0, len(digits))
        word = rng.choice(["abc", "x", "ext", "N/A", "tel:", "нет", "#", "*", ",", ";", "?"])
        return digits[:cut] + word + digits[cut:], NOT_A_NUMBER
    if kind == 3:
        if rng.random() < 0.5:
            digits = "".join(rng.choices(_DIGITS, k=rng.randint(1, 12)))
            return rng.choice(["", "+"]) + digits + "+" + digits, NOT_A_NUMBER
        return rng.choice(["-", "()", "--", "+", "/", ".", "+-"]), NOT_A_NUMBER
    return "".join(rng.choice("abcXYZ!?%&йцу@") for _ in range(rng.randint(1, 10))), NOT_A_NUMBER


def _cases(seed: int, count: int):
    """(raw, default region, normalized string or None, expected reason for junk, calling code)."""
    rng = random.Random(seed)
    seeds = _seeds()
    all_codes = sorted(COUNTRY_CODE_TO_REGION_CODE)
    region_codes = [phonenumbers.country_code_for_region(region) for region in DEFAULT_REGIONS]
    produced = 0
    while produced < count:
        if rng.random() < 0.04:
            raw, reason = _junk(rng)
            yield raw, rng.choice((None,) + DEFAULT_REGIONS), None, reason, None
            produced += 1
            continue
        if rng.random() < 0.01:  # codes that may not exist
            digits = "".join(rng.choices(_DIGITS, k=rng.randint(3, 16)))
            region = rng.choice((None,) + DEFAULT_REGIONS)
            yield _formatted(rng, digits, "+"), region, "+" + digits, None, None
            produced += 1
            continue
        # Each number is dialled one way and written twice, formatted differently: every input is
        # checked, and phonenumbers runs once per distinct (normalized string, region).
        style, region = rng.random(), rng.choice(DEFAULT_REGIONS)
        if style >= 0.45 and rng.random() < 0.7:  # dialled in its own country
            code = PhoneMetadata.metadata_for_region(region).country_code
        else:
            code = rng.choice(region_codes) if rng.random() < 0.4 else rng.choice(all_codes)
        regions = COUNTRY_CODE_TO_REGION_CODE[code]
        metadata = _metadata(code, rng.choice(regions))
        national = _national_number(rng, seeds[code], metadata)
        international = f"{code}{national}"
        if style < 0.25:
            marker, digits, region = "+", international, rng.choice((None, region))
            normalized = "+" + international
        elif style < 0.35:
            marker, digits = "00", international
            normalized = _normalized(region, "00" + international)
        elif style < 0.45:
            marker, digits, region, normalized = "", international, None, "+" + international
        else:
            marker, digits = "", _dialled_in(rng, region, code, national)
            normalized = _normalized(region, digits)
        for _ in range(2):
            yield _formatted(rng, digits, marker), region, normalized, None, code
            produced += 1


def _normalized(region: str, digits: str) -> str:
    """The documented rule: 00 is international unless the region's own international prefix matches."""
    idd = PhoneMetadata.metadata_for_region(region).international_prefix
    if digits.startswith("00") and not (idd and re.match(idd, digits)):
        return "+" + digits[2:]
    return digits


def _dialled_in(rng: random.Random, region: str, code: int, national: str) -> str:
    """Digits as someone in region would dial: nationally, with the calling code, or via IDD."""
    metadata = PhoneMetadata.metadata_for_region(region)
    home = metadata.country_code
    if code != home and rng.random() < 0.5:
        idd = metadata.preferred_international_prefix or metadata.international_prefix
        if idd and idd.isdigit():
            return f"{idd}{code}{national}"
        return f"{code}{national}"
    roll = rng.random()
    if roll < 0.1:  # a local number, without its area code
        return national[-rng.randint(4, 8):]
    if roll < 0.45:
        return (metadata.national_prefix or "") + national
    if roll < 0.75:
        return national
    if roll < 0.9:
        return f"{home}{national}"
    return f"{home}{metadata.national_prefix or ''}{national}"


def test_verdicts_are_identical_to_phonenumbers_on_a_large_random_sample():
    # Given 200,000 seeded inputs across every calling code, formats and default regions
    phonenumbers.enable_pattern_cache()  # the reference side, not the code under test: only its speed
    validators = {region: PhoneValidator(region) for region in (None,) + DEFAULT_REGIONS}
    expected_by_input: dict[tuple[str, str | None], tuple[str | None, str | None]] = {}
    mismatches, tally, codes_seen = [], {}, set()
    # When each is checked, Then the verdict, digits and reason equal phonenumbers' on the normalized string
    for raw, region, normalized, junk_reason, code in _cases(seed=20240611, count=SAMPLE_SIZE):
        got = validators[region].check(raw)
        if normalized is None:
            expected = (None, junk_reason)
        else:
            key = (normalized, region)
            expected = expected_by_input.get(key)
            if expected is None:
                expected = expected_by_input[key] = reference(normalized, region)
        if got != expected:
            mismatches.append((raw, region, normalized, got, expected))
        outcome = "valid" if expected[0] else expected[1]
        tally[outcome] = tally.get(outcome, 0) + 1
        if expected[0]:
            codes_seen.add(code)
    assert not mismatches, f"{len(mismatches)} mismatches, first: {mismatches[:10]}"
    # And the batch API gives the same verdicts over the same inputs, in batches of varied sizes
    batch_mismatches = _batch_mismatches(validators, expected_by_input)
    assert not batch_mismatches, f"{len(batch_mismatches)} batch mismatches, first: {batch_mismatches[:10]}"
    # And so do validators with lanes for every calling code of the sample (phone_lanes)
    lane_mismatches, lane_hits = _lane_mismatches(expected_by_input)
    assert not lane_mismatches, f"{len(lane_mismatches)} lane mismatches, first: {lane_mismatches[:10]}"
    assert lane_hits > tally["valid"] * 0.3, (lane_hits, tally["valid"])
    # And the sample exercised every outcome, most calling codes, and many distinct numbers
    assert sum(tally.values()) >= SAMPLE_SIZE
    assert tally["valid"] > SAMPLE_SIZE * 0.3
    for reason in (EMPTY, NOT_A_NUMBER, SCIENTIFIC, UNKNOWN_COUNTRY, WRONG_LENGTH, WRONG_RANGE):
        assert tally[reason] > 100, (reason, tally)
    assert len(codes_seen) > 0.9 * len(COUNTRY_CODE_TO_REGION_CODE)
    assert len(expected_by_input) > SAMPLE_SIZE * 0.35


def _batch_mismatches(validators, expected_by_input) -> list:
    """check_many over the proof's inputs, grouped by region in batches of 1 to 5,000 cells."""
    by_region: dict[str | None, list[tuple[str, tuple]]] = {}
    for raw, region, normalized, junk_reason, _ in _cases(seed=20240611, count=SAMPLE_SIZE):
        expected = (None, junk_reason) if normalized is None else expected_by_input[(normalized, region)]
        by_region.setdefault(region, []).append((raw, expected))
    rng, mismatches = random.Random(7), []
    for region, items in by_region.items():
        validator, start = validators[region], 0
        while start < len(items):
            batch = items[start:start + rng.choice((1, 2, 17, 500, 5_000))]
            start += len(batch)
            raws = [raw for raw, _ in batch]
            got = validator.check_many(raws)
            singles = list(map(validator.check, raws))
            mismatches.extend(
                (raw, region, verdict, single, expected)
                for (raw, expected), verdict, single in zip(batch, got, singles)
                if not verdict == single == expected
            )
    return mismatches


def _lane_mismatches(expected_by_input) -> tuple[list, int]:
    """check_many with lanes built up front: without a default region for every calling code
    (in groups of 60 codes), with each default region for its own code and the 10 codes
    most common among its inputs. Returns the mismatches and the cells lanes decided."""
    by_region: dict[str | None, list[tuple[str, str, tuple]]] = {}
    for raw, region, normalized, junk_reason, code in _cases(seed=20240611, count=SAMPLE_SIZE):
        expected = (None, junk_reason) if normalized is None else expected_by_input[(normalized, region)]
        by_region.setdefault(region, []).append((raw, str(code), expected))
    mismatches, hits = [], 0
    for region, items in by_region.items():
        codes = [code for code, _ in Counter(code for _, code, _ in items).most_common()]
        groups = [codes[i:i + 60] for i in range(0, len(codes), 60)] if region is None else [codes[:10]]
        for group in groups:
            validator = PhoneValidator(region, lane_codes=group)
            batch = [item for item in items if item[1] in group] if region is None else items
            got = validator.check_many([raw for raw, _, _ in batch])
            hits += validator.lane_hits
            mismatches.extend(
                (raw, region, verdict, expected) for (raw, _, expected), verdict in zip(batch, got) if verdict != expected
            )
    return mismatches, hits


@pytest.mark.parametrize(
    "raws",
    [
        [],
        [""],
        ["+77011234567", "8 (701) 123-45-67", "77011234567.0", "+77011234567.00", "007 701 123 45 67"],
        ["7701\x001234567", "+77011234567"],  # a cell holding the batch separator
        ["\ud800", "+77011234567"],  # a lone surrogate cannot be encoded
        ["нет номера", "\u0668\u0667\u0660\u0661\u0661\u0662\u0663\u0664\u0665\u0666\u0667", "+77011234567"],
        ["7.70112E+10", "7701 1234567.0", "701.123.45.67", "77011234567.5", ".0", "+.0", "+", "00", "0077"],
        ["\u00b27011234567", "+\u00b27011234567", "７７０１１２３４５６７", "'+77011234567", "\ufeff+7 701 123 45 67"],
    ],
)
@pytest.mark.parametrize("region", ["KZ", None, "AU", "GB"])
def test_check_many_equals_check_on_unusual_cells(raws, region):
    validator = PhoneValidator(region)
    assert validator.check_many(raws) == [validator.check(raw) for raw in raws]


def test_formatted_input_gets_the_verdict_phonenumbers_gives_the_raw_string():
    # Given formatted numbers phonenumbers reads as they are (no Excel quote; a + or national digits)
    validators = {region: PhoneValidator(region) for region in (None,) + DEFAULT_REGIONS}
    checked = 0
    for raw, region, normalized, _, _ in _cases(seed=11, count=12_000):
        text = raw.strip()
        if normalized is None or text[:1] == "'" or (normalized[0] == "+") != (text[:1] == "+"):
            continue
        if "\u2009" in raw:  # a thin space is not among phonenumbers' punctuation
            continue
        # Then the verdict equals phonenumbers' on the raw string itself
        assert validators[region].check(raw) == reference(raw, region), (raw, region)
        checked += 1
    assert checked > 5_000


def test_calling_codes_a_file_uses_get_lanes_as_they_come():
    # Given no default region (no lanes to begin with) and a file of Kazakh and British numbers
    validator = PhoneValidator(None)
    kazakh = [f"+7701{i:07d}" for i in range(LEARN_AFTER + 10)]
    british = [f"+44 7400 {i:06d}" for i in range(20)]
    assert validator.check_many(kazakh + british) == [validator.check(raw) for raw in kazakh + british]
    assert validator.lane_hits == 0
    # When the next block comes, Then the common code (7) has lanes, the rare one (44) not yet,
    # and the verdicts stay those of the Python way
    again = [f"+7702{i:07d}" for i in range(100)] + british
    assert validator.check_many(again) == [validator.check(raw) for raw in again]
    assert validator.lane_hits == 100
