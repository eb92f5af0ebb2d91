"""A realistic recipient file for ``campaigns demo``: what a marketing team exports.

A template campaign's CSV (UTF-8 with a BOM and semicolons, as Excel writes "CSV UTF-8"
in Russian locales) with names and discount codes, Kazakh and Russian mobile numbers in
the formats people type (`+7 701 …`, `8 (701) …`, `7701…`, `+7(912)…`), a few rows that
are not phones at all and a few repeated recipients written differently.
"""

from __future__ import annotations

import csv
import random
import tempfile
from pathlib import Path

DEMO_TEXT = "{name}, ваша персональная скидка {discount}% до воскресенья. Код {code}"

_FIRST_NAMES = (
    "Айгерим", "Нурлан", "Дана", "Ерлан", "Асель", "Тимур", "Алия", "Бауыржан", "Мадина", "Данияр",
    "Анна", "Дмитрий", "Ольга", "Сергей", "Екатерина", "Иван", "Мария", "Алексей", "Наталья", "Павел",
    "Aigerim", "Nurlan", "Olga", "John",
)
_LAST_NAMES = (
    "Ахметова", "Сериков", "Жуматова", "Касымов", "Нурланова", "Иванов", "Смирнова", "Кузнецов",
    "Попова", "Омаров", "Бекова", "Ким", "Ли", "Петров",
)
# Mobile prefixes: Kazakhstan (700-708, 747, 771, 775-778) and Russia (9xx).
_KZ_PREFIXES = ("700", "701", "702", "705", "707", "708", "747", "771", "775", "776", "777", "778")
_RU_PREFIXES = ("903", "905", "912", "915", "916", "921", "926", "950", "965", "977", "985", "999")
_NOT_PHONES = ("", "нет", "12345", "+7 701 12", "tel: unknown", "7.70112E+10", "0000000", "+1 (555) 0100")


def _format(prefix: str, rest: str, style: int) -> str:
    a, b, c = rest[:3], rest[3:5], rest[5:]
    return (
        f"+7 {prefix} {a} {b} {c}",
        f"8 ({prefix}) {a}-{b}-{c}",
        f"7{prefix}{rest}",
        f"+7({prefix}){a}-{b}{c}",
        f"8{prefix}{rest}",
        f"+7-{prefix}-{a}-{b}-{c}",
        f" 7 {prefix} {rest} ",
    )[style]


# Styles 2 and 6 (a bare 7 and no plus) read as Kazakh national numbers with --country KZ,
# which libphonenumber then finds too long for a Russian 9xx number: give those a plus or 8.
_RU_STYLES = (0, 1, 3, 4, 5)


def _style(rng: random.Random, prefix: str) -> int:
    return rng.choice(_RU_STYLES) if prefix in _RU_PREFIXES else rng.randrange(7)


def demo_rows(rows: int, *, seed: int = 7) -> list[list[str]]:
    """``rows`` data rows ``[phone, name, discount, code]``: about 3% not phones and 2%
    repeats of an earlier recipient written in another format."""
    rng = random.Random(seed)
    out: list[list[str]] = []
    issued: list[tuple[str, str]] = []
    for i in range(rows):
        name = f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}" if rng.random() < 0.8 else rng.choice(_FIRST_NAMES)
        discount, code = str(rng.choice((5, 10, 15, 20, 25))), f"SMS{rng.randrange(10**5):05d}"
        roll = rng.random()
        if roll < 0.03 and i > 0:
            phone = rng.choice(_NOT_PHONES)
        elif roll < 0.05 and issued:
            prefix, rest = rng.choice(issued)
            phone = _format(prefix, rest, _style(rng, prefix))
        else:
            prefix = rng.choice(_KZ_PREFIXES if rng.random() < 0.7 else _RU_PREFIXES)
            rest = f"{rng.randrange(10**7):07d}"
            issued.append((prefix, rest))
            phone = _format(prefix, rest, _style(rng, prefix))
        out.append([phone, name, discount, code])
    return out


def write_demo_file(path: Path, rows: int, *, seed: int = 7) -> Path:
    """Write the demo CSV to ``path`` and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, delimiter=";", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(["phone", "name", "discount", "code"])
        writer.writerows(demo_rows(rows, seed=seed))
    return path


def demo_folder(folder: Path | None) -> Path:
    """``folder`` (created) or a new temporary folder for the demo's file and report."""
    if folder is None:
        return Path(tempfile.mkdtemp(prefix="campaigns-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
