"""Ingestion services: header and phone column, per-row verdicts, duplicates, placeholders,
segments (validate_file), and storage in chunks on SQLite and PostgreSQL (ingest_file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from campaigns.ingest.readers import FileRefused
from campaigns.ingest.rejects import RejectsWriter
from campaigns.ingest.service import IngestOptions, ingest_file, validate_file
from campaigns.settings import Settings
from campaigns.ingest.storage import recipient_writer
from campaigns.services.chunk_claims import _chunk_recipients_statement
from campaigns.store.engine import make_engine
from campaigns.store.keys import ROW_LIMIT, recipient_id, valid_range
from campaigns.store.models import Campaign, Chunk, Recipient

SETTINGS = Settings()


def phone(i: int) -> str:
    """The i-th valid Kazakh mobile number, digits only."""
    return f"7701{i:07d}"


def write(tmp_path: Path, lines: list[str], name: str = "r.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes("\r\n".join(lines).encode(encoding) + b"\r\n")
    return path


def check(path: Path, text: str = "Hello", **options) -> object:
    return validate_file(path, IngestOptions(text=text, **options), SETTINGS)


# --- header and phone column -------------------------------------------------------------


@pytest.mark.parametrize(
    "header", ["phone", "Phone", " PHONE ", "msisdn", "Mobile", "tel", "Телефон", "НОМЕР", "номер телефона",
               "phone_number", "Phone-Number", "recipient", "Recipient"]
)
def test_the_phone_column_is_found_by_common_names(tmp_path, header):
    path = write(tmp_path, [f"name;{header};city", f"Ann;+{phone(1)};X", "Bob;8 701 000 00 02;Y"])
    report = check(path, "Hi {name}", country="KZ")
    assert report.file.phone_column == header.strip()
    assert report.file.header_row == 1
    assert (report.rows, report.valid) == (2, 2)


def test_recipient_wins_over_other_phone_names(tmp_path):
    path = write(tmp_path, ["phone,recipient", f"123,+{phone(1)}"])
    report = check(path)
    assert report.file.phone_column == "recipient"
    assert report.valid == 1


def test_several_phone_columns_are_refused(tmp_path):
    path = write(tmp_path, ["name,phone,mobile", f"a,+{phone(1)},+{phone(2)}"])
    with pytest.raises(FileRefused, match=r"several phone columns \('phone', 'mobile'\)") as refused:
        check(path)
    assert refused.value.row == 1


def test_no_phone_column_lists_the_headers(tmp_path):
    path = write(tmp_path, ["name;city", "Ann;Almaty"])
    with pytest.raises(FileRefused) as refused:
        check(path, "Hi {name}")
    assert str(refused.value) == (
        "r.csv, row 1: no phone column: the header row has 'name', 'city'; name the phone column "
        "'recipient' (or phone, number, msisdn, mobile, телефон, номер)"
    )


def test_a_template_campaign_needs_a_header(tmp_path):
    path = write(tmp_path, [f"+{phone(1)};Ann", f"+{phone(2)};Bob"])
    with pytest.raises(FileRefused, match="no phone column"):
        check(path, "Hi {name}")


def test_duplicate_headers_are_refused(tmp_path):
    path = write(tmp_path, ["phone;name;city;name", f"+{phone(1)};a;b;c"])
    with pytest.raises(FileRefused, match=r"duplicate column header 'name' \(columns 2 and 4\)"):
        check(path, "Hi {name}")


def test_unnamed_columns_are_not_duplicates(tmp_path):
    path = write(tmp_path, ["phone;;name;", f"+{phone(1)};x;Ann;y"])
    assert check(path, "Hi {name}").valid == 1


def test_numbers_one_per_line_without_a_header(tmp_path):
    path = write(tmp_path, [f"+{phone(1)}", "12345", f"{phone(2)}"])
    report = check(path)
    assert report.file.header_row is None
    assert (report.rows, report.valid, report.invalid) == (3, 2, 1)
    assert report.problems == [{"row": 2, "phone": "12345", "reason": "wrong length"}]


def test_numbers_one_per_line_under_any_header(tmp_path):
    path = write(tmp_path, ["Contacts", f"+{phone(1)}", f"+{phone(2)}"])
    report = check(path)
    assert report.file.header_row == 1
    assert report.file.phone_column == "Contacts"
    assert (report.rows, report.valid) == (2, 2)


def test_plain_file_without_header_takes_the_first_column_holding_a_number(tmp_path):
    path = write(tmp_path, [f"Ann,+{phone(1)},x", f"Bob,+{phone(2)},y"])
    report = check(path)
    assert report.file.header_row is None
    assert report.file.phone_column == "column 2"
    assert report.valid == 2


def test_first_row_with_an_invalid_number_is_still_data(tmp_path):
    path = write(tmp_path, ["77011", f"+{phone(2)}"])
    report = check(path)
    assert report.file.header_row is None
    assert (report.rows, report.invalid) == (2, 1)


# --- verdicts -----------------------------------------------------------------------------


def test_verdicts_reasons_and_row_numbers(tmp_path):
    path = write(
        tmp_path,
        [
            "phone;name",
            f"+{phone(1)};a",  # 2 valid
            "8 (701) 000-00-01;b",  # 3 the same number in national format: duplicate of 2
            ";c",  # 4 empty
            "hello;d",  # 5 not a number
            "7.70112E+10;e",  # 6 scientific notation
            "+999 123 4567;f",  # 7 unknown country code
            "+7 701 12;g",  # 8 wrong length
            ";",  # 9 a blank row: skipped, not counted
            f"{phone(2)}.0;h",  # 10 a spreadsheet float: valid
            f"00{phone(1)};i",  # 11 00 prefix: another duplicate of 2
        ],
    )
    report = check(path, country="KZ")
    assert (report.rows, report.valid, report.invalid, report.duplicates) == (9, 2, 5, 2)
    assert report.invalid_by_reason == {
        "empty": 1,
        "not a number": 1,
        "scientific notation, digits lost": 1,
        "unknown country code": 1,
        "wrong length": 1,
    }
    assert report.problems == [
        {"row": 3, "phone": "8 (701) 000-00-01", "reason": "duplicate of row 2"},
        {"row": 4, "phone": "", "reason": "empty"},
        {"row": 5, "phone": "hello", "reason": "not a number"},
        {"row": 6, "phone": "7.70112E+10", "reason": "scientific notation, digits lost"},
        {"row": 7, "phone": "+999 123 4567", "reason": "unknown country code"},
        {"row": 8, "phone": "+7 701 12", "reason": "wrong length"},
        {"row": 11, "phone": f"00{phone(1)}", "reason": "duplicate of row 2"},
    ]
    assert report.sendable and report.refusal is None


@pytest.mark.parametrize("helper_bytes", [0, 1], ids=["checked-here", "checked-by-helper-process"])
@pytest.mark.parametrize("text", ["Hello", "Hello {name}"])
def test_rows_across_phone_batches_keep_order_numbers_and_first_occurrences(tmp_path, text, helper_bytes):
    # Given more rows than four batches of phones (10,000 each), with duplicates reaching back
    # across batches, spreadsheet floats, invalid and non-ASCII cells
    from campaigns.ingest.checking import BATCH_ROWS

    lines, expected = ["phone;name"], []
    for i in range(4 * BATCH_ROWS + 2_500):
        row = i + 2
        if i % 997 == 5:
            cell, verdict = "нет", "not a number"
        elif i % 1_013 == 7:
            cell, verdict = f"+7 701 {i:05d}", "wrong length"
        elif i > BATCH_ROWS and i % 331 == 0:
            cell, verdict = f"+{phone(i - BATCH_ROWS)}", None
        else:
            cell, verdict = f"{phone(i)}.0" if i % 3 else f"8 701 {i:07d}", None
        lines.append(f"{cell};n{i}")
        expected.append((row, cell, verdict))
    path = tmp_path / "many.csv"
    path.write_bytes("\r\n".join(lines).encode() + b"\r\n")
    rows = []
    # When it is checked here, or by a helper process (files from 1 byte on)
    settings = SETTINGS.with_(check_helper_bytes=helper_bytes)
    report = validate_file(path, IngestOptions(text=text, country="KZ"), settings, rejects=_Collect(rows))
    # Then every row keeps its number; later occurrences name the row of the first one
    first_row = {}
    problems = []
    for row, cell, verdict in expected:
        if verdict is not None:
            problems.append((row, cell, verdict))
            continue
        digits = "7" + cell.lstrip("+8").replace(" ", "").removesuffix(".0")[-10:]
        if digits in first_row:
            problems.append((row, cell, f"duplicate of row {first_row[digits]}"))
        else:
            first_row[digits] = row
    assert rows == problems
    assert report.valid == len(first_row)
    assert report.duplicates == sum(1 for *_, reason in problems if reason.startswith("duplicate"))


class _Collect:
    """A rejects writer keeping (row, phone cell, reason) of each problem row."""

    def __init__(self, rows: list):
        self.rows = rows

    def begin(self, header, width) -> None:
        pass

    def write(self, number, raw, reason, cells) -> None:
        self.rows.append((number, raw, reason))


def test_short_rows_are_padded(tmp_path):
    path = write(tmp_path, ["name;phone;sum", "Ann", f"Bob;+{phone(1)}"])
    report = check(path, "Hi {name} {sum}")
    assert (report.rows, report.valid, report.invalid) == (2, 1, 1)
    assert report.problems[0] == {"row": 2, "phone": "", "reason": "empty"}


def test_problems_list_is_bounded(tmp_path):
    path = write(tmp_path, ["phone", *(["x"] * 50)])
    report = check(path)
    assert report.invalid == 50
    assert len(report.problems) == 20
    assert not report.sendable
    assert report.refusal == "no valid recipients among 50 rows"


def test_header_only_is_not_sendable(tmp_path):
    report = check(write(tmp_path, ["phone;name"]), "Hi {name}")
    assert report.rows == 0
    assert report.refusal == "no recipients: the file has a header row and no data rows"


def test_national_numbers_need_a_country(tmp_path):
    path = write(tmp_path, ["phone", "87010000001"])
    assert check(path).valid == 0
    assert check(path, country="KZ").valid == 1


# --- placeholders and segments ------------------------------------------------------------


def test_placeholder_named_recipient_is_refused_before_reading(tmp_path):
    path = tmp_path / "missing.csv"  # never opened
    with pytest.raises(FileRefused, match=r"missing.csv: placeholder \{recipient\}"):
        check(path, "Your number is {recipient}")


def test_placeholder_breaking_the_rule_is_refused(tmp_path):
    path = write(tmp_path, ["phone", f"+{phone(1)}"])
    with pytest.raises(FileRefused, match=r"placeholder \{имя\}"):
        check(path, "Hi {имя}")


def test_header_must_equal_the_placeholder_after_trimming(tmp_path):
    path = write(tmp_path, ["phone; name ;Sum", f"+{phone(1)};Ann;5"])
    report = check(path, "Hi {name}, {sum}")
    assert report.placeholders == ["name", "sum"]
    assert report.placeholder_problems == ["{sum} has no column in the file: it stays in the text as written"]


def test_reject_refuses_a_placeholder_without_column(tmp_path):
    path = write(tmp_path, ["phone;name", f"+{phone(1)};Ann"])
    with pytest.raises(FileRefused) as refused:
        check(path, "Hi {name}, {code} {extra}", placeholders="reject")
    assert str(refused.value) == (
        "r.csv, row 1: no column for placeholder {code}, {extra} (--placeholders reject); "
        "the header row has 'phone', 'name'"
    )


def test_reject_makes_a_recipient_with_an_empty_value_invalid(tmp_path):
    path = write(tmp_path, ["phone;name;code", f"+{phone(1)};Ann;1", f"+{phone(2)};  ;2", f"+{phone(3)};Cy;"])
    report = check(path, "Hi {name} {code}", placeholders="reject")
    assert (report.valid, report.invalid) == (1, 2)
    assert report.invalid_by_reason == {"empty value for {name}": 1, "empty value for {code}": 1}
    assert [p["row"] for p in report.problems] == [3, 4]


def test_an_invalid_row_does_not_take_the_phone_from_a_later_valid_one(tmp_path):
    path = write(tmp_path, ["phone;name", f"+{phone(1)};", f"+{phone(1)};Ann"])
    report = check(path, "Hi {name}", placeholders="reject")
    assert (report.valid, report.invalid, report.duplicates) == (1, 1, 0)


def test_keep_and_strip_report_empty_values(tmp_path):
    path = write(tmp_path, ["phone;name", f"+{phone(1)};Ann", f"+{phone(2)};", f"+{phone(3)}; "])
    for mode in ("keep", "strip"):
        report = check(path, "Hi {name}", placeholders=mode)
        assert report.valid == 3
        assert report.placeholder_problems == ["{name} is empty for 2 valid recipients"]


def test_segments_of_a_plain_text(tmp_path):
    path = write(tmp_path, ["phone", f"+{phone(1)}", f"+{phone(2)}", "bad"])
    report = check(path, "a" * 161)
    assert report.segments == {"total": 4, "max_per_message": 2, "encoding": "GSM-7"}
    assert report.campaign_type == 2


def test_segments_of_rendered_templates(tmp_path):
    path = write(
        tmp_path,
        ["phone;name", f"+{phone(1)};{'a' * 150}", f"+{phone(2)};Ann", f"+{phone(3)};Аня", f"+{phone(4)};x", "bad;Zed"],
    )
    report = check(path, "Hi {name}!")  # 4 + len(name) characters
    # 154 septets: 1 part of 153? no: over 160 is split; 154 <= 160 is one SMS
    assert report.segments == {"total": 4, "max_per_message": 1, "encoding": "mixed"}
    path = write(tmp_path, ["phone;name", f"+{phone(1)};{'a' * 157}", f"+{phone(2)};{'я' * 70}"])
    report = check(path, "Hi {name}!")
    assert report.segments == {"total": 2 + 2, "max_per_message": 2, "encoding": "mixed"}
    assert report.campaign_type == 3


def test_segments_count_the_text_as_mobizon_sends_it(tmp_path):
    path = write(tmp_path, ["phone", f"+{phone(1)}"])
    base = "a" * 155
    # kept literally, "{code}" is 6 characters of which the braces count twice: 155 + 8 = 163
    assert check(path, base + "{code}", placeholders="keep").segments["max_per_message"] == 2
    # stripped, 155 septets fit one SMS
    assert check(path, base + "{code}", placeholders="strip").segments["max_per_message"] == 1


def test_rejects_writer_gets_every_problem_row(tmp_path):
    path = write(tmp_path, ["phone;name", "=1+2;@cmd", f"+{phone(1)};ok", f"+{phone(1)};-dup"])
    out = tmp_path / "rejects.csv"
    with RejectsWriter(out) as rejects:
        validate_file(path, IngestOptions(text="Hi {name}"), SETTINGS, rejects=rejects)
    assert out.read_text(encoding="utf-8-sig").splitlines() == [
        "row,phone as given,reason,phone,name",
        "2,'=1+2,not a number,'=1+2,'@cmd",
        "4,'+77010000001,duplicate of row 3,'+77010000001,'-dup",
    ]


# --- storage ------------------------------------------------------------------------------


def new_campaign(engine, text: str = "Hello") -> int:
    with engine.begin() as conn:
        return conn.execute(
            insert(Campaign).values(name="t", provider="sandbox", text=text).returning(Campaign.id)
        ).scalar_one()


def stored(engine, campaign_id: int):
    with engine.connect() as conn:
        recipients = conn.execute(
            select(
                Recipient.row_number, Recipient.raw_phone, Recipient.phone, Recipient.fields,
                Recipient.verdict, Recipient.reason, Recipient.segments, Recipient.chunk_seq, Recipient.id,
            )
            .where(Recipient.campaign_id == campaign_id)
            .order_by(Recipient.row_number)
        ).all()
        chunks = conn.execute(
            select(Chunk.seq, Chunk.size, Chunk.state).where(Chunk.campaign_id == campaign_id).order_by(Chunk.seq)
        ).all()
        campaign = conn.execute(select(Campaign).where(Campaign.id == campaign_id)).one()
        ranges = conn.execute(
            select(Chunk.first_row, Chunk.last_row).where(Chunk.campaign_id == campaign_id).order_by(Chunk.seq)
        ).all()
    assert_keyed(campaign_id, recipients, [tuple(r) for r in ranges])
    return recipients, chunks, campaign


def assert_keyed(campaign_id: int, recipients, ranges: list[tuple[int, int]]) -> None:
    """Each recipient's id says its campaign, row and validity (campaigns.store.keys), and
    each chunk's rows are from the first to the last source row of its valid recipients."""
    assert [r.id for r in recipients] == [
        recipient_id(campaign_id, r.row_number, r.verdict == "valid") for r in recipients
    ]
    by_chunk: dict[int, list[int]] = {}
    for r in recipients:
        if r.verdict == "valid":
            by_chunk.setdefault(r.chunk_seq, []).append(r.row_number)
    assert ranges == [(rows[0], rows[-1]) for _, rows in sorted(by_chunk.items())]


@pytest.mark.parametrize("helper_bytes", [0, 1], ids=["checked-here", "checked-by-helper-process"])
def test_ingest_stores_every_row_and_chunks_in_file_order(engine, tmp_path, helper_bytes):
    # Given 1,201 valid numbers, an invalid row and a duplicate, with a header row
    lines = ["phone,name"]
    for i in range(1201):
        lines.append(f"+{phone(i)},N{i}")
        if i == 10:
            lines.append("oops,x")
        if i == 700:
            lines.append("8 701 000 00 05,again")
    path = write(tmp_path, lines)
    campaign_id = new_campaign(engine, "Hi {name}")
    # When it is ingested with chunks of 500
    # (checked in this process, or by a helper process while this one stores)
    settings = SETTINGS.with_(chunk_size=500, check_helper_bytes=helper_bytes)
    report = ingest_file(path, IngestOptions(text="Hi {name}", country="KZ"), settings, engine, campaign_id)
    # Then every data row is stored with its row number, valid ones chunked 500/500/201
    recipients, chunks, campaign = stored(engine, campaign_id)
    assert (report.rows, report.valid, report.invalid, report.duplicates, report.chunks) == (1203, 1201, 1, 1, 3)
    assert len(recipients) == 1203
    assert [r.row_number for r in recipients] == list(range(2, 1205))
    assert [tuple(c) for c in chunks] == [(0, 500, "pending"), (1, 500, "pending"), (2, 201, "pending")]
    valid = [r for r in recipients if r.verdict == "valid"]
    assert [r.phone for r in valid] == [phone(i) for i in range(1201)]
    assert [r.chunk_seq for r in valid] == [0] * 500 + [1] * 500 + [2] * 201
    assert json.loads(valid[0].fields) == {"name": "N0"}
    assert valid[0].raw_phone == f"+{phone(0)}" and valid[0].segments == 1 and valid[0].reason is None
    invalid = recipients[11]
    assert (invalid.row_number, invalid.raw_phone, invalid.verdict, invalid.reason) == (13, "oops", "invalid", "not a number")
    assert invalid.phone is None and invalid.chunk_seq is None and invalid.segments is None
    duplicate = [r for r in recipients if r.verdict == "duplicate"]
    assert [(r.row_number, r.phone, r.reason, r.chunk_seq) for r in duplicate] == [
        (704, phone(5), "duplicate of row 7", None)
    ]
    assert (campaign.rows, campaign.valid, campaign.invalid, campaign.duplicates) == (1203, 1201, 1, 1)
    assert (campaign.segments, campaign.type) == (1201, 3)


def test_chunk_size_is_at_most_500(engine, tmp_path):
    path = write(tmp_path, ["phone", *(f"+{phone(i)}" for i in range(501))])
    campaign_id = new_campaign(engine)
    ingest_file(path, IngestOptions(text="Hello"), SETTINGS.with_(chunk_size=1000), engine, campaign_id)
    _, chunks, campaign = stored(engine, campaign_id)
    assert [c.size for c in chunks] == [500, 1]
    assert (campaign.type, campaign.segments) == (2, 501)


def test_chunk_size_can_be_lower(engine, tmp_path):
    path = write(tmp_path, ["phone", *(f"+{phone(i)}" for i in range(7))])
    campaign_id = new_campaign(engine)
    ingest_file(path, IngestOptions(text="Hello"), SETTINGS.with_(chunk_size=3), engine, campaign_id)
    recipients, chunks, _ = stored(engine, campaign_id)
    assert [c.size for c in chunks] == [3, 3, 1]
    assert [r.chunk_seq for r in recipients] == [0, 0, 0, 1, 1, 1, 2]


def count_stored(engine, campaign_id: int) -> tuple[int, int]:
    with engine.connect() as conn:
        recipients = conn.execute(
            select(func.count()).select_from(Recipient).where(Recipient.campaign_id == campaign_id)
        ).scalar_one()
        chunks = conn.execute(select(func.count()).select_from(Chunk).where(Chunk.campaign_id == campaign_id)).scalar_one()
    return recipients, chunks


@pytest.mark.parametrize("helper_bytes", [0, 1], ids=["checked-here", "checked-by-helper-process"])
def test_a_file_refused_half_way_leaves_nothing(engine, tmp_path, helper_bytes):
    # Given a file whose row 30,002 does not decode, after 30,000 good rows (several batches)
    good = "\r\n".join(["phone", *(f"+{phone(i)}" for i in range(30_000))]).encode() + b"\r\n"
    path = tmp_path / "broken.csv"
    path.write_bytes(good + b"+7701\xff\xfe\r\n")
    campaign_id = new_campaign(engine)
    # When it is ingested, Then it is refused naming the row, and nothing is stored
    with pytest.raises(FileRefused, match=r"broken.csv, row 30002: cannot be decoded"):
        settings = SETTINGS.with_(check_helper_bytes=helper_bytes)
        ingest_file(path, IngestOptions(text="Hello", encoding="utf-8"), settings, engine, campaign_id)
    assert count_stored(engine, campaign_id) == (0, 0)
    _, _, campaign = stored(engine, campaign_id)
    assert (campaign.rows, campaign.valid) == (0, 0)
    # and the campaign can be ingested again from a good file
    fixed = write(tmp_path, ["phone", f"+{phone(1)}"])
    assert ingest_file(fixed, IngestOptions(text="Hello"), SETTINGS, engine, campaign_id).valid == 1


def test_a_file_without_valid_recipients_is_refused_and_leaves_nothing(engine, tmp_path):
    path = write(tmp_path, ["phone", "bad", "worse"])
    campaign_id = new_campaign(engine)
    with pytest.raises(FileRefused, match="r.csv: no valid recipients among 2 rows"):
        ingest_file(path, IngestOptions(text="Hello"), SETTINGS, engine, campaign_id)
    assert count_stored(engine, campaign_id) == (0, 0)


def test_a_refused_template_leaves_nothing(engine, tmp_path):
    path = write(tmp_path, ["phone;name", f"+{phone(1)};a"])
    campaign_id = new_campaign(engine)
    with pytest.raises(FileRefused, match="no column for placeholder"):
        ingest_file(path, IngestOptions(text="{x}", placeholders="reject"), SETTINGS, engine, campaign_id)
    assert count_stored(engine, campaign_id) == (0, 0)


def test_ingest_needs_an_existing_campaign_without_recipients(engine, tmp_path):
    path = write(tmp_path, ["phone", f"+{phone(1)}"])
    with pytest.raises(ValueError, match="campaign 987654 does not exist"):
        ingest_file(path, IngestOptions(text="Hello"), SETTINGS, engine, 987654)
    campaign_id = new_campaign(engine)
    ingest_file(path, IngestOptions(text="Hello"), SETTINGS, engine, campaign_id)
    with pytest.raises(ValueError, match="already has recipients"):
        ingest_file(path, IngestOptions(text="Hello"), SETTINGS, engine, campaign_id)
    assert count_stored(engine, campaign_id) == (1, 1)


def test_values_needing_escapes_survive_storage(engine, tmp_path):
    name = 'Tab\there "quoted" back\\slash\nnew line, ünï €'
    path = tmp_path / "odd.csv"
    path.write_text(f'phone,name\r\n" +{phone(1)}\t","{name.replace(chr(34), chr(34) * 2)}"\r\n', encoding="utf-8")
    campaign_id = new_campaign(engine, "Hi {name}")
    ingest_file(path, IngestOptions(text="Hi {name}"), SETTINGS, engine, campaign_id)
    recipients, _, _ = stored(engine, campaign_id)
    assert recipients[0].raw_phone == f" +{phone(1)}\t"
    assert json.loads(recipients[0].fields) == {"name": name}


# Values that PostgreSQL's text COPY must escape, and look-alikes of its NULL and end marker.
ODD_VALUES = ["back\\slash", "tab\there", "new\nline", "carriage\rreturn", "both\r\nends", "\\N", "\\.", "end\\",
              '"quoted"', "Айгерим Қасым", "😀", ""]


def csv_cell(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


@pytest.mark.parametrize("text", ["Hi {name} {city}", "Hi"])
@pytest.mark.parametrize("odd", ODD_VALUES)
def test_values_needing_copy_escapes_are_stored_as_read(engine, tmp_path, text, odd):
    # Given valid, invalid and duplicate rows whose phone cells and fields hold one escape
    # case (a file each: one value to escape is enough to need the escaped path)
    lines = ["phone,name,city"]
    expected = {}
    formatting = "".join(c for c in odd if c in "\\\t\r\n.")  # what a phone cell may hold around its digits
    for i in range(6):
        cells = {
            "valid": (f"+{phone(i)}{formatting}" if i % 2 else f"+{phone(i)}", odd if i % 3 else "", odd + "!"),
            "invalid": (f"bad {odd}" if i % 2 else "bad", "x", "y"),
            "duplicate": (f"{formatting}{phone(i)}" if i == 5 else phone(i), "x", "y"),
        }
        for verdict, row in cells.items():
            lines.append(",".join(map(csv_cell, row)))
            expected[len(lines)] = (verdict, row)
    path = tmp_path / "odd.csv"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    campaign_id = new_campaign(engine, text)
    # When it is ingested in chunks of 4
    report = ingest_file(path, IngestOptions(text=text, country="KZ"), SETTINGS.with_(chunk_size=4), engine, campaign_id)
    # Then every value reads back as it was in the file, and the chunks are numbered in file order
    recipients, chunks, _ = stored(engine, campaign_id)
    assert (report.rows, report.valid) == (18, 6)
    assert len(recipients) == 18
    by_row = {r.row_number: r for r in recipients}
    for number, (verdict, (raw, name, city)) in expected.items():
        got = by_row[number]
        assert (got.verdict, got.raw_phone) == (verdict, raw), number
        if verdict == "valid" and "{" in text:
            assert json.loads(got.fields) == {"name": name, "city": city}
        else:
            assert got.fields is None
    valid = [r for r in recipients if r.verdict == "valid"]
    assert [r.chunk_seq for r in valid] == [0, 0, 0, 0, 1, 1]
    assert [c.size for c in chunks] == [4, 2]


def test_a_nul_character_in_a_spreadsheet_cell_is_refused_naming_the_row(engine, tmp_path):
    # Given an XLS whose row 3 holds a NUL character in its phone cell (CSV refuses NUL on reading too)
    from tests.corpus import write_xls

    path = write_xls(tmp_path / "nul.xls", {"a": [["phone"], [f"+{phone(1)}"], ["+7701\x001234567"], [f"+{phone(2)}"]]})
    campaign_id = new_campaign(engine)
    # When it is ingested, on SQLite as on PostgreSQL (whose text cannot hold NUL)
    # Then it is refused naming the row, and nothing is stored
    with pytest.raises(FileRefused, match=r"nul.xls, row 3: a cell contains a NUL character"):
        ingest_file(path, IngestOptions(text="Hello"), SETTINGS, engine, campaign_id)
    assert count_stored(engine, campaign_id) == (0, 0)


@pytest.mark.parametrize("segments", [1, None], ids=["plain", "template"])
def test_a_row_number_beyond_what_an_id_holds_is_refused(engine, segments):
    # Limits keep row numbers far below this; the writer refuses rather than store a wrong id
    campaign_id = new_campaign(engine)
    row = ROW_LIMIT
    valid = (row, "+77010000000", "77010000000") + (() if segments else ("{}", 1))
    refusal = "big.csv, row 2147483648: more than 2,147,483,647 rows"
    with engine.connect() as conn, pytest.raises(FileRefused, match=refusal):
        with recipient_writer(conn, campaign_id, 500, "big.csv") as sink:
            sink.start(segments)
            sink.write([(sink.valid_base + row, *valid)], [])


def test_a_chunk_is_read_through_the_primary_key_without_statistics(pg_url, tmp_path):
    # Given 20,000 recipients ingested on PostgreSQL (ingestion analyzes only the chunks)
    engine = make_engine(pg_url)
    try:
        path = write(tmp_path, ["phone", *(f"+{phone(i)}" for i in range(20_000))])
        campaign_id = new_campaign(engine)
        ingest_file(path, IngestOptions(text="Hello"), SETTINGS, engine, campaign_id)
        # When the add path's read of chunk 7 is planned
        lo, hi = valid_range(campaign_id, 3502, 4001)
        statement = _chunk_recipients_statement()
        with engine.connect() as conn:
            sql = str(statement.compile(dialect=conn.dialect))
            plan = conn.exec_driver_sql(
                "EXPLAIN " + sql, {"lo": lo, "hi": hi, "cid": campaign_id, "seq": 7, "verdict_1": "valid"}
            ).scalars().all()
            rows = conn.execute(statement, {"lo": lo, "hi": hi, "cid": campaign_id, "seq": 7}).all()
        # Then it is a range of the primary key, and gives the chunk's 500 rows in file order
        assert any("recipients_pkey" in line for line in plan), plan
        assert [r.row_number for r in rows] == list(range(3502, 4002))
    finally:
        engine.dispose()
