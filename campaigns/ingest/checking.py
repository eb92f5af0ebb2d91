"""The phone checks of a file's rows, block by block, in this process or in a helper process.

Checking phones is the largest single cost of checking a large file. With
``phone_checks(validator, helper=True)`` one helper process checks the phone cells of
the blocks ahead while this process reads, deduplicates and stores; when this process
would wait for the helper, it checks a block the helper has not been given instead, so
the two share the checks as their speeds allow. Without a helper (small files, one CPU,
a process that may not start children) every block is checked here.

Either way ``checked_blocks`` yields the same blocks with the same verdicts, because the
helper runs the same ``PhoneValidator.digits_many``. Cells cross the pipe as one string
(joined by NUL) and verdicts as the phones' numbers in one ``array('q')`` (0 for an
invalid cell) with the list of reasons of the invalid cells: 30 times cheaper to pickle
than a list of tuples, and the numbers arrive as the ints that duplicates are found by.

A helper that dies (killed, out of memory) is not fatal: the pipe ends, and the blocks it
had not answered are checked here, as is the rest of the file.
"""

from __future__ import annotations

import gc
import logging
import os
from array import array
import multiprocessing
import queue
import threading
from collections import deque
from contextlib import contextmanager
from itertools import islice
from multiprocessing.connection import Connection
from operator import itemgetter
from typing import Iterator, Sequence

from campaigns.ingest.phones import PhoneValidator

log = logging.getLogger(__name__)

BATCH_ROWS = 10_000
INVALID = 0  # the number given for an invalid cell: no valid phone number is 0
READ_AHEAD = 4  # blocks read ahead of the one being stored
HELPER_QUEUE = 2  # blocks given to the helper and not yet answered
JOIN_SECONDS = 5.0
PIPE_BYTES = 1024 * 1024
_CELLS = "\x00"  # joins a block's phone cells: the readers refuse NUL in any cell

Encoded = tuple[array, list[str]]  # (each cell's phone as a number, INVALID when invalid; reasons of the invalid, in order)
Block = list[tuple[int, list[str]]]  # (row number, cells) as the readers give them


def encode(validator: PhoneValidator, raws: Sequence[str]) -> Encoded:
    """The verdicts of ``raws`` in their compact form (see Encoded)."""
    digits, reasons = validator.digits_many(raws, invalid="0")
    return array("q", map(int, digits)), reasons


class PhoneChecks:
    """Checks blocks of phone cells here; see _Helper for checks in a helper process."""

    def __init__(self, validator: PhoneValidator):
        self._validator = validator

    def check(self, raws: list[str]) -> Encoded:
        return encode(self._validator, raws)

    def give(self, raws: list[str]) -> bool:
        """Hand a block to the helper: False when there is none (check it here)."""
        return False

    def ready(self) -> bool:
        """Whether the helper's next answer can be taken without waiting."""
        return False

    def take(self) -> Encoded | None:
        """The helper's answer to the oldest block it was given (waiting for it), or None
        when the helper is gone: the blocks it was given must then be checked here."""
        return None


class _Helper(PhoneChecks):
    """Checks in one helper process, which answers the blocks it is given in order.

    Blocks go down the pipe from a thread of their own: this process never waits to send,
    so a helper waiting to send an answer can never wait on this process in turn.
    """

    def __init__(self, validator: PhoneValidator, process, sending: Connection, receiving: Connection):
        super().__init__(validator)
        self._process = process
        self._sending: Connection | None = sending
        self._receiving = receiving
        self.answered = 0  # blocks the helper checked
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._sender = threading.Thread(target=self._send_all, args=(sending,), name="phone-checks-sender", daemon=True)
        self._sender.start()

    def give(self, raws: list[str]) -> bool:
        if self._sending is None:
            return False
        joined = _CELLS.join(raws)
        if joined.count(_CELLS) != len(raws) - 1:  # a cell holding the separator: here
            return False
        self._outbox.put(joined)
        return True

    def _send_all(self, sending: Connection) -> None:
        while True:
            joined = self._outbox.get()
            if joined is None:
                break
            try:
                sending.send(joined)
            except OSError:  # the helper is gone: take() finds out
                break
        sending.close()  # the helper's end of input: it stops

    def ready(self) -> bool:
        try:
            return self._sending is not None and self._receiving.poll()
        except OSError:
            return True  # take() finds out what happened

    def take(self) -> Encoded | None:
        if self._sending is None:
            return None
        try:
            answer = self._receiving.recv()
        except (EOFError, OSError):  # the pipe ended: the helper died
            self._lose()
            return None
        self.answered += 1
        return answer

    def close(self) -> None:
        self._sending = None
        self._outbox.put(None)
        self._sender.join(JOIN_SECONDS)
        self._receiving.close()
        self._process.join(JOIN_SECONDS)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    def _lose(self) -> None:
        log.warning("the phone-checking helper process stopped; checking in this process")
        self._sending = None


def checked_blocks(rows: Iterator[tuple[int, list[str]]], phone: int, checks: PhoneChecks) -> Iterator[
    tuple[Block, list[str], list[int], Iterator[str]]
]:
    """``(block, raws, numbers, reasons)`` for each block of ``rows``, in file order.

    ``raws`` are the blocks' phone cells ("" for a row too short to have one), ``numbers``
    the normalized phone of each row as an int (its digits; INVALID when invalid),
    ``reasons`` the reasons of the invalid rows in order. Blocks are read READ_AHEAD ahead; the earliest go to the helper.
    """
    pending: deque[list] = deque()  # [block, raws, verdicts or None, given to the helper]
    given: deque[list] = deque()  # the items given to the helper, oldest first
    exhausted = False
    while True:
        while not exhausted and len(pending) < READ_AHEAD:
            block = list(islice(rows, BATCH_ROWS))
            if not block:
                exhausted = True
                break
            pending.append([block, _phones(block, phone), None, False])
        if not pending:
            return
        for item in pending:
            if len(given) >= HELPER_QUEUE:
                break
            if item[2] is None and not item[3] and checks.give(item[1]):
                item[3] = True
                given.append(item)
        head = pending[0]
        while head[2] is None:
            if head[3]:
                # Rather than wait for the helper, check here the latest block it was not given.
                if not checks.ready() and _check_latest(pending, checks):
                    continue
                _take(given, checks)
            else:
                head[2] = checks.check(head[1])
        pending.popleft()
        numbers, reasons = head[2]
        yield head[0], head[1], numbers.tolist(), iter(reasons)


def _take(given: deque[list], checks: PhoneChecks) -> None:
    """The helper's next answer to its oldest block; when it is gone, its blocks come back."""
    answer = checks.take()
    if answer is None:
        for item in given:
            item[3] = False
        given.clear()
        return
    given.popleft()[2] = answer


def _check_latest(pending: deque[list], checks: PhoneChecks) -> bool:
    for item in reversed(pending):
        if item[2] is None and not item[3]:
            item[2] = checks.check(item[1])
            return True
    return False


@contextmanager
def phone_checks(validator: PhoneValidator, *, helper: bool) -> Iterator[PhoneChecks]:
    """Checks for one file: with a helper process when ``helper`` is true and one can be
    started, else here. The helper is stopped on exit."""
    checks = _start_helper(validator) if helper else None
    if checks is None:
        yield PhoneChecks(validator)
        return
    try:
        yield checks
    finally:
        checks.close()


def inline_checks(validator: PhoneValidator) -> PhoneChecks:
    """Checks run in this process."""
    return PhoneChecks(validator)


def _start_helper(validator: PhoneValidator) -> _Helper | None:
    """A helper process checking like ``validator``, or None when none can be started here
    (a daemonic process, a sandbox refusing new processes)."""
    context = multiprocessing.get_context("spawn")  # this process may run threads: never fork
    to_helper, helper_input = context.Pipe(duplex=False)
    helper_output, from_helper = context.Pipe(duplex=False)
    try:
        process = context.Process(
            target=_serve, args=(validator.region, to_helper, from_helper), name="phone-checks", daemon=True
        )
        process.start()
    except (OSError, AssertionError, ValueError) as exc:
        for end in (to_helper, helper_input, helper_output, from_helper):
            end.close()
        log.info("phones checked in this process (no helper process: %s)", exc)
        return None
    # Only the helper keeps its ends: when it dies, reading from it ends instead of waiting.
    to_helper.close()
    from_helper.close()
    for end in (helper_input, helper_output):
        _widen(end)
    return _Helper(validator, process, helper_input, helper_output)


def _widen(end: Connection) -> None:
    """A pipe holding a whole block (~150 KiB) instead of Linux's 64 KiB: one write and one
    wake-up a block rather than three (best effort: the system may refuse)."""
    try:
        import fcntl  # POSIX only

        fcntl.fcntl(end.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError, ValueError):
        pass


def _serve(region: str | None, cells: Connection, verdicts: Connection) -> None:
    """The helper process: answer each block of cells, in order, until its input ends."""
    # Checks make no reference cycles; the cyclic collector would only walk every verdict
    # tuple of a block again and again (measured: the checks took 75% longer with it on).
    gc.disable()
    validator = PhoneValidator(region)
    try:
        while True:
            try:
                joined = cells.recv()
            except EOFError:
                break
            verdicts.send(encode(validator, joined.split(_CELLS)))
    except (BrokenPipeError, ConnectionResetError):
        pass  # this process stopped listening
    # Every answer is in the pipe and nothing else is held: exit without tearing down the
    # interpreter's heap (~60 ms the other process would wait for in its join).
    verdicts.close()
    os._exit(0)


def _phones(block: Block, phone: int) -> list[str]:
    """The phone cell of each row of a block ("" for a row too short to have one)."""
    try:  # in C; a row too short for the phone column (rare) takes the Python way
        return list(map(itemgetter(phone), map(itemgetter(1), block)))
    except IndexError:
        return [cells[phone] if len(cells) > phone else "" for _, cells in block]
