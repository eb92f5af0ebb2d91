"""The phone checks of a file's rows, block by block, in this process or in a helper process.

Checking phones is the largest single cost of ingesting a large file (2.5-3 µs a row
against ~1 µs for reading it and ~1 µs for storing it). ``helper_checks`` hands each
block's phone cells to one helper process, which checks block k+1 while this process
reads, deduplicates and stores block k: on a machine with two cores, a million-row file
then takes about the time of the slower half instead of the sum. ``inline_checks`` checks
in this process (small files, one-core machines, or when a helper cannot be started).

Either way ``checked_blocks`` yields the same blocks with the same verdicts, because the
helper runs the same ``PhoneValidator.digits_many``. Verdicts cross the process boundary
as one string (the digits of each cell, "" for an invalid one) and the list of reasons
of the invalid cells in order: 30 times cheaper to pickle than a list of tuples.

A helper that dies (killed, out of memory) is not fatal: the blocks it had not answered
are checked again in this process, and the rest of the file too.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from itertools import islice
from operator import itemgetter
from typing import Iterator, Protocol, Sequence

from campaigns.ingest.phones import PhoneValidator

log = logging.getLogger(__name__)

BATCH_ROWS = 10_000
INVALID = "0"  # the digits given for an invalid cell: no valid number is 0, and int() reads it
IN_FLIGHT = 4  # blocks submitted ahead of the one being stored (the helper takes two at a time)
_CELLS = "\x00"  # joins a block's phone cells: the readers refuse NUL in any cell
_DIGITS = "\n"  # joins the verdicts' digits (digits never hold a line break)

Encoded = tuple[str, list[str]]  # (digits joined by _DIGITS, INVALID when invalid; reasons of the invalid, in order)
Block = list[tuple[int, list[str]]]  # (row number, cells) as the readers give them


class PhoneChecks(Protocol):
    """Something that checks blocks of phone cells, possibly ahead of time."""

    def submit(self, raws: list[str]) -> "Future[Encoded]": ...

    def check(self, raws: list[str]) -> Encoded: ...

    def lost(self) -> None: ...


def encode(validator: PhoneValidator, raws: Sequence[str]) -> Encoded:
    """The verdicts of ``raws`` in their compact form (see Encoded)."""
    digits, reasons = validator.digits_many(raws, invalid=INVALID)
    return _DIGITS.join(digits), reasons


class _Inline:
    """Checks in this process, when asked."""

    def __init__(self, validator: PhoneValidator):
        self._validator = validator

    def check(self, raws: list[str]) -> Encoded:
        return encode(self._validator, raws)

    def submit(self, raws: list[str]) -> "Future[Encoded]":
        future: Future[Encoded] = Future()
        future.set_result(self.check(raws))
        return future

    def lost(self) -> None:
        """Nothing to lose: checks run here."""


class _Helper(_Inline):
    """Checks in one helper process; ``check`` (this process) is the fallback."""

    def __init__(self, validator: PhoneValidator, pool: ProcessPoolExecutor):
        super().__init__(validator)
        self._pool: ProcessPoolExecutor | None = pool

    def submit(self, raws: list[str]) -> "Future[Encoded]":
        if self._pool is not None:
            joined = _CELLS.join(raws)
            if joined.count(_CELLS) == len(raws) - 1:
                try:
                    return self._pool.submit(_check_in_helper, joined)
                except (BrokenProcessPool, RuntimeError, OSError):
                    self.lost()
        return super().submit(raws)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def lost(self) -> None:
        """The helper stopped: the rest of the file is checked in this process."""
        if self._pool is not None:
            log.warning("the phone-checking helper process stopped; checking in this process")
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def inline_checks(validator: PhoneValidator) -> PhoneChecks:
    """Checks run in this process, as each block is submitted."""
    return _Inline(validator)


def checked_blocks(rows: Iterator[tuple[int, list[str]]], phone: int, checks: PhoneChecks) -> Iterator[
    tuple[Block, list[str], list[str], Iterator[str]]
]:
    """``(block, raws, digits, reasons)`` for each block of ``rows``, in file order.

    ``raws`` are the blocks' phone cells ("" for a row too short to have one), ``digits``
    the normalized phone of each row (INVALID when invalid), ``reasons`` the reasons of the
    invalid rows in order. Up to IN_FLIGHT blocks are read and submitted ahead.
    """
    pending: deque[list] = deque()  # [block, raws, future]

    def feed() -> None:
        block = list(islice(rows, BATCH_ROWS))
        if block:
            raws = _phones(block, phone)
            pending.append([block, raws, checks.submit(raws)])

    for _ in range(IN_FLIGHT):
        feed()
    while pending:
        block, raws, future = pending.popleft()
        feed()
        # Rather than wait for the helper, check a block it has not started here (the
        # latest one queued): the two processes share the checks as their speeds allow.
        while not future.done():
            if not _steal(pending, checks):
                break
        try:
            joined, reasons = future.result()
        except BrokenProcessPool:
            checks.lost()
            joined, reasons = checks.check(raws)
        yield block, raws, joined.split(_DIGITS), iter(reasons)


def _steal(pending: deque[list], checks: PhoneChecks) -> bool:
    """Check here the latest pending block whose check the helper has not started."""
    for item in reversed(pending):
        if item[2].cancel():
            done: Future[Encoded] = Future()
            done.set_result(checks.check(item[1]))
            item[2] = done
            return True
    return False


@contextmanager
def phone_checks(validator: PhoneValidator, *, helper: bool) -> Iterator[PhoneChecks]:
    """Checks for one file: through a helper process when ``helper`` is true and one can be
    started, else in this process. The helper is stopped on exit."""
    pool = _start_helper(validator) if helper else None
    if pool is None:
        yield _Inline(validator)
        return
    checks = _Helper(validator, pool)
    try:
        yield checks
    finally:
        checks.close()


def _start_helper(validator: PhoneValidator) -> ProcessPoolExecutor | None:
    """A one-process pool whose process holds a validator like ``validator``, or None when
    no process can be started here (a daemonic process, a sandbox refusing fork)."""
    try:
        # spawn, not fork: this process may run threads (an embedded worker, a web server).
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_in_helper,
            initargs=(validator.region,),
        )
    except (OSError, AssertionError, ValueError) as exc:
        log.info("phones checked in this process (no helper process: %s)", exc)
        return None


_helper_validator: PhoneValidator | None = None  # set in the helper process by its initializer


def _start_in_helper(region: str | None) -> None:
    global _helper_validator
    _helper_validator = PhoneValidator(region)
    # The helper only runs checks, which make no reference cycles; the cyclic collector
    # would otherwise walk every verdict tuple of a block, again and again (measured: the
    # checks took 75% longer with it on).
    gc.disable()


def _check_in_helper(joined: str) -> Encoded:
    assert _helper_validator is not None, "the helper's initializer did not run"
    return encode(_helper_validator, joined.split(_CELLS))


def _phones(block: Block, phone: int) -> list[str]:
    """The phone cell of each row of a block ("" for a row too short to have one)."""
    try:  # in C; a row too short for the phone column (rare) takes the Python way
        return list(map(itemgetter(phone), map(itemgetter(1), block)))
    except IndexError:
        return [cells[phone] if len(cells) > phone else "" for _, cells in block]
