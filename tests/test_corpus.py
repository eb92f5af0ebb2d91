"""A corpus of malformed and unusual recipient files, each run through the real
``campaigns validate --json``: the exit code, the counts and the message a person reads.

Every file is generated into ``tmp_path`` (builders here and in tests/corpus.py). Exit 0:
the file can be sent; 1: refused as a whole, one line on stderr; never a traceback.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
from typer.testing import CliRunner

from campaigns.cli import _register, app
from tests import corpus

NAMES = ("Иван", "Айгерим", "Ержан")


@pytest.fixture(scope="module")
def cli():
    if not any(command.name == "validate" for command in app.registered_commands):
        _register()
    runner = CliRunner()

    def run(*args: str, env: dict | None = None):
        result = runner.invoke(app, ["validate", *args], env=env)
        assert "Traceback" not in result.stdout + result.stderr
        assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
        return result

    return run


def phone(i: int) -> str:
    return f"+7701{i:07d}"


def lines(*rows: str) -> str:
    return "\r\n".join(rows) + "\r\n"


def text_file(name: str, text: str, encoding: str = "utf-8", bom: bytes = b"") -> Callable[[Path], Path]:
    return lambda tmp: corpus.write_text(tmp / name, text, encoding, bom=bom)


def raw_file(name: str, data: bytes) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(data)
        return path

    return build


def xlsx(name: str, rows) -> Callable[[Path], Path]:
    return lambda tmp: corpus.write_xlsx(tmp / name, {"Лист1": rows})


def truncated_xlsx(tmp: Path) -> Path:
    path = corpus.write_xlsx(tmp / "cut.xlsx", {"Sheet": [("phone",), *[(phone(i),) for i in range(200)]]})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def binary_junk(tmp: Path) -> Path:
    path = tmp / "junk.csv"
    path.write_bytes(random.Random(7).randbytes(20_000))
    return path


def formulas(tmp: Path) -> Path:
    return corpus.write_xlsx_with_cached_formulas(tmp / "formulas.xlsx")


def ods(tmp: Path) -> Path:
    return corpus.write_ods(tmp / "r.ods", [("phone", "name"), (77011234567.0, "Иван"), ("87011234568", "Ержан")])


def xls(tmp: Path) -> Path:
    return corpus.write_xls(tmp / "r.xls", {"Sheet1": [("phone", "name"), (77011234567.0, "a"), ("bad", "b")]})


def zip_bomb(tmp: Path) -> Path:
    return corpus.write_zip_bomb(tmp / "bomb.xlsx", inflated_mib=120)


def not_a_spreadsheet_zip(tmp: Path) -> Path:
    path = tmp / "archive.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    return path


@dataclass
class Case:
    build: Callable[[Path], Path]
    exit: int
    counts: dict = field(default_factory=dict)  # expected values of top-level report keys
    message: str = ""  # in stderr when refused, else in the JSON's text
    args: tuple = ()
    text: str = "Hello"
    env: dict = field(default_factory=dict)
    file: dict = field(default_factory=dict)  # expected values in report["file"]


RU = lines("Телефон;Имя", *(f"{phone(i)};{NAMES[i % 3]}" for i in range(3)), "нет номера;Иван")
COUNTS_RU = {"rows": 4, "valid": 3, "invalid": 1, "duplicates": 0}

CASES = {
    "empty file": Case(raw_file("empty.csv", b""), 1, message="empty.csv: the file is empty"),
    "only blank lines": Case(text_file("blank.csv", "\r\n \r\n\t\r\n"), 1, message="blank.csv: the file is empty"),
    "header only": Case(
        text_file("header.csv", "phone;name\r\n"), 1, {"rows": 0, "valid": 0},
        message="header.csv: no recipients: the file has a header row and no data rows", text="Hi {name}",
    ),
    "binary junk": Case(binary_junk, 1, message="junk.csv: not a CSV, XLS or XLSX file"),
    "truncated xlsx": Case(truncated_xlsx, 1, message="cut.xlsx: "),
    "zip bomb": Case(zip_bomb, 1, message="zip bomb"),
    "zip without a spreadsheet": Case(not_a_spreadsheet_zip, 1, message="archive.xlsx: "),
    "xlsx named .csv": Case(
        xlsx("really-xlsx.csv", [("phone", "name"), (phone(1), "a"), (77010000002, "b")]), 0,
        {"rows": 2, "valid": 2}, file={"kind": "xlsx"},
    ),
    "csv named .xlsx": Case(
        text_file("really-csv.xlsx", lines("phone", phone(1), phone(2))), 0, {"rows": 2, "valid": 2},
        file={"kind": "csv"},
    ),
    "html saved as xls": Case(
        text_file("export.xls", "<html><body><table><tr><td>phone</td></tr></table></body></html>"), 1,
        message="it is an HTML or XML page",
    ),
    "utf-8 with bom": Case(
        text_file("bom8.csv", RU, "utf-8", b"\xef\xbb\xbf"), 0, COUNTS_RU,
        file={"encoding": "utf-8", "phone_column": "Телефон"},
    ),
    "utf-8 without bom": Case(text_file("utf8.csv", RU, "utf-8"), 0, COUNTS_RU, file={"encoding": "utf-8"}),
    "utf-16 le with bom": Case(text_file("u16le.csv", RU, "utf-16-le", b"\xff\xfe"), 0, COUNTS_RU,
                               file={"phone_column": "Телефон"}),
    "utf-16 be with bom": Case(text_file("u16be.csv", RU, "utf-16-be", b"\xfe\xff"), 0, COUNTS_RU,
                               file={"phone_column": "Телефон"}),
    "windows-1251": Case(text_file("cp1251.csv", RU, "cp1251"), 0, COUNTS_RU, file={"encoding": "windows-1251"}),
    "koi8-r": Case(text_file("koi8.csv", RU, "koi8-r"), 0, COUNTS_RU, file={"encoding": "koi8-r"}),
    "cp866": Case(text_file("cp866.csv", RU, "cp866"), 0, COUNTS_RU, file={"encoding": "cp866"}),
    "windows-1252 forced": Case(
        text_file("cp1252.csv", lines("phone,name", f"{phone(1)},José Müller", "n/a,François")), 0,
        {"rows": 2, "valid": 1, "invalid": 1}, args=("--encoding", "windows-1252"),
    ),
    "iso-8859-1 forced": Case(
        text_file("latin1.csv", lines("phone,name", f"{phone(1)},Åsa Ñúñez"), "iso-8859-1"), 0,
        {"rows": 1, "valid": 1}, args=("--encoding", "iso-8859-1"),
    ),
    "ascii": Case(text_file("ascii.csv", lines("msisdn", phone(1), phone(2), phone(1)), "ascii"), 0,
                  {"rows": 3, "valid": 2, "duplicates": 1}),
    "undecodable bytes": Case(
        raw_file("bad-utf8.csv", lines("phone", phone(1), phone(2)).encode() + b"\xff\xfe\xfa\r\n"), 1,
        message="bad-utf8.csv, row 4: cannot be decoded as utf-8", args=("--encoding", "utf-8"),
    ),
    "nul bytes": Case(
        raw_file("nul.csv", lines("phone", *(phone(i) for i in range(300))).encode() + b"+7701\x00\x00\r\n"), 1,
        message="nul.csv, row 302: contains a NUL byte",
    ),
    "nul bytes only": Case(raw_file("zeros.csv", bytes(5000)), 1, message="zeros.csv: not a CSV, XLS or XLSX file"),
    "huge cell": Case(
        text_file("huge.csv", lines("phone,name", f"{phone(1)},a", f"{phone(2)},\"{'x' * 1_200_000}\"")), 1,
        message="huge.csv, row 3: a cell is longer than 1,048,576 characters",
    ),
    "large cell within the limits": Case(
        text_file("large.csv", lines("phone,name", f"{phone(1)},\"{'x' * 200_000}\"")), 0, {"valid": 1},
    ),
    "unterminated quote": Case(
        text_file("quote.csv", lines("phone,name", f"{phone(1)},a", f'{phone(2)},"never closed', f"{phone(3)},c")),
        1, message="quote.csv, row 3: a \" quote opened in this row is never closed",
    ),
    "quoted line breaks": Case(
        text_file("multiline.csv", lines("phone,note", f'{phone(1)},"line one\r\nline two"', "bad,x")), 0,
        {"rows": 2, "valid": 1, "invalid": 1, "problems": [{"row": 3, "phone": "bad", "reason": "not a number"}]},
    ),
    "cr line ends": Case(text_file("cr.csv", "phone\r" + "\r".join([phone(1), phone(2)]) + "\r"), 0,
                         {"rows": 2, "valid": 2}),
    "lf line ends, tab delimited": Case(
        text_file("tab.tsv", "name\tphone\nAnn\t" + phone(1) + "\nBob\t" + phone(2) + "\n"), 0,
        {"rows": 2, "valid": 2}, file={"delimiter": "\t"},
    ),
    "single quotes, pipe delimited": Case(
        text_file("pipe.txt", lines("phone|name", f"{phone(1)}|'O''Brien, J'", f"{phone(2)}|'A|B'")), 0,
        {"rows": 2, "valid": 2}, file={"delimiter": "|"},
    ),
    "duplicate headers": Case(
        text_file("dup.csv", lines("phone;name;name", f"{phone(1)};a;b")), 1,
        message="dup.csv, row 1: duplicate column header 'name' (columns 2 and 3)", text="Hi {name}",
    ),
    "no phone column": Case(
        text_file("nophone.csv", lines("name;city", "Ann;Almaty")), 1,
        message="nophone.csv, row 1: no phone column: the header row has 'name', 'city'", text="Hi {name}",
    ),
    "float phones in xlsx": Case(
        xlsx("floats.xlsx", [("phone",), (77011234567.0,), (77011234568,), ("77011234569.0",)]), 0,
        {"rows": 3, "valid": 3},
    ),
    "scientific notation phones": Case(
        text_file("sci.csv", lines("phone", "7.70112E+10", '"7,70112E+10"', phone(1))), 0,
        {"rows": 3, "valid": 1, "invalid": 2, "invalid_by_reason": {"scientific notation, digits lost": 2}},
    ),
    "formulas with cached values": Case(formulas, 0, {"rows": 2, "valid": 2}),
    "formula injection cells": Case(
        text_file("inject.csv", lines("phone,name", "=HYPERLINK(\"http://x\"),a", f"{phone(1)},=1+1")), 0,
        {"rows": 2, "valid": 1, "invalid": 1},
    ),
    "xls": Case(xls, 0, {"rows": 2, "valid": 1, "invalid": 1}, file={"kind": "xls"}),
    "ods": Case(ods, 0, {"rows": 2, "valid": 2}, args=("--country", "KZ"), file={"kind": "ods"}),
    "unknown sheet": Case(
        xlsx("sheets.xlsx", [("phone",), (phone(1),)]), 1, args=("--sheet", "Contacts"),
        message="sheets.xlsx: no sheet 'Contacts'; the sheets are: 1 'Лист1'",
    ),
    "wrong engine for the kind": Case(
        xlsx("engine.xlsx", [("phone",), (phone(1),)]), 1, args=("--excel-engine", "xlrd"),
        message="engine.xlsx: this is an XLSX file, which the xlrd engine cannot read",
    ),
    "national numbers with a country": Case(
        text_file("national.csv", lines("телефон", "8 (701) 123-45-67", "8 701 123 45 67", "701 123 4568")), 0,
        {"rows": 3, "valid": 2, "duplicates": 1}, args=("--country", "KZ"),
    ),
    "numbers one per line, no header": Case(
        text_file("list.txt", lines(phone(1), phone(2), "123")), 0, {"rows": 3, "valid": 2, "invalid": 1},
        file={"header_row": None},
    ),
    "no valid recipient": Case(
        text_file("none.csv", lines("phone", "abc", "12")), 1, {"rows": 2, "valid": 0, "invalid": 2},
        message="none.csv: no valid recipients among 2 rows",
    ),
    "more rows than the limit": Case(
        text_file("long.csv", lines("phone", *(phone(i) for i in range(10)))), 1,
        message="long.csv: more than 5 rows (the limit)", env={"CAMPAIGNS_MAX_ROWS": "5"},
    ),
    "larger than the size limit": Case(
        text_file("big.csv", lines("phone", *(phone(i) for i in range(10)))), 1,
        message="big.csv: the file is", env={"CAMPAIGNS_MAX_FILE_BYTES": "50"},
    ),
    "placeholder named recipient": Case(
        text_file("rcpt.csv", lines("phone", phone(1))), 1, text="Your number: {recipient}",
        message="placeholder {recipient} in the text is not allowed",
    ),
    "placeholder missing with reject": Case(
        text_file("reject.csv", lines("phone;name", f"{phone(1)};a")), 1, text="Hi {name} {code}",
        args=("--placeholders", "reject"), message="no column for placeholder {code} (--placeholders reject)",
    ),
    "placeholder missing with keep": Case(
        text_file("keep.csv", lines("phone;name", f"{phone(1)};a")), 0, {"valid": 1}, text="Hi {name} {code}",
        message="{code} has no column in the file: it stays in the text as written",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_corpus(cli, tmp_path, name):
    case = CASES[name]
    path = case.build(tmp_path)
    result = cli(str(path), "--text", case.text, "--json", *case.args, env=case.env)
    assert result.exit_code == case.exit, (result.stdout, result.stderr)
    report = json.loads(result.stdout)
    assert set(report) >= {"rows", "valid", "invalid", "duplicates", "sendable", "refusal", "file"}
    for key, expected in case.counts.items():
        assert report[key] == expected, key
    for key, expected in case.file.items():
        assert report["file"][key] == expected, key
    if case.exit == 0:
        assert report["sendable"] is True and report["refusal"] is None
        assert result.stderr == ""
        assert case.message in result.stdout
    else:
        assert report["sendable"] is False
        # one line a person reads, naming the file
        assert result.stderr.startswith(f"error: {path.name}")
        assert result.stderr.count("\n") == 1
        assert case.message in result.stderr


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 25


def test_decoded_text_reaches_the_report(cli, tmp_path):
    # The phone cell of an invalid row is shown as given: proof the bytes were decoded right.
    for codec in ("cp1251", "koi8-r", "cp866", "utf-16"):
        path = corpus.write_text(tmp_path / f"{codec}.csv", RU, codec)
        report = json.loads(cli(str(path), "--text", "Hi", "--json").stdout)
        assert report["problems"] == [{"row": 5, "phone": "нет номера", "reason": "not a number"}], codec


@pytest.mark.parametrize(
    "name", ["binary junk", "truncated xlsx", "unterminated quote", "duplicate headers", "header only"]
)
def test_the_installed_command_never_prints_a_traceback(tmp_path, name):
    case = CASES[name]
    path = case.build(tmp_path)
    command = [sys.executable, "-c", "from campaigns.cli import main; main()", "validate", str(path), "--text", case.text]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == case.exit
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {path.name}")
