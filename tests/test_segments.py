"""SMS segments: GSM 03.38 (160/153, extension characters count twice) and UCS-2 (70/67,
UTF-16 code units), with two-unit characters never split across parts."""

from __future__ import annotations

import pytest

from campaigns.ingest.segments import GSM7, MIXED, UCS2, combine, count, is_gsm, length


@pytest.mark.parametrize(
    "text, segments",
    [
        ("", 0),
        ("a", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("a" * 459, 3),
        ("a" * 460, 4),
    ],
)
def test_gsm_single_and_concatenated(text, segments):
    assert count(text) == (segments, GSM7)


def test_the_whole_basic_alphabet_is_gsm():
    basic = (
        "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
        "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
    )
    assert len(basic) == 127  # 128 codes less the escape
    assert is_gsm(basic)
    assert length(basic) == (127, GSM7)


@pytest.mark.parametrize("char", list("^{}\\[]~|€\f"))
def test_extension_characters_count_twice(char):
    assert length(char) == (2, GSM7)
    assert count(char * 80) == (1, GSM7)  # 160 septets
    assert count(char * 81) == (2, GSM7)  # 162
    assert count("a" * 159 + char) == (2, GSM7)  # 161


def test_an_extension_character_is_not_split_across_parts():
    # 152 + 2 + 152 = 306 septets would fit in 2 parts of 153, but the € cannot be
    # split: part 1 holds 152, part 2 the € and 151, part 3 the last one.
    assert count("a" * 152 + "€" + "a" * 152) == (3, GSM7)
    assert count("a" * 151 + "€" + "a" * 153) == (2, GSM7)


@pytest.mark.parametrize("char", ["ç", "á", "ё", "Я", "`", "ә", "\u00a0", "’"])
def test_any_other_character_makes_the_text_ucs2(char):
    assert not is_gsm("Hello " + char)
    assert count("Hello " + char)[1] == UCS2


@pytest.mark.parametrize(
    "units, segments", [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)]
)
def test_ucs2_single_and_concatenated(units, segments):
    assert count("я" * units) == (segments, UCS2)


def test_ucs2_counts_utf16_code_units():
    emoji = "😀"  # outside the BMP: a surrogate pair
    assert length(emoji) == (2, UCS2)
    assert count(emoji * 35) == (1, UCS2)  # 70 units
    assert count(emoji * 36) == (2, UCS2)  # 72 units
    # Extension characters are one unit in UCS-2, not two.
    assert length("€я") == (2, UCS2)


def test_a_surrogate_pair_is_not_split_across_parts():
    assert count("я" * 66 + "😀" + "я" * 66) == (3, UCS2)
    assert count("я" * 65 + "😀" + "я" * 67) == (2, UCS2)


def test_combine():
    assert combine({GSM7}) == GSM7
    assert combine({UCS2}) == UCS2
    assert combine({GSM7, UCS2}) == MIXED
