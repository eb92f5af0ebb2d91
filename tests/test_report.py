"""The campaign report: one row per source row, in order, safe to open in a spreadsheet."""

import csv

import pytest
from openpyxl import load_workbook
from sqlalchemy import insert

from campaigns.providers.fake import FakeProvider
from campaigns.services.errors import CampaignNotFound
from campaigns.services.next import Next
from campaigns.services.report import HEADER, export_report
from campaigns.store.models import Recipient
from campaigns.store.uow import UnitOfWork
from campaigns.store.keys import recipient_id
from tests.pipeline_data import Driver, fast_settings, make_campaign

EXPECTED = [
    ["2", "'+77010000000", "77010000000", "valid", "", "0", "the number was added to the campaign", "500001", "DELIVRD"],
    ["3", "'+77010000001", "77010000001", "valid", "", "5", "the number is in the stop-list", "", ""],
    ["4", "'=HYPERLINK(\"http://evil\")", "", "invalid", "'-not a phone number", "", "", "", ""],
    ["5", "'@SUM(1)", "", "duplicate", "same number as row 2", "", "", "", ""],
]


@pytest.fixture
def finished_campaign(engine):
    """A campaign run to done: a delivered recipient, a stop-listed one, and two rows
    that never went anywhere (an invalid one holding a formula, a duplicate)."""
    uow_factory = lambda: UnitOfWork(engine)  # noqa: E731
    # the source file had a header: data rows start at 2
    cid = make_campaign(uow_factory, numbers=["77010000000", "77010000001"], first_row=2)
    with uow_factory() as uow:
        uow.session.execute(
            insert(Recipient),
            [
                dict(id=recipient_id(cid, 4, False), campaign_id=cid, row_number=4,
                     raw_phone='=HYPERLINK("http://evil")', verdict="invalid", reason="-not a phone number"),
                dict(id=recipient_id(cid, 5, False), campaign_id=cid, row_number=5, raw_phone="@SUM(1)",
                     verdict="duplicate", reason="same number as row 2"),
            ],
        )
        uow.commit()
    driver = Driver(uow_factory, FakeProvider(stop_list=["77010000001"]), fast_settings())
    driver.schedule([Next("create", cid)])
    assert driver.run(cid) == "done"
    return cid, uow_factory


def test_csv_report_has_one_neutralized_row_per_source_row(finished_campaign, tmp_path):
    cid, uow_factory = finished_campaign
    path = tmp_path / "report.csv"
    # When the report is exported
    assert export_report(cid, uow_factory, path) == 4
    # Then it opens in Excel as UTF-8 (BOM), one row per source row in order, no formula left
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(HEADER)
    assert [row[:-1] for row in rows[1:]] == EXPECTED
    # the last column says when a final status arrived (UTC), empty without one
    assert [bool(row[-1]) for row in rows[1:]] == [True, False, False, False]
    assert rows[1][-1].endswith("+00:00")
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows[1:] for cell in row)


def test_xlsx_report_matches(finished_campaign, tmp_path):
    cid, uow_factory = finished_campaign
    path = tmp_path / "report.xlsx"
    assert export_report(cid, uow_factory, path) == 4
    book = load_workbook(path, read_only=True)
    try:
        # read-only mode leaves out trailing empty cells: pad to the header's width
        rows = [
            (["" if v is None else str(v) for v in row] + [""] * len(HEADER))[: len(HEADER)]
            for row in book.active.iter_rows(values_only=True)
        ]
    finally:
        book.close()
    assert rows[0] == list(HEADER)
    # text cells as they are, with no apostrophe: XLSX strings are never evaluated
    assert [row[:-1] for row in rows[1:]] == [[cell.removeprefix("'") for cell in row] for row in EXPECTED]
    assert [bool(row[-1]) for row in rows[1:]] == [True, False, False, False]


def test_xlsx_text_that_looks_like_a_formula_is_a_string_cell(sqlite_engine, tmp_path):
    from campaigns.store.uow import UnitOfWork
    from tests.pipeline_data import make_campaign

    def uow_factory():
        return UnitOfWork(sqlite_engine)

    cid = make_campaign(uow_factory, count=1)
    with uow_factory() as uow:
        uow.session.execute(Recipient.__table__.update().values(raw_phone="=HYPERLINK(\"http://x\")", reason="@SUM(1)"))
        uow.commit()
    path = tmp_path / "r.xlsx"
    export_report(cid, uow_factory, path)
    book = load_workbook(path)
    try:
        cells = {c.value: c.data_type for row in book.active.iter_rows(min_row=2) for c in row if c.value}
    finally:
        book.close()
    assert cells['=HYPERLINK("http://x")'] == "s" and cells["@SUM(1)"] == "s"


def test_control_characters_do_not_break_the_xlsx(sqlite_engine, tmp_path):
    uow_factory = lambda: UnitOfWork(sqlite_engine)  # noqa: E731
    cid = make_campaign(uow_factory, numbers=[], invalid=["77\x0001"])
    path = tmp_path / "r.xlsx"
    assert export_report(cid, uow_factory, path) == 1
    book = load_workbook(path, read_only=True)
    try:
        (_, row) = list(book.active.iter_rows(values_only=True))
    finally:
        book.close()
    assert row[1] == "7701"


def test_refusals_leave_no_file(sqlite_engine, tmp_path):
    uow_factory = lambda: UnitOfWork(sqlite_engine)  # noqa: E731
    with pytest.raises(CampaignNotFound):
        export_report(404, uow_factory, tmp_path / "r.csv")
    with pytest.raises(ValueError, match="must be a .csv or .xlsx file"):
        export_report(1, uow_factory, tmp_path / "r.pdf")
    assert not list(tmp_path.glob("r.*")) and not list(tmp_path.glob(".r.*"))
