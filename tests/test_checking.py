"""Phone checks block by block, here or in a helper process (campaigns.ingest.checking)."""

from __future__ import annotations

import os
import signal

from campaigns.ingest.checking import BATCH_ROWS, INVALID, checked_blocks, inline_checks, phone_checks
from campaigns.ingest.phones import PhoneValidator


def _rows(count: int) -> list[tuple[int, list[str]]]:
    """Rows of (number, [phone, name]): valid Kazakh mobiles in several formats, some junk."""
    rows = []
    for i in range(count):
        if i % 97 == 3:
            cell = "не номер"
        elif i % 2:
            cell = f"8 (701) {i:07d}"
        else:
            cell = f"+7701{i:07d}"
        rows.append((i + 2, [cell, f"n{i}"]))
    return rows


def _collect(blocks) -> list[tuple[int, str, str, str]]:
    out = []
    for block, raws, digits, reasons in blocks:
        for (number, _), raw, found in zip(block, raws, digits):
            out.append((number, raw, found, "" if found != INVALID else next(reasons)))
    return out


def test_helper_process_gives_the_verdicts_checked_here():
    # Given five blocks of rows
    rows = _rows(5 * BATCH_ROWS + 123)
    validator = PhoneValidator("KZ")
    expected = _collect(checked_blocks(iter(rows), 0, inline_checks(validator)))
    # When a helper process checks them (this process taking blocks the helper has not started)
    with phone_checks(validator, helper=True) as checks:
        assert type(checks).__name__ == "_Helper", "two CPUs here: a helper process is expected"
        got = _collect(checked_blocks(iter(rows), 0, checks))
        assert checks.answered > 0, "the helper checked no block"
    # Then every row has the same verdict, in file order
    assert got == expected
    assert [number for number, *_ in got] == [number for number, _ in rows]
    assert sum(1 for *_, reason in got if reason == "not a number") == sum(1 for i in range(len(rows)) if i % 97 == 3)


def test_a_helper_killed_half_way_leaves_the_rest_to_this_process():
    # Given a helper process checking a long file
    rows = _rows(8 * BATCH_ROWS)
    validator = PhoneValidator("KZ")
    expected = _collect(checked_blocks(iter(rows), 0, inline_checks(validator)))
    got = []
    with phone_checks(validator, helper=True) as checks:
        blocks = checked_blocks(iter(rows), 0, checks)
        got.extend(_collect([next(blocks)]))
        # When the helper is killed after the first block
        os.kill(checks._process.pid, signal.SIGKILL)  # noqa: SLF001 - the test plays the OOM killer
        got.extend(_collect(blocks))
    # Then the blocks it had not answered are checked here: nothing lost, nothing changed
    assert got == expected


def test_small_inputs_and_no_helper_check_here():
    validator = PhoneValidator("KZ")
    with phone_checks(validator, helper=False) as checks:
        assert type(checks).__name__ == "PhoneChecks"
        assert _collect(checked_blocks(iter([]), 0, checks)) == []
        assert _collect(checked_blocks(iter([(2, ["+77011234567"]), (3, [])]), 1, checks)) == [
            (2, "", INVALID, "empty"),
            (3, "", INVALID, "empty"),
        ]
