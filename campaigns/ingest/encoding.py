"""The text encoding of a recipient file: named by the user, or detected.

Detection, in order (each step only when the previous one did not decide):

1. a byte-order mark (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE);
2. UTF-16/UTF-32 without a mark, when zero bytes abound (chardet, else where
   the zeros fall): ASCII in UTF-16 would otherwise pass for UTF-8;
3. strict UTF-8, when the head, a middle and a tail piece all decode (ASCII
   is a subset);
4. chardet on the sample: no answer means binary data; UTF-16/UTF-32 is taken;
5. otherwise our own choice among the single-byte encodings: Cyrillic words are
   all high bytes, Latin words mix a few with ASCII letters; among Windows-1251,
   KOI8-R and CP866 the one whose letters read most like Russian wins. chardet
   confuses them on the short, often upper-case name lists marketing teams
   export (``ИВАНОВ ИВАН`` in Windows-1251 comes out as KOI8-R, in KOI8-R as
   MacGreek, in CP866 as Hebrew cp862) and names a dozen Latin encodings for
   Windows-1252 text. An Asian multi-byte encoding (trusted from chardet only
   when no Cyrillic reading is plausible) is refused.

The encodings Mobizon accepts (UTF-8, UTF-16/UCS-2, Windows-1251, KOI8-R,
CP866, Windows-1252, ISO-8859-1, ASCII) are the ones detected; a user may name
any text encoding Python knows.
"""

from __future__ import annotations

import codecs
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import chardet

SUPPORTED = (
    "utf-8",
    "utf-16",
    "windows-1251",
    "koi8-r",
    "cp866",
    "windows-1252",
    "iso-8859-1",
    "ascii",
)

# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Names people use that Python's codec registry does not know.
_ALIASES = {"ucs-2": "utf-16", "ucs2": "utf-16", "unicode": "utf-16", "utf-16-bom": "utf-16"}

_DISPLAY = {"cp1251": "windows-1251", "cp1252": "windows-1252", "iso8859-1": "iso-8859-1"}

# A mark-less "utf-16" or "utf-32" is little-endian: that is what Windows writes.
_DEFAULT_ORDER = {"utf-16": "utf-16-le", "utf-32": "utf-32-le", "utf-8-sig": "utf-8"}

# chardet answers naming multi-byte encodings outside the supported list.
_FOREIGN_MULTIBYTE = re.compile(r"big5|gb|euc|shift|sjis|cp93|cp949|iso-2022|hz|johab")

# Relative frequency (%) of Russian letters in text; Kazakh letters are rare.
_RUSSIAN = dict(
    zip(
        "оеаинтсрвлкмдпуяыьгзбчйхжшюцщэфъё",
        (10.97, 8.45, 8.01, 7.35, 6.70, 6.26, 5.47, 4.73, 4.54, 4.40, 3.49, 3.21, 2.98,
         2.81, 2.62, 2.01, 1.90, 1.74, 1.70, 1.65, 1.59, 1.44, 1.21, 0.97, 0.94, 0.73,
         0.64, 0.48, 0.36, 0.32, 0.26, 0.04, 0.04),
    )
)
_LOG_FREQUENCY = {
    **{letter: math.log(share / 100) for letter, share in _RUSSIAN.items()},
    **{letter: math.log(0.5 / 100) for letter in "іүұқөңғәһ"},
}
# Russian and Kazakh name lists in the right encoding score above -3.3 (mean
# log-frequency of their letters); Chinese, Japanese or Korean text read as
# Cyrillic scores below -5.9.
_IMPLAUSIBLE_SCORE = -5.0
_CYRILLIC_CANDIDATES = ("cp1251", "koi8-r", "cp866")  # first wins a tie: Excel's export
_LATIN_UNDEFINED_IN_1252 = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")
_HIGH = re.compile(rb"[\x80-\xff]")
_WORDS = re.compile(rb"[A-Za-z\x80-\xff]+")
_ASCII_LETTER = re.compile(rb"[A-Za-z]")
_LOWER_THEN_UPPER = re.compile("[а-яёіїєў][А-ЯЁІЇЄЎ]")


class EncodingProblem(ValueError):
    """The encoding cannot be named or detected; ``str(exc)`` says why."""


class NotText(EncodingProblem):
    """The sample is binary data, not text in any encoding."""


@dataclass(frozen=True)
class TextEncoding:
    codec: str  # the Python codec that decodes the bytes after the mark
    name: str  # what a person is shown: "utf-8", "windows-1251", "utf-16-le"...
    skip: int = 0  # bytes of byte-order mark before the text


def display_name(codec: str) -> str:
    """The name people know for a Python codec name (``cp1251`` -> ``windows-1251``)."""
    return _DISPLAY.get(codec, codec)


def byte_order_mark(head: bytes) -> TextEncoding | None:
    """The encoding a byte-order mark at the start of ``head`` announces, if any."""
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return TextEncoding(codec, codec, len(bom))
    return None


def named_encoding(name: str, head: bytes) -> TextEncoding:
    """The encoding a user named (aliases such as ``cp1251``, ``utf8``, ``ucs-2`` accepted).

    A byte-order mark of the same family is honoured (``utf-16`` on a big-endian
    marked file reads big-endian) and skipped. Raises EncodingProblem for a name
    Python does not know as a text encoding.
    """
    key = name.strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    try:
        info = codecs.lookup(key)
    except LookupError:
        raise EncodingProblem(
            f"unknown encoding {name!r}; use one of {', '.join(SUPPORTED)}"
        ) from None
    if not getattr(info, "_is_text_encoding", True):
        raise EncodingProblem(f"{name!r} is not a text encoding")
    codec = info.name
    mark = byte_order_mark(head)
    if mark is not None and _family(mark.codec) == _family(codec):
        return mark
    codec = _DEFAULT_ORDER.get(codec, codec)
    return TextEncoding(codec, display_name(codec))


def detect_encoding(head: bytes, pieces: Sequence[bytes] = ()) -> TextEncoding:
    """Detect the encoding of a file from its first bytes and other line-aligned pieces.

    Raises NotText for binary data and EncodingProblem for text in an encoding
    we do not accept.
    """
    mark = byte_order_mark(head)
    if mark is not None:
        return mark
    if head.count(0) * 10 > len(head):
        # ASCII in UTF-16/32 is mostly zero bytes, and zero bytes are valid UTF-8
        wide = _wide_unicode(head)
        if wide is not None:
            return TextEncoding(wide, wide)
    samples = (head, *pieces)
    if all(_is_utf8(sample) for sample in samples):
        return TextEncoding("utf-8", "utf-8")
    sample = b"".join(samples)
    answer = (chardet.detect(sample).get("encoding") or "").lower()
    if not answer:
        raise NotText("the content is binary data")
    if answer.startswith(("utf-16", "utf-32")):
        codec = _with_byte_order(answer, head)
        return TextEncoding(codec, codec)
    codec = _single_byte(sample)
    foreign = _FOREIGN_MULTIBYTE.search(answer)
    # chardet takes some Cyrillic samples for GB18030, but never (in our trials)
    # a Latin one for an Asian encoding: trust it only when no Cyrillic fits.
    if codec is None or (foreign and codec not in _CYRILLIC_CANDIDATES):
        looks = f"looks like {answer}, which is" if foreign else "is"
        raise EncodingProblem(
            f"the text {looks} not in a supported encoding; save it as UTF-8 or give its encoding"
        )
    return TextEncoding(codec, display_name(codec))


def _family(codec: str) -> str:
    return codec[:6] if codec.startswith(("utf-16", "utf-32")) else codec.removesuffix("-sig")


def _is_utf8(sample: bytes) -> bool:
    try:
        # final=False: a character cut at the end of the sample is not an error
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _wide_unicode(head: bytes) -> str | None:
    """UTF-16 or UTF-32 (with byte order) for a sample full of zero bytes, if it is one."""
    answer = (chardet.detect(head).get("encoding") or "").lower()
    if answer.startswith(("utf-16", "utf-32")):
        return _with_byte_order(answer, head)
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if odd > 4 * even:
        return "utf-16-le"
    if even > 4 * odd:
        return "utf-16-be"
    return None


def _with_byte_order(answer: str, head: bytes) -> str:
    if answer.endswith(("-le", "-be")):
        return answer
    # ASCII characters (digits, delimiters) carry their zero byte(s) last in
    # little-endian, first in big-endian.
    return f"{answer}-{'le' if head[1::2].count(0) >= head[0::2].count(0) else 'be'}"


def _single_byte(sample: bytes) -> str | None:
    """Choose among the supported single-byte encodings for a non-UTF-8 sample.

    None when the sample's words look Cyrillic but read as Russian in none of
    the Cyrillic encodings (Chinese, Japanese, Greek...).
    """
    # Cyrillic words are all high bytes; Latin words mix a few (é, ü) with ASCII letters.
    words = [word for word in _WORDS.findall(sample) if _HIGH.search(word)]
    mixed = sum(1 for word in words if _ASCII_LETTER.search(word))
    if mixed * 2 < len(words):
        scores = {codec: _cyrillic_score(sample, codec) for codec in _CYRILLIC_CANDIDATES}
        best = max(scores, key=scores.__getitem__)
        return best if scores[best] >= _IMPLAUSIBLE_SCORE else None
    if _LATIN_UNDEFINED_IN_1252.search(sample):
        return "iso8859-1"
    return "cp1252"


def _cyrillic_score(sample: bytes, codec: str) -> float:
    """Mean log-likelihood of the non-ASCII characters as Russian letters."""
    # A byte undefined in the encoding (0x98 in Windows-1251) counts as a rare
    # character, not a veto: one stray byte must not turn the choice to another
    # encoding; reading then names its row.
    text = sample.decode(codec, "replace")
    rare = math.log(0.005 / 100)
    total = 0.0
    count = 0
    for char, times in Counter(text).items():
        if char >= "\x80":
            count += times
            total += times * _LOG_FREQUENCY.get(char.lower(), rare)
    # A lower-case letter before an upper-case one is rare in real text and
    # common in a wrong decoding (KOI8-R and Windows-1251 swap the cases).
    total += 3 * rare * len(_LOWER_THEN_UPPER.findall(text))
    return total / count if count else rare
