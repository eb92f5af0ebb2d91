"""Numbers and texts as Mobizon checks them: digits only, international format checked
with phonenumbers' rules (per-recipient code 3 otherwise), SMS segments counted from the
text's alphabet, ``{placeholder}`` substitution for template campaigns.

The format check uses the project's own validator (``campaigns.ingest.phones``), whose
verdicts are phonenumbers' own (``tests/test_phones.py`` proves it over a large sample) at a
few microseconds a number instead of 50-150: with phonenumbers itself a 500-recipient
AddRecipients spent 30-80 ms in the simulator, time the dispatch benchmark counts as the
provider's.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from typing import Sequence

import phonenumbers
from phonenumbers import carrier

from campaigns.ingest.phones import PhoneValidator

PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_-]+)\}")

_GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€\f")


def digits_of(raw: str) -> str:
    """The number with every extraneous character removed ("All extraneous characters
    will be removed automatically", Campaign module, AddRecipients)."""
    if raw.isdigit():  # the usual case: nothing to remove
        return raw
    return "".join(ch for ch in raw if ch.isdigit())


@functools.cache
def _validator() -> PhoneValidator:
    return PhoneValidator(None)  # no default region: "+" and the digits, as parse("+…", None) reads them


# The validator learns lanes for the calling codes it meets (state of its own), and calls
# of different campaigns check their numbers at once, outside the account's lock.
_validator_lock = threading.Lock()


def is_international(digits: str) -> bool:
    """True when ``digits`` is a valid number in international format (country code first):
    ``phonenumbers.is_valid_number(phonenumbers.parse("+" + digits, None))``."""
    return international_many([digits])[0]


def international_many(digits: Sequence[str]) -> list[bool]:
    """``[is_international(d) for d in digits]``: the ASCII candidates (8 to 15 digits)
    checked in one ``PhoneValidator.digits_many`` call, other scripts' digits by
    phonenumbers itself."""
    verdicts = [False] * len(digits)
    batch = [i for i, d in enumerate(digits) if 8 <= len(d) <= 15]
    if not batch:
        return verdicts
    ascii_batch = [i for i in batch if digits[i].isascii()]
    if ascii_batch:
        with _validator_lock:
            found, _ = _validator().digits_many(["+" + digits[i] for i in ascii_batch])
        for i, valid in zip(ascii_batch, found):
            verdicts[i] = bool(valid)  # "" for an invalid number
    if len(ascii_batch) < len(batch):
        for i in batch:
            if not digits[i].isascii():
                verdicts[i] = _phonenumbers_valid(digits[i])
    return verdicts


def _phonenumbers_valid(digits: str) -> bool:
    """phonenumbers' own verdict on ``"+" + digits`` (digits of scripts other than ASCII)."""
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number)


def number_info(digits: str) -> tuple[str | None, str | None]:
    """The recipient's country (ISO alpha-2) and operator name, as Message/List's
    ``withNumberInfo`` shows them; (None, None) when unknown."""
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None, None
    region = phonenumbers.region_code_for_number(number)
    operator = carrier.name_for_number(number, "en") or None
    return region, operator


@functools.lru_cache(maxsize=4096)  # a mass campaign counts the same text for every recipient
def segments(text: str) -> int:
    """SMS segments: GSM-7 texts fit 160 characters (153 a part when split), others are
    UCS-2 with 70 (67 a part)."""
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in text):
        units = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in text)
        single, part = 160, 153
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part = 70, 67
    if units <= single:
        return 1
    return math.ceil(units / part)


def placeholders(text: str) -> list[str]:
    """The placeholder names in ``text``, in order, without duplicates."""
    return list(dict.fromkeys(PLACEHOLDER.findall(text)))


def fill(text: str, values: dict[str, str], flag: int) -> tuple[str, list[str]]:
    """``text`` with placeholders replaced by ``values`` and the names that had no value.

    ``flag`` is params[placeholdersFlag]: 1 leaves a missing placeholder as it is, 2 removes
    it, 3 leaves it (the caller rejects the recipient with code 20).
    """
    missing: list[str] = []

    def substitute(match: re.Match) -> str:
        name = match.group(1)
        if name in values and values[name] is not None:
            return str(values[name])
        missing.append(name)
        return "" if flag == 2 else match.group(0)

    return PLACEHOLDER.sub(substitute, text), list(dict.fromkeys(missing))
