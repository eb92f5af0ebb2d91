"""SMS segments of a message: GSM 03.38 7-bit or UCS-2, single or concatenated.

A text made only of the GSM 03.38 default alphabet (and its extension table) is sent in
7-bit: 160 septets in one SMS, 153 per part once it is split (the user data header takes
the other 7). Extension characters (``^ { } \\ [ ~ ] | €`` and form feed) are sent as an
escape plus the character, so each counts twice, and the pair is never split across
parts. Any other character sends the whole text as UCS-2: 70 UTF-16 code units in one SMS,
67 per part; a character outside the Basic Multilingual Plane (most emoji) is a surrogate
pair of two units, also never split.
"""

from __future__ import annotations

import re

GSM7 = "GSM-7"
UCS2 = "UCS-2"
MIXED = "mixed"

# GSM 03.38 default alphabet, in table order (0x1B, the escape to the extension table, left out).
_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_EXTENSION = "\f^{}\\[~]|€"

_NOT_GSM = re.compile("[^" + re.escape(_BASIC + _EXTENSION) + "]")
_EXTENDED = re.compile("[" + re.escape(_EXTENSION) + "]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")

GSM_SINGLE, GSM_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


def is_gsm(text: str) -> bool:
    """True when ``text`` can be sent in the GSM 7-bit alphabet."""
    return _NOT_GSM.search(text) is None


def count(text: str) -> tuple[int, str]:
    """(number of SMS segments, encoding) of ``text``; an empty text is 0 segments."""
    if _NOT_GSM.search(text) is None:
        if _EXTENDED.search(text) is None:
            return _parts(len(text), GSM_SINGLE, GSM_PART), GSM7
        return _packed(text, _EXTENDED, GSM_SINGLE, GSM_PART), GSM7
    if _ASTRAL.search(text) is None:
        return _parts(len(text), UCS2_SINGLE, UCS2_PART), UCS2
    return _packed(text, _ASTRAL, UCS2_SINGLE, UCS2_PART), UCS2


def length(text: str) -> tuple[int, str]:
    """(length in septets or UTF-16 code units, encoding) of ``text``."""
    if _NOT_GSM.search(text) is None:
        return len(text) + len(_EXTENDED.findall(text)), GSM7
    return len(text) + len(_ASTRAL.findall(text)), UCS2


def _parts(units: int, single: int, part: int) -> int:
    if units <= single:
        return 1 if units else 0
    return -(-units // part)


def _packed(text: str, wide: re.Pattern[str], single: int, part: int) -> int:
    """Segments when some characters take two units that must stay in the same part."""
    units = len(text) + len(wide.findall(text))
    if units <= single:
        return 1
    parts, used = 1, 0
    for char in text:
        width = 2 if wide.match(char) else 1
        if used + width > part:
            parts += 1
            used = 0
        used += width
    return parts


def combine(encodings: set[str]) -> str:
    """The report's encoding over many messages: one of them, or ``mixed``."""
    if len(encodings) == 1:
        return next(iter(encodings))
    return MIXED if encodings else GSM7
