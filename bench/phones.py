"""Phone validation speed: phonenumbers row by row against PhoneValidator.check.

Generates a mixed, realistic sample (about 70% Kazakh and Russian mobiles in the formats
files hold them, 5% invalid, the rest from many countries in international format), checks
both give the same verdicts, and prints rows/s for each and the speed-up.

    .venv/bin/python bench/phones.py [--rows 200000] [--region KZ] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import time

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, NumberParseException, PhoneMetadata

from campaigns.ingest.phones import PhoneValidator

_KZ_RU_PREFIXES = ("700", "701", "702", "705", "707", "708", "747", "771", "775", "776", "777", "778",
                   "900", "903", "905", "912", "916", "925", "926", "977", "985", "999")
_TYPES = ("fixed_line", "mobile", "toll_free", "voip")


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def _kz_ru_mobile(rng: random.Random) -> str:
    """A Kazakh or Russian mobile as files hold it: +7, 8, 7 or bare, with or without formatting."""
    p, a, b, c = rng.choice(_KZ_RU_PREFIXES), _digits(rng, 3), _digits(rng, 2), _digits(rng, 2)
    return rng.choice((
        f"+7{p}{a}{b}{c}", f"7{p}{a}{b}{c}", f"8{p}{a}{b}{c}", f"{p}{a}{b}{c}",
        f"+7 {p} {a} {b} {c}", f"+7 ({p}) {a}-{b}-{c}", f"8 ({p}) {a}-{b}-{c}", f"8-{p}-{a}-{b}-{c}",
        f"+7({p}){a}{b}{c}", f"7 {p} {a} {b}{c}", f"8 {p} {a}{b}{c}",
    ))


def _foreign(rng: random.Random, examples: list[tuple[int, str]]) -> str:
    """A number of another country, international format, new subscriber digits."""
    code, example = rng.choice(examples)
    keep = max(1, len(example) - rng.randint(2, 5))
    national = example[:keep] + _digits(rng, len(example) - keep)
    return rng.choice((f"+{code}{national}", f"+{code} {national[:3]} {national[3:]}", f"00{code}{national}"))


def _invalid(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.3:
        return f"8 701 {_digits(rng, rng.choice((4, 5, 8, 9)))}"  # wrong length
    if roll < 0.55:
        return f"+7 {rng.choice('0126')}{_digits(rng, 9)}"  # not a valid range
    if roll < 0.7:
        return f"7.701{rng.randint(10, 99)}E+10"
    if roll < 0.85:
        return rng.choice(("", "n/a", "нет", "-", "+"))
    return f"+{rng.choice(('999', '0', '28', '42'))}{_digits(rng, 9)}"


def sample(rows: int, seed: int) -> list[str]:
    """The benchmark's rows."""
    rng = random.Random(seed)
    examples = []
    for code, regions in COUNTRY_CODE_TO_REGION_CODE.items():
        for region in regions:
            if region == "001":
                continue
            metadata = PhoneMetadata.metadata_for_region(region)
            examples += [(code, getattr(metadata, name).example_number) for name in _TYPES
                         if getattr(metadata, name) is not None and getattr(metadata, name).example_number]
    result = []
    for _ in range(rows):
        roll = rng.random()
        if roll < 0.70:
            result.append(_kz_ru_mobile(rng))
        elif roll < 0.75:
            result.append(_invalid(rng))
        else:
            result.append(_foreign(rng, examples))
    return result


def phonenumbers_row_by_row(rows: list[str], region: str) -> list[bool]:
    """The baseline: parse and is_valid_number per row; 00 read as an international prefix first."""
    verdicts = []
    for raw in rows:
        text = raw.strip()
        if text.startswith("00"):
            text = "+" + text[2:]
        try:
            verdicts.append(phonenumbers.is_valid_number(phonenumbers.parse(text, region)))
        except NumberParseException:
            verdicts.append(False)
    return verdicts


def validator_checks(rows: list[str], region: str) -> list[bool]:
    check = PhoneValidator(region).check
    return [check(raw)[0] is not None for raw in rows]


def _timed(label: str, function, rows: list[str], region: str) -> tuple[float, list[bool]]:
    # CPU time of this process: the machine is shared, wall time would measure the neighbours.
    started = time.process_time()
    verdicts = function(rows, region)
    elapsed = time.process_time() - started
    print(f"{label:<56} {len(rows) / elapsed:>10,.0f} rows/s  {elapsed * 1e6 / len(rows):7.2f} us/row")
    return len(rows) / elapsed, verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--region", default="KZ")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rows = sample(args.rows, args.seed)
    print(f"{len(rows):,} rows, default region {args.region}; rows/s in CPU time")

    # The first pass builds the tables of every calling code met (and loads phonenumbers'
    # metadata for both sides); the second is the steady state of a long ingest.
    _timed("PhoneValidator.check, first pass (builds tables)", validator_checks, rows, args.region)
    fast, verdicts = _timed("PhoneValidator.check, tables built", validator_checks, rows, args.region)
    baseline, expected = _timed("phonenumbers parse + is_valid_number", phonenumbers_row_by_row, rows, args.region)
    phonenumbers.enable_pattern_cache()
    cached, _ = _timed("  same, with phonenumbers.enable_pattern_cache()", phonenumbers_row_by_row, rows, args.region)
    print(f"speed-up: {fast / baseline:.1f}x (vs. pattern-cached phonenumbers: {fast / cached:.1f}x); "
          f"valid {sum(verdicts):,} of {len(rows):,}")
    differing = sum(a != b for a, b in zip(expected, verdicts))
    print(f"rows where the verdicts differ: {differing}" + ("" if not differing else
          "  (raw rows with letters are NOT_A_NUMBER here, phonenumbers reads around them)"))


if __name__ == "__main__":
    main()
