"""The file readers against a generated corpus of ordinary, unusual and malformed files.

Each test writes its files into ``tmp_path`` (builders in tests/corpus.py) and
checks the rows read, or the refusal and its message.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import pickle
import random
import zipfile
from pathlib import Path

import pytest

from campaigns.ingest import encoding as encodings
from campaigns.ingest import textfile
from campaigns.ingest.readers import EXCEL_ENGINES, FileRefused, Limits, Table, read_table
from campaigns.settings import Settings
from tests import corpus


def rows_of(table: Table) -> list[tuple[int, list[str]]]:
    return list(table.rows)


def refusal(path: Path, **options) -> FileRefused:
    """The FileRefused that reading ``path`` to its end raises."""
    with pytest.raises(FileRefused) as caught:
        rows_of(read_table(path, **options))
    return caught.value


EXPECTED_RU = [
    (1, ["Телефон", "ФИО", "Город"]),
    *[
        (n + 2, [f"7701{1234560 + n}", corpus.NAMES[n % len(corpus.NAMES)], "Алматы"])
        for n in range(8)
    ],
]


# --- encodings


@pytest.mark.parametrize(
    "codec, expected_name",
    [
        ("utf-8", "utf-8"),
        ("cp1251", "windows-1251"),
        ("koi8-r", "koi8-r"),
        ("cp866", "cp866"),
        ("utf-16-le", "utf-16-le"),  # no byte-order mark: chardet tells it
    ],
)
@pytest.mark.parametrize("upper", [False, True], ids=["names", "UPPER-CASE NAMES"])
def test_each_cyrillic_encoding_is_detected(tmp_path, codec, expected_name, upper):
    # Given a small recipient list in this encoding, with no byte-order mark
    text = corpus.recipients_text(upper=upper)
    path = corpus.write_text(tmp_path / "recipients.csv", text, codec)
    # When it is read
    table = read_table(path)
    # Then the encoding is the one written, and every cell reads back
    assert table.kind == "csv"
    assert table.encoding == expected_name
    assert table.delimiter == ";"
    expected = [(n, [c.upper() if upper and c in corpus.NAMES else c for c in cells])
                for n, cells in EXPECTED_RU]
    assert rows_of(table) == expected


@pytest.mark.parametrize("rows", [1, 2])
@pytest.mark.parametrize("codec", ["cp1251", "koi8-r", "cp866"])
def test_cyrillic_detection_holds_on_a_one_row_file(tmp_path, codec, rows):
    path = corpus.write_text(tmp_path / "r.csv", corpus.recipients_text(rows), codec)
    table = read_table(path)
    assert table.encoding == encodings.display_name(codec)
    assert rows_of(table) == EXPECTED_RU[: rows + 1]


@pytest.mark.parametrize(
    "bom, codec, expected_name",
    [
        (codecs.BOM_UTF8, "utf-8", "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le", "utf-32-le"),
    ],
)
def test_byte_order_marks_decide_and_are_not_part_of_the_first_cell(
    tmp_path, bom, codec, expected_name
):
    path = corpus.write_text(tmp_path / "r.csv", corpus.recipients_text(), codec, bom=bom)
    table = read_table(path)
    assert table.encoding == expected_name
    assert rows_of(table) == EXPECTED_RU


def test_detection_over_many_random_name_lists(tmp_path):
    # Given seeded random lists of 1 to 50 rows, lower, UPPER or mixed case
    chooser = random.Random(20240601)
    latin = ("Müller", "José Núñez", "Bjørn Ødegård", "Françoise", "Straße", "Çelik Öztürk")
    for _ in range(60):
        rows = chooser.choice((1, 2, 3, 10, 50))
        case = chooser.choice((str, str.upper, str.lower))
        names = [case(chooser.choice(corpus.NAMES)) for _ in range(rows)]
        text = "".join(f"7701{chooser.randrange(10**7):07d};{name}\n" for name in names)
        for codec in ("cp1251", "koi8-r", "cp866"):
            # Then each is read in the encoding it was written in
            assert encodings.detect_encoding(text.encode(codec)).codec == codec, (codec, text)
        western = "".join(f"7701{n:07d},{chooser.choice(latin)}\n" for n in range(rows))
        assert encodings.detect_encoding(western.encode("cp1252")).codec == "cp1252", western


@pytest.mark.parametrize("codec", ["cp1252", "latin-1"])
def test_latin_single_byte_files_read_as_windows_1252(tmp_path, codec):
    # ISO-8859-1 and Windows-1252 agree on every letter; Windows-1252 is chosen
    text = "phone,name\n77011234567,Müller Ångström\n77011234568,Françoise Żółć\n"
    text = text.replace("Żółć", "Noël")  # stays within both encodings
    path = corpus.write_text(tmp_path / "r.csv", text, codec)
    table = read_table(path)
    assert table.encoding == "windows-1252"
    assert rows_of(table) == [
        (1, ["phone", "name"]),
        (2, ["77011234567", "Müller Ångström"]),
        (3, ["77011234568", "Françoise Noël"]),
    ]


def test_iso_8859_1_is_chosen_when_a_byte_is_undefined_in_windows_1252(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes("phone,note\n77011234567,Café \x81\n".encode("latin-1"))
    table = read_table(path)
    assert table.encoding == "iso-8859-1"
    assert rows_of(table)[1] == (2, ["77011234567", "Café \x81"])


def test_ascii_reads_as_utf8_and_can_be_named(tmp_path):
    path = corpus.write_text(tmp_path / "r.csv", "phone\n77011234567\n", "ascii")
    assert read_table(path).encoding == "utf-8"
    table = read_table(path, encoding="ASCII")
    assert table.encoding == "ascii"
    assert rows_of(table) == [(1, ["phone"]), (2, ["77011234567"])]


def test_cyrillic_beyond_the_head_is_found_in_the_sampled_tail(tmp_path):
    # Given 200 KiB of Latin-only rows, then Windows-1251 names at the end
    head = "".join(f"7701{1000000 + n},Smith John\n" for n in range(10_000))
    tail = "".join(f"7702{1000000 + n},{corpus.NAMES[n % 8]}\n" for n in range(200))
    path = corpus.write_text(tmp_path / "r.csv", "phone,name\n" + head + tail, "cp1251")
    table = read_table(path)
    assert table.encoding == "windows-1251"
    rows = rows_of(table)
    assert rows[-1] == (10_201, ["77021000199", corpus.NAMES[199 % 8]])


@pytest.mark.parametrize(
    "alias, expected_name",
    [("cp1251", "windows-1251"), ("Windows-1251", "windows-1251"), ("KOI8_R", "koi8-r"),
     ("ibm866", "cp866"), ("latin1", "iso-8859-1")],
)
def test_encoding_can_be_named_by_its_aliases(tmp_path, alias, expected_name):
    codec = encodings.named_encoding(alias, b"").codec
    path = corpus.write_text(tmp_path / "r.csv", corpus.recipients_text(), "utf-8")
    path.write_bytes(corpus.recipients_text().encode(codec, "replace"))
    table = read_table(path, encoding=alias)
    assert table.encoding == expected_name


@pytest.mark.parametrize("alias", ["ucs-2", "UCS2", "utf-16", "unicode"])
def test_ucs2_names_utf16_little_endian_without_a_mark(tmp_path, alias):
    path = corpus.write_text(tmp_path / "r.csv", corpus.recipients_text(), "utf-16-le")
    table = read_table(path, encoding=alias)
    assert table.encoding == "utf-16-le"
    assert rows_of(table) == EXPECTED_RU


def test_a_named_utf16_follows_a_big_endian_mark(tmp_path):
    path = corpus.write_text(
        tmp_path / "r.csv", corpus.recipients_text(), "utf-16-be", bom=codecs.BOM_UTF16_BE
    )
    table = read_table(path, encoding="utf16")
    assert table.encoding == "utf-16-be"
    assert rows_of(table) == EXPECTED_RU


def test_utf8_named_skips_a_utf8_mark(tmp_path):
    path = corpus.write_text(tmp_path / "r.csv", "phone\n1\n", bom=codecs.BOM_UTF8)
    assert rows_of(read_table(path, encoding="utf8")) == [(1, ["phone"]), (2, ["1"])]


def test_an_unknown_encoding_name_is_refused(tmp_path):
    path = corpus.write_text(tmp_path / "r.csv", "phone\n1\n")
    error = refusal(path, encoding="klingon")
    assert str(error) == (
        "r.csv: unknown encoding 'klingon'; use one of utf-8, utf-16, windows-1251, "
        "koi8-r, cp866, windows-1252, iso-8859-1, ascii"
    )


def test_the_wrong_encoding_named_fails_on_the_first_bad_row(tmp_path):
    text = "phone,name\n77011234567,Smith\n77011234568,Иванов\n"
    path = corpus.write_text(tmp_path / "recipients.csv", text, "cp1251")
    error = refusal(path, encoding="utf-8")
    assert (error.file, error.row) == ("recipients.csv", 3)
    assert str(error) == "recipients.csv, row 3: cannot be decoded as utf-8 (byte 0xC8)"


def test_an_undefined_byte_deep_in_a_windows_1251_file_names_its_row(tmp_path):
    # Given a Windows-1251 file over several read chunks, with 0x98 (undefined
    # in Windows-1251) in row 15001, in the second chunk
    lines = ["Телефон;ФИО"] + [f"7701{1000000 + n};{corpus.NAMES[n % 8]}" for n in range(20_000)]
    data = "\n".join(lines).encode("cp1251").split(b"\n")
    data[15_000] += b"\x98"
    path = tmp_path / "recipients.csv"
    path.write_bytes(b"\n".join(data) + b"\n")
    assert len(b"\n".join(data[:15_000])) > textfile.CHUNK_BYTES
    # When it is read to the end
    table = read_table(path)
    assert table.encoding == "windows-1251"
    with pytest.raises(FileRefused) as caught:
        for number, _ in table.rows:
            last = number
    # Then every row before it was read, and the message names row 15001
    assert last == 15_000
    assert str(caught.value) == (
        "recipients.csv, row 15001: cannot be decoded as windows-1251 (byte 0x98)"
    )


def test_a_utf8_file_cut_inside_a_character_is_refused_at_its_last_row(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes("phone,name\n77011234567,Иван".encode()[:-1])
    error = refusal(path, encoding="utf-8")
    assert str(error) == (
        "r.csv, row 2: cannot be decoded as utf-8 (the file ends in the middle of a character)"
    )


def test_multibyte_characters_split_across_read_chunks_decode(tmp_path):
    # rows of 2-byte letters of odd lengths: some letter straddles every chunk end
    rows = [f"{n};{'Щ' * (n % 7 + 1)}Ж" for n in range(40_000)]
    path = corpus.write_text(tmp_path / "r.csv", "\n".join(rows) + "\n")
    assert path.stat().st_size > 2 * textfile.CHUNK_BYTES
    read = rows_of(read_table(path))
    assert read == [(n + 1, row.split(";")) for n, row in enumerate(rows)]


# --- dialects


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_each_delimiter_is_sniffed(tmp_path, delimiter):
    path = corpus.write_text(tmp_path / "r.txt", corpus.recipients_text(delimiter=delimiter))
    table = read_table(path)
    assert table.delimiter == delimiter
    assert rows_of(table) == EXPECTED_RU


def test_single_quotes_are_sniffed_and_protect_delimiters(tmp_path):
    text = (
        "'phone','name','note'\n"
        "'77011234567','Иванов, Иван','a'\n"
        "'77011234568','Ким, Виктория','b'\n"
        "'77011234569','O''Brien, Pat','c'\n"
    )
    table = read_table(corpus.write_text(tmp_path / "r.csv", text))
    assert table.delimiter == ","
    assert rows_of(table) == [
        (1, ["phone", "name", "note"]),
        (2, ["77011234567", "Иванов, Иван", "a"]),
        (3, ["77011234568", "Ким, Виктория", "b"]),
        (4, ["77011234569", "O'Brien, Pat", "c"]),
    ]


def test_semicolons_win_over_decimal_commas(tmp_path):
    text = "phone;name;balance\n77011234567;Иван;12,5\n77011234568;Ержан;3,75\n"
    table = read_table(corpus.write_text(tmp_path / "r.csv", text))
    assert table.delimiter == ";"
    assert rows_of(table)[1] == (2, ["77011234567", "Иван", "12,5"])


@pytest.mark.parametrize("header", [True, False])
def test_a_single_column_of_numbers_is_one_column(tmp_path, header):
    phones = ["77011234567", "+7 (701) 123-45-68", "8 701 123 45 69", "87011234570"]
    text = ("phone\n" if header else "") + "\n".join(phones) + "\n"
    table = read_table(corpus.write_text(tmp_path / "numbers.txt", text))
    rows = rows_of(table)
    assert [cells for _, cells in rows][-4:] == [[phone] for phone in phones]
    assert rows[-1][0] == len(phones) + header


def test_quoted_line_breaks_stay_in_the_cell_and_rows_count_records(tmp_path):
    # A spreadsheet program shows this file as three rows: row 2's cell spans lines
    text = 'phone,text\r\n77011234567,"line one\r\nline two\nline three"\r\n77011234568,x\r\n'
    rows = rows_of(read_table(corpus.write_text(tmp_path / "r.csv", text)))
    assert rows == [
        (1, ["phone", "text"]),
        (2, ["77011234567", "line one\r\nline two\nline three"]),
        (3, ["77011234568", "x"]),
    ]


@pytest.mark.parametrize("ending", ["\r\n", "\n", "\r"], ids=["CRLF", "LF", "CR"])
def test_every_line_ending_reads_the_same(tmp_path, ending):
    text = corpus.recipients_text().replace("\r\n", ending)
    assert rows_of(read_table(corpus.write_text(tmp_path / "r.csv", text))) == EXPECTED_RU


def test_a_crlf_split_between_read_chunks_is_one_line_end(tmp_path):
    # Given a header of 5 bytes and rows of 20 bytes, a row's \r is the last
    # byte of the first read chunk and its \n the first of the next
    row = "77011234567,abcdef\r\n"
    count = 30_000
    path = corpus.write_text(tmp_path / "r.csv", "abc\r\n" + row * count)
    data = path.read_bytes()
    assert data[textfile.CHUNK_BYTES - 1 : textfile.CHUNK_BYTES + 1] == b"\r\n"
    # Then no blank row appears and the numbers run on
    rows = rows_of(read_table(path))
    assert len(rows) == count + 1
    assert rows[-1] == (count + 1, ["77011234567", "abcdef"])


def test_blank_lines_are_skipped_but_keep_their_numbers(tmp_path):
    text = "phone\n\n77011234567\n\n\n77011234568\n"
    rows = rows_of(read_table(corpus.write_text(tmp_path / "r.csv", text)))
    assert rows == [(1, ["phone"]), (3, ["77011234567"]), (6, ["77011234568"])]


def test_unicode_line_separators_inside_cells_are_data(tmp_path):
    # str.splitlines would break at these; csv (and a spreadsheet) do not
    text = "phone,name\n77011234567,a\x0bb\x1cc\u2028d\x85e\n77011234568,f\n"
    rows = rows_of(read_table(corpus.write_text(tmp_path / "r.csv", text)))
    assert rows == [
        (1, ["phone", "name"]),
        (2, ["77011234567", "a\x0bb\x1cc\u2028d\x85e"]),
        (3, ["77011234568", "f"]),
    ]


# --- malformed text


def test_a_nul_byte_names_its_row(tmp_path):
    text = corpus.recipients_text(40).replace("77011234580", "7701123\x004580")
    error = refusal(corpus.write_text(tmp_path / "recipients.csv", text))
    assert str(error) == (
        "recipients.csv, row 22: contains a NUL byte: binary data, or the wrong encoding"
    )


def test_a_huge_cell_is_refused_at_its_row(tmp_path):
    # Given a quoted cell of short lines, longer in all than any cell may be
    limit = textfile.MAX_CELL_CHARS
    huge = ("x" * 99 + "\n") * (limit // 100 + 1)
    text = f'phone,note\n77011234567,ok\n77011234568,"{huge}"\n77011234569,ok\n'
    error = refusal(corpus.write_text(tmp_path / "r.csv", text))
    assert error.row == 3
    assert str(error) == (
        f'r.csv, row 3: a cell is longer than {limit:,} characters (is a " quote left open?)'
    )


def test_a_quote_left_open_in_a_large_file_stops_at_the_cell_limit(tmp_path):
    rows = [f"7701{1000000 + n},name {n}" for n in range(120_000)]
    rows[10] = '77011234567,"Иван'
    error = refusal(corpus.write_text(tmp_path / "r.csv", "\n".join(rows)))
    assert error.row == 11
    assert "is a \" quote left open?" in error.reason


def test_the_cell_limit_holds_whatever_another_module_set(tmp_path):
    csv.field_size_limit(10**9)
    test_a_huge_cell_is_refused_at_its_row(tmp_path)
    assert csv.field_size_limit() == textfile.MAX_CELL_CHARS


def test_a_runaway_line_is_refused_before_it_fills_memory(tmp_path):
    # no line end at all for longer than any row can be (a cell limit alone
    # would let the whole line be read into memory first)
    path = tmp_path / "r.csv"
    path.write_bytes(b"phone\n" + b"7;" * (textfile.MAX_LINE_CHARS // 2 + textfile.CHUNK_BYTES))
    error = refusal(path)
    assert str(error) == f"r.csv, row 2: a line is longer than {textfile.MAX_LINE_CHARS:,} characters"


def test_an_unterminated_quote_at_the_end_names_the_row_it_opens(tmp_path):
    text = 'phone,name\n77011234567,"Иван\n77011234568,Ержан\n'
    error = refusal(corpus.write_text(tmp_path / "r.csv", text))
    assert str(error) == 'r.csv, row 2: a " quote opened in this row is never closed'


def test_text_after_a_closing_quote_is_refused_with_the_fix(tmp_path):
    text = 'phone,name\n77011234567,"Иван" Петров\n'
    error = refusal(corpus.write_text(tmp_path / "r.csv", text))
    assert str(error) == (
        'r.csv, row 2: text follows a closing " quote; quote the whole cell '
        'and double the " quotes inside it'
    )


@pytest.mark.parametrize(
    "content", [b"", b"\n\r\n  \n", codecs.BOM_UTF8, codecs.BOM_UTF16_LE],
    ids=["no bytes", "blank lines", "utf-8 mark only", "utf-16 mark only"],
)
def test_an_empty_file_is_refused(tmp_path, content):
    path = tmp_path / "recipients.csv"
    path.write_bytes(content)
    error = refusal(path)
    assert str(error) == "recipients.csv: the file is empty"


def test_binary_junk_is_not_a_table(tmp_path):
    path = tmp_path / "photo.csv"
    # a fixed pseudo-random byte string (reproducible; every byte value occurs)
    path.write_bytes(bytes((n * 197 + 89) % 256 for n in range(20_000)))
    assert str(refusal(path)) == "photo.csv: not a CSV, XLS or XLSX file (it holds binary data)"


def test_an_html_page_saved_as_xls_is_explained(tmp_path):
    path = corpus.write_text(
        tmp_path / "export.xls", "<html><body><table><tr><td>77011234567</td></tr></table>"
    )
    assert "an HTML or XML page" in str(refusal(path))


def test_text_in_an_unsupported_multibyte_encoding_is_refused(tmp_path):
    text = "電話,名前\n" + "".join(f"7701123456{n},山田太郎さんの電話番号です\n" for n in range(50))
    path = corpus.write_text(tmp_path / "r.csv", text, "shift_jis")
    error = refusal(path)
    assert error.reason.startswith("the text looks like ")
    assert error.reason.endswith(
        "which is not in a supported encoding; save it as UTF-8 or give its encoding"
    )
    # and naming the encoding reads it
    assert rows_of(read_table(path, encoding="shift_jis"))[0] == (1, ["電話", "名前"])


# --- spreadsheets

SPREADSHEET = [
    (None, None, None, None),  # a blank first row
    (None, "phone", "name", "joined"),  # data from column B
    (None, 77011234567.0, "Иванов Иван", datetime.datetime(2024, 1, 31)),
    (None, 77011234568, "Ким Виктория", datetime.datetime(2024, 2, 1, 10, 5)),
    (None, None, None, None),
    (None, 0.25, True, None, None),
    (None, 1.5e-05, "тек,ст", datetime.date(2023, 12, 1)),
]
SPREADSHEET_ROWS = [
    (2, ["", "phone", "name", "joined"]),
    (3, ["", "77011234567", "Иванов Иван", "2024-01-31"]),
    (4, ["", "77011234568", "Ким Виктория", "2024-02-01 10:05:00"]),
    (6, ["", "0.25", "TRUE"]),
    (7, ["", "0.000015", "тек,ст", "2023-12-01"]),
]


@pytest.mark.parametrize("engine", ["calamine", "openpyxl"])
def test_xlsx_reads_the_same_through_each_engine(tmp_path, engine):
    path = corpus.write_xlsx(tmp_path / "r.xlsx", {"Клиенты": SPREADSHEET, "Other": [("x",)]})
    table = read_table(path, excel_engine=engine)
    assert (table.kind, table.sheet, table.encoding, table.delimiter) == (
        "xlsx", "Клиенты", None, None,
    )
    assert rows_of(table) == SPREADSHEET_ROWS


@pytest.mark.parametrize("engine", ["calamine", "xlrd"])
def test_xls_reads_the_same_through_each_engine(tmp_path, engine):
    path = corpus.write_xls(tmp_path / "r.xls", {"Клиенты": SPREADSHEET, "Other": [("x",)]})
    table = read_table(path, excel_engine=engine)
    assert (table.kind, table.sheet) == ("xls", "Клиенты")
    assert rows_of(table) == SPREADSHEET_ROWS


def test_all_engines_agree_on_phones_stored_as_numbers(tmp_path):
    rows = [("phone",), *[(77011234567.0 + n,) for n in range(50)], (7.70112e10,)]
    xlsx = corpus.write_xlsx(tmp_path / "r.xlsx", {"S": rows})
    xls = corpus.write_xls(tmp_path / "r.xls", {"S": rows})
    results = {
        (path.suffix, engine): rows_of(read_table(path, excel_engine=engine))
        for path in (xlsx, xls)
        for engine in EXCEL_ENGINES
        if (path.suffix, engine) not in ((".xls", "openpyxl"), (".xlsx", "xlrd"))
    }
    expected = [(1, ["phone"])] + [(n + 2, [str(77011234567 + n)]) for n in range(50)]
    # a number whose digits were lost to scientific notation stays what it is
    expected.append((52, ["77011200000"]))
    assert len(results) == 4
    for result in results.values():
        assert result == expected


def test_formulas_read_as_their_cached_values(tmp_path):
    path = corpus.write_xlsx_with_cached_formulas(tmp_path / "f.xlsx")
    for engine in ("calamine", "openpyxl"):
        assert rows_of(read_table(path, excel_engine=engine)) == [
            (1, ["name", "phone"]),
            (2, ["a", "77011234567"]),
            (3, ["b", "77011234568"]),
        ], engine


def test_an_error_cell_is_empty_in_every_engine(tmp_path):
    path = corpus.write_xlsx(tmp_path / "e.xlsx", {"S": [("phone", "x"), ("77011234567", "=NA()")]})
    corpus.rewrite_zip_member(
        path, "xl/worksheets/sheet1.xml",
        lambda xml: xml.replace('<c r="B2"><f>NA()</f><v />', '<c r="B2" t="e"><f>NA()</f><v>#N/A</v>'),
    )
    for engine in ("calamine", "openpyxl"):
        assert rows_of(read_table(path, excel_engine=engine))[1] == (2, ["77011234567"]), engine


@pytest.mark.parametrize(
    "choice, expected", [("Second", "Second"), ("second", "Second"), ("2", "Second"), ("1", "First")]
)
@pytest.mark.parametrize("engine", EXCEL_ENGINES)
def test_a_sheet_is_chosen_by_name_or_position(tmp_path, engine, choice, expected):
    sheets = {"First": [("a",)], "Second": [("phone",), ("77011234567",)]}
    write = corpus.write_xls if engine == "xlrd" else corpus.write_xlsx
    path = write(tmp_path / ("r.xls" if engine == "xlrd" else "r.xlsx"), sheets)
    table = read_table(path, sheet=choice, excel_engine=engine)
    assert table.sheet == expected
    assert rows_of(table)[0][1] == (["a"] if expected == "First" else ["phone"])


def test_an_unknown_sheet_lists_the_sheets(tmp_path):
    path = corpus.write_xlsx(tmp_path / "r.xlsx", {"First": [("a",)], "Лист 2": [("b",)]})
    with pytest.raises(FileRefused) as caught:
        read_table(path, sheet="Data")
    assert str(caught.value) == "r.xlsx: no sheet 'Data'; the sheets are: 1 'First', 2 'Лист 2'"
    with pytest.raises(FileRefused):
        read_table(path, sheet="3")


def test_an_empty_sheet_has_no_rows(tmp_path):
    path = corpus.write_xlsx(tmp_path / "r.xlsx", {"Empty": [], "Data": [("a",)]})
    for engine in ("calamine", "openpyxl"):
        assert rows_of(read_table(path, excel_engine=engine)) == []


def test_ods_reads_through_calamine_only(tmp_path):
    path = corpus.write_ods(tmp_path / "r.ods", [("phone", "name"), (77011234567.0, "Айгерим")])
    table = read_table(path)
    assert (table.kind, table.sheet) == ("ods", "Лист1")
    assert rows_of(table) == [(1, ["phone", "name"]), (2, ["77011234567", "Айгерим"])]
    error = refusal(path, excel_engine="openpyxl")
    assert str(error) == (
        "r.ods: this is an ODS file, which the openpyxl engine cannot read; use calamine"
    )


def test_an_engine_that_cannot_read_the_kind_says_which_can(tmp_path):
    xls = corpus.write_xls(tmp_path / "r.xls", {"S": [("a",)]})
    assert str(refusal(xls, excel_engine="openpyxl")) == (
        "r.xls: this is an XLS file, which the openpyxl engine cannot read; use calamine or xlrd"
    )
    xlsx = corpus.write_xlsx(tmp_path / "r.xlsx", {"S": [("a",)]})
    assert str(refusal(xlsx, excel_engine="xlrd")) == (
        "r.xlsx: this is an XLSX file, which the xlrd engine cannot read; use calamine or openpyxl"
    )


def test_an_unknown_engine_is_refused(tmp_path):
    path = corpus.write_text(tmp_path / "r.csv", "phone\n1\n")
    assert str(refusal(path, excel_engine="pandas")) == (
        "r.csv: unknown Excel engine 'pandas'; choose one of calamine, openpyxl, xlrd"
    )


# --- kinds by content


@pytest.mark.parametrize("engine", ["calamine", "openpyxl"])
def test_an_xlsx_named_csv_reads_as_xlsx(tmp_path, engine):
    real = corpus.write_xlsx(tmp_path / "real.xlsx", {"S": [("phone",), (77011234567.0,)]})
    path = tmp_path / "recipients.csv"
    real.rename(path)
    table = read_table(path, excel_engine=engine)
    assert table.kind == "xlsx"
    assert rows_of(table) == [(1, ["phone"]), (2, ["77011234567"])]


def test_a_csv_named_xlsx_reads_as_csv(tmp_path):
    path = corpus.write_text(tmp_path / "recipients.xlsx", corpus.recipients_text(), "cp1251")
    table = read_table(path)
    assert (table.kind, table.encoding) == ("csv", "windows-1251")
    assert rows_of(table) == EXPECTED_RU


@pytest.mark.parametrize("engine", ["calamine", "xlrd"])
def test_an_xls_named_xlsx_reads_as_xls(tmp_path, engine):
    path = corpus.write_xls(tmp_path / "r.xlsx", {"S": [("phone",), (77011234567.0,)]})
    table = read_table(path, excel_engine=engine)
    assert table.kind == "xls"
    assert rows_of(table) == [(1, ["phone"]), (2, ["77011234567"])]


def test_an_ods_named_xlsx_reads_as_ods(tmp_path):
    path = corpus.write_ods(tmp_path / "r.xlsx", [("phone",), (77011234567.0,)])
    table = read_table(path)
    assert table.kind == "ods"
    assert rows_of(table) == [(1, ["phone"]), (2, ["77011234567"])]


def test_a_truncated_xlsx_is_refused(tmp_path):
    whole = corpus.write_xlsx(tmp_path / "whole.xlsx", {"S": [("phone",), (77011234567.0,)]})
    path = tmp_path / "recipients.xlsx"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    error = refusal(path)
    assert error.reason.startswith(
        "not a readable XLSX file: the archive is damaged or truncated"
    )


def test_a_damaged_sheet_inside_a_sound_archive_is_refused(tmp_path):
    path = corpus.write_xlsx(tmp_path / "r.xlsx", {"S": [("phone",)]})
    corpus.rewrite_zip_member(path, "xl/worksheets/sheet1.xml", lambda xml: xml[: len(xml) // 2])
    for engine in ("calamine", "openpyxl"):
        error = refusal(path, excel_engine=engine)
        assert error.reason.startswith("not a readable XLSX file ("), engine


def test_a_zip_without_a_spreadsheet_is_refused(tmp_path):
    path = tmp_path / "recipients.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("recipients.csv", "phone\n77011234567\n")
    assert str(refusal(path)) == (
        "recipients.xlsx: a ZIP archive that holds no spreadsheet (not XLSX or ODS); unzip it first"
    )


def test_a_zip_bomb_is_refused_before_it_is_parsed(tmp_path):
    # Given an XLSX whose sheet part inflates 200 MiB of zeros from about 1 MiB
    path = corpus.write_zip_bomb(tmp_path / "bomb.xlsx", inflated_mib=200)
    assert path.stat().st_size < 2 * 1024 * 1024
    # Then it is refused for its ratio; had it been parsed, the zeros (not XML)
    # would have failed with "not a readable XLSX file" instead
    error = refusal(path)
    assert error.reason.startswith(
        "refused unread: part xl/worksheets/sheet1.xml inflates "
    )
    assert error.reason.endswith("more than the 100 times allowed; it looks like a zip bomb")


def test_parts_inflating_beyond_the_total_limit_are_refused(tmp_path):
    path = corpus.write_xlsx(tmp_path / "r.xlsx", {"S": [("phone",)] * 100})
    error = refusal(path, limits=Limits(max_inflated_bytes=1000))
    assert error.reason.startswith("refused unread: the XLSX parts inflate to ")
    assert error.reason.endswith("more than the 1000 bytes limit")


# --- limits


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path):
    path = corpus.write_text(tmp_path / "r.csv", "phone\n" + "77011234567\n" * 200)
    error = refusal(path, limits=Limits(max_file_bytes=1024))
    assert str(error) == "r.csv: the file is 2.3 KiB, more than the 1.0 KiB limit"


@pytest.mark.parametrize("kind", ["csv", "xlsx", "xls"])
def test_more_rows_than_the_limit_are_refused(tmp_path, kind):
    rows = [("phone",)] + [(f"7701123{n:04d}",) for n in range(20)]
    if kind == "csv":
        path = corpus.write_text(tmp_path / "r.csv", "\n".join(r[0] for r in rows) + "\n\n\n")
    elif kind == "xlsx":
        path = corpus.write_xlsx(tmp_path / "r.xlsx", {"S": rows})
    else:
        path = corpus.write_xls(tmp_path / "r.xls", {"S": rows})
    # exactly at the limit reads (trailing blank lines do not count)
    assert len(rows_of(read_table(path, limits=Limits(max_rows=21)))) == 21
    table = read_table(path, limits=Limits(max_rows=20))
    with pytest.raises(FileRefused) as caught:
        for _ in table.rows:
            pass
    assert str(caught.value) == f"r.{kind}: more than 20 rows (the limit)"


def test_limits_come_from_settings():
    settings = Settings().with_(max_file_bytes=10, max_rows=20, max_inflate_ratio=30,
                                max_inflated_bytes=40)
    assert Limits.from_settings(settings) == Limits(10, 20, 30, 40)
    assert Limits.from_settings(Settings()) == Limits()


# --- the refusal itself


def test_a_refusal_is_one_line_naming_the_file_only_by_its_name():
    error = FileRefused("/srv/uploads/secret-dir/list.csv", "bad\nthing  here", row=4)
    assert str(error) == "list.csv, row 4: bad thing here"
    assert (error.file, error.reason, error.row) == ("list.csv", "bad thing here", 4)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.file, copy.reason, copy.row) == (error.file, error.reason, error.row)
    assert str(FileRefused("a.csv", "x" * 1000)).endswith("…")


def test_a_missing_file_is_refused(tmp_path):
    assert str(refusal(tmp_path / "nowhere.csv")) == "nowhere.csv: no such file"


def test_rows_not_read_to_the_end_leave_no_file_open(tmp_path):
    # filterwarnings=error turns an unclosed file (ResourceWarning) into a failure
    path = corpus.write_text(tmp_path / "r.csv", corpus.recipients_text())
    xlsx = corpus.write_xlsx(tmp_path / "r.xlsx", {"S": SPREADSHEET})
    read_table(path)  # never iterated
    read_table(xlsx, excel_engine="openpyxl")
    table = read_table(xlsx, excel_engine="openpyxl")
    assert next(table.rows)[0] == 2
    table.rows.close()
    table = read_table(path)
    assert next(table.rows)[0] == 1
    del table


@pytest.mark.parametrize("content", [b"\xe9", b"+77011234567\n\xe9", b"+77011234567\r\n\xd0"])
def test_a_file_ending_in_half_a_character_is_refused_naming_its_row(tmp_path, content):
    # Given a file whose last byte starts a UTF-8 character that never ends (found by fuzzing:
    # the decoder's final chunk was empty and the line splitter indexed into it)
    path = tmp_path / "cut.csv"
    path.write_bytes(content)
    # When it is read, Then it is refused in one line naming the file and the row
    with pytest.raises(FileRefused) as refused:
        list(read_table(path).rows)
    message = str(refused.value)
    assert message.startswith("cut.csv, row ") and "cannot be decoded" in message and "\n" not in message


@pytest.mark.parametrize("offset, value", [(0x30, b"\xff\xff\xff\x7f"), (0x4C, b"\x05\x00\x00\x00")])
def test_a_damaged_xls_structure_is_refused_before_calamine_reads_it(tmp_path, offset, value):
    # Given an XLS whose compound-file header is damaged (fuzzing found damaged sector tables
    # that made calamine allocate 4 GiB and abort the whole process)
    good = tmp_path / "good.xls"
    corpus.write_xls(good, {"s": [["phone"], ["+77011234567"]]})
    data = bytearray(good.read_bytes())
    data[offset : offset + len(value)] = value
    path = tmp_path / "damaged.xls"
    path.write_bytes(bytes(data))
    # When it is read with the default engine, Then it is refused in one line
    with pytest.raises(FileRefused, match=r"^damaged.xls: not a readable XLS file \(damaged: "):
        list(read_table(path).rows)
