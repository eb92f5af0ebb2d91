"""Mutated recipient files: whatever the bytes, validation gives a verdict or a one-line refusal.

Seeded mutations (flipped, inserted and deleted bytes, truncation) of a Windows-1251 CSV, a
UTF-16 CSV, an XLSX and an XLS. Fuzzing like this found a line splitter crash on a file
ending in half a character and a damaged XLS that made calamine abort the process.
"""

from __future__ import annotations

import io
import random

import openpyxl
import pytest

from campaigns.ingest.readers import FileRefused
from campaigns.ingest.service import IngestOptions, validate_file
from campaigns.settings import Settings
from tests import corpus


def _seeds(tmp_path) -> list[bytes]:
    book = openpyxl.Workbook()
    for row in [["phone", "name"], [77011234567, "a"], ["+77017654321", "b"], [7.70112e10, "c"]]:
        book.active.append(row)
    xlsx = io.BytesIO()
    book.save(xlsx)
    xls = corpus.write_xls(tmp_path / "seed.xls", {"s": [["phone", "name"], [77011234567.0, "a"], ["+77017654321", "b"]]})
    return [
        "phone;name;code\n+77011234567;Иван;1\n8 701 765 43 21;Anna;=2\n\"+7 701 000 11 22\";'q';3\n".encode("cp1251"),
        "recipient,name\n+77011234567,Ann\n".encode("utf-16"),
        xlsx.getvalue(),
        xls.read_bytes(),
    ]


def _mutate(rnd: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rnd.randint(1, 8)):
        op = rnd.random()
        if op < 0.4 and out:
            out[rnd.randrange(len(out))] = rnd.randrange(256)
        elif op < 0.6:
            at = rnd.randrange(len(out) + 1)
            out[at:at] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 20)))
        elif op < 0.8 and out:
            at = rnd.randrange(len(out))
            del out[at : at + rnd.randint(0, 50)]
        else:
            out = out[: rnd.randrange(len(out) + 1)]
    return bytes(out)


@pytest.mark.parametrize("seed", range(8))
def test_mutated_files_get_a_verdict_or_a_one_line_refusal(tmp_path, seed):
    rnd = random.Random(seed)
    seeds = _seeds(tmp_path)
    for i in range(100):
        # Given a mutated file under any of the names users give them
        path = tmp_path / f"m{i}.{rnd.choice(['csv', 'xlsx', 'xls', 'txt'])}"
        path.write_bytes(_mutate(rnd, rnd.choice(seeds)))
        options = IngestOptions(
            text=rnd.choice(["Hi {name}", "Hi", "Code {code} {name}"]),
            country=rnd.choice([None, "KZ"]),
            placeholders=rnd.choice(["keep", "strip", "reject"]),
        )
        # When it is validated, Then it gets a report, or a refusal in one line naming the file
        try:
            report = validate_file(path, options, Settings())
        except FileRefused as refused:
            message = str(refused)
            assert message.startswith(path.name) and "\n" not in message, message
        else:
            assert report.rows >= report.valid + report.invalid
