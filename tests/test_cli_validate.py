"""``campaigns validate``: the report for people and as JSON, --rejects-out, exit codes
(0 sendable, 1 refused, 2 usage errors), never a traceback."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from campaigns.cli import _register, app


@pytest.fixture(scope="module")
def cli():
    if not any(command.name == "validate" for command in app.registered_commands):
        _register()
    runner = CliRunner()

    def run(*args: str):
        result = runner.invoke(app, ["validate", *args], env={"COLUMNS": "120"})
        assert "Traceback" not in result.stdout + result.stderr
        return result

    return run


@pytest.fixture
def recipients(tmp_path) -> Path:
    path = tmp_path / "list.csv"
    path.write_text(
        "phone;name\r\n"
        "+77010000001;Ann\r\n"
        "=cmd|' /C calc'!A0;Bob\r\n"  # a formula where a phone should be
        "8 701 000 00 01;@Cy\r\n"  # the same number as row 2 in national format
        "+77010000002;-Dee\r\n"
        "12;\tEve\r\n",
        encoding="utf-8",
    )
    return path


def test_the_report_for_people(cli, recipients):
    result = cli(str(recipients), "--text", "Hi {name}, {code}", "--country", "KZ")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "list.csv: csv, utf-8, delimiter ';', phones in column 'phone', header row 1" in out
    for line in ("rows", "valid", "invalid", "duplicates", "segments"):
        assert line in out
    assert "{code} has no column in the file: it stays in the text as written" in out
    assert "not a number" in out and "wrong length" in out
    assert "duplicate of row 2" in out
    assert "sendable: 2 recipients" in out


def test_the_report_as_json(cli, recipients):
    result = cli(str(recipients), "--text", "Hi {name}", "--country", "KZ", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert (report["rows"], report["valid"], report["invalid"], report["duplicates"]) == (5, 2, 2, 1)
    assert report["invalid_by_reason"] == {"not a number": 1, "wrong length": 1}
    assert report["placeholders"] == ["name"]
    assert report["segments"] == {"total": 2, "max_per_message": 1, "encoding": "GSM-7"}
    assert [p["row"] for p in report["problems"]] == [3, 4, 6]
    assert report["file"]["delimiter"] == ";"
    assert report["campaign_type"] == 3 and report["placeholders_flag"] == 1
    assert report["sendable"] is True and report["refusal"] is None


def test_placeholders_flag_follows_the_mode(cli, recipients):
    for mode, flag in (("keep", 1), ("strip", 2), ("reject", 3)):
        result = cli(str(recipients), "--text", "Hi {name}", "--json", "--placeholders", mode)
        assert json.loads(result.stdout)["placeholders_flag"] == flag


def test_rejects_out_neutralizes_formulas(cli, recipients, tmp_path):
    out = tmp_path / "rejects.csv"
    result = cli(str(recipients), "--text", "Hi {name}", "--country", "KZ", "--rejects-out", str(out))
    assert result.exit_code == 0
    with open(out, encoding="utf-8-sig", newline="") as file:
        rows = list(csv.reader(file))
    assert rows == [
        ["row", "phone as given", "reason", "phone", "name"],
        ["3", "'=cmd|' /C calc'!A0", "not a number", "'=cmd|' /C calc'!A0", "Bob"],
        ["4", "8 701 000 00 01", "duplicate of row 2", "8 701 000 00 01", "'@Cy"],
        ["6", "12", "wrong length", "12", "'\tEve"],
    ]
    # No cell a spreadsheet would run: none starts with = + - @ or a tab.
    assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for row in rows for cell in row)


def test_rejects_out_is_removed_when_the_file_is_refused(cli, tmp_path):
    source = tmp_path / "dup.csv"
    source.write_text("phone;name;name\r\n+77010000001;a;b\r\n", encoding="utf-8")
    out = tmp_path / "rejects.csv"
    result = cli(str(source), "--text", "Hi", "--rejects-out", str(out))
    assert result.exit_code == 1
    assert not out.exists()


def test_refusal_is_one_line_on_stderr(cli, tmp_path):
    source = tmp_path / "names.csv"
    source.write_text("name;city\r\nAnn;Almaty\r\n", encoding="utf-8")
    result = cli(str(source), "--text", "Hi {name}")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: names.csv, row 1: no phone column: the header row has 'name', 'city'; name the phone "
        "column 'recipient' (or phone, number, msisdn, mobile, телефон, номер)\n"
    )
    assert result.stdout == ""


def test_refusal_as_json_is_one_object(cli, tmp_path):
    source = tmp_path / "names.csv"
    source.write_text("name;city\r\nAnn;Almaty\r\n", encoding="utf-8")
    result = cli(str(source), "--text", "Hi {name}", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["sendable"] is False
    assert report["refusal"].startswith("names.csv, row 1: no phone column")
    assert (report["rows"], report["valid"]) == (0, 0)


@pytest.mark.parametrize(
    "args, complaint",
    [
        (("--placeholders", "drop"), "'--placeholders'"),
        (("--country", "XX"), "'--country'"),
        (("--country", "Kazakhstan"), "'--country'"),
        (("--excel-engine", "pandas"), "'--excel-engine'"),
        (("--encoding", "no-such-codec"), "'--encoding'"),
        (("--text", "   "), "'--text'"),
    ],
)
def test_usage_errors_exit_2(cli, recipients, args, complaint):
    result = cli(str(recipients), "--text", "Hi", *args)
    assert result.exit_code == 2
    assert complaint in result.stderr


def test_missing_file_and_missing_text_exit_2(cli, recipients, tmp_path):
    assert cli(str(tmp_path / "nope.csv"), "--text", "Hi").exit_code == 2
    assert cli(str(tmp_path), "--text", "Hi").exit_code == 2  # a folder
    assert cli(str(recipients)).exit_code == 2


def test_rejects_out_must_not_be_the_input(cli, recipients):
    before = recipients.read_bytes()
    result = cli(str(recipients), "--text", "Hi", "--rejects-out", str(recipients))
    assert result.exit_code == 2
    assert "must not be the input file" in result.stderr
    assert recipients.read_bytes() == before
    relative = Path(recipients.parent.name) / ".." / recipients.parent.name / recipients.name
    result = cli(str(recipients), "--text", "Hi", "--rejects-out", str(recipients.parent / relative))
    assert result.exit_code == 2
    assert recipients.read_bytes() == before


def test_country_is_case_insensitive(cli, recipients):
    result = cli(str(recipients), "--text", "Hi", "--country", " kz ", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["valid"] == 2


def test_cells_cannot_restyle_the_terminal_and_long_ones_are_cut(cli, tmp_path):
    source = tmp_path / "esc.csv"
    source.write_text("phone\r\n\x1b[31mred\x1b[0m\r\n" + "9" * 300 + "\r\n+77010000001\r\n", encoding="utf-8")
    result = cli(str(source), "--text", "Hi")
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout
    assert "\ufffd[31mred" in result.stdout
    report = json.loads(cli(str(source), "--text", "Hi", "--json").stdout)
    assert report["problems"][0]["phone"] == "\x1b[31mred\x1b[0m"
    assert report["problems"][1]["phone"] == "9" * 79 + "…"
