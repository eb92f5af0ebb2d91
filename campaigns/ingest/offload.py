"""Checking a large file in a helper process while this process stores its rows.

Storing a million recipients costs this process about as much as reading and checking
them (SQLite inserts, or formatting PostgreSQL's COPY). ``check_in_helper`` runs
``check_file`` in a helper process whose sink sends each block of checked rows down a
pipe; this process gives every block to the real sink (the database writer) as it
arrives. On two cores the reading and checking of block k+1 overlap the storing of
block k, and the database transaction stays this process's own: a file refused
half-way, or a helper that dies, still leaves nothing behind once the caller rolls back.

The pipe is the only buffer: a helper ahead of the storing waits on a full pipe, so
memory does not grow with the file. Only what checking needs crosses to the helper:
the settings without their secrets.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import traceback
from multiprocessing.connection import Connection
from pathlib import Path

from campaigns.ingest.filecheck import IngestOptions, check_file
from campaigns.ingest.readers import FileRefused
from campaigns.ingest.recipients import Row, Sink
from campaigns.ingest.report import IngestReport
from campaigns.settings import Settings

JOIN_SECONDS = 10.0


class HelperLost(RuntimeError):
    """The helper process stopped before it finished checking the file."""


def check_in_helper(path: Path, options: IngestOptions, settings: Settings, sink: Sink) -> IngestReport:
    """``check_file(path, options, settings, sink=sink)``, the checking done in a helper process.

    Raises what check_file raises (FileRefused, ValueError), HelperLost when the helper
    process dies or cannot start, and RuntimeError for an unexpected error in it.
    """
    context = multiprocessing.get_context("spawn")  # this process may run threads: never fork
    receiving, sending = context.Pipe(duplex=False)
    try:
        process = context.Process(
            target=_check_here, args=(sending, str(path), options, _without_secrets(settings)), daemon=True
        )
        process.start()
    except (OSError, AssertionError, ValueError) as exc:  # no child processes here (a daemonic process)
        receiving.close()
        sending.close()
        raise HelperLost(f"no helper process: {exc}") from exc
    sending.close()  # the helper's end: EOF here when the helper goes
    try:
        return _receive(receiving, sink)
    finally:
        receiving.close()
        process.join(JOIN_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()


def _receive(receiving: Connection, sink: Sink) -> IngestReport:
    while True:
        try:
            message = receiving.recv()
        except EOFError:
            raise HelperLost("the helper process checking the file stopped") from None
        kind = message[0]
        if kind == "write":
            sink.write(message[1], message[2])
        elif kind == "start":
            sink.start(message[1])
        elif kind == "done":
            return message[1]
        elif kind == "refused":
            raise message[1]
        elif kind == "invalid":
            raise ValueError(message[1])
        else:
            raise RuntimeError(f"checking the file failed in the helper process:\n{message[1]}")


def _without_secrets(settings: Settings) -> Settings:
    """Settings for checking only: the fields kept out of repr (keys, passwords) emptied."""
    secret = {field.name: None for field in dataclasses.fields(settings) if not field.repr}
    return dataclasses.replace(settings, **secret, check_helper_bytes=0)


class _Shipping:
    """A Sink sending its calls down the pipe."""

    def __init__(self, sending: Connection):
        self._send = sending.send

    def start(self, segments: int | None) -> None:
        self._send(("start", segments))

    def write(self, valid: list[Row], others: list[Row]) -> None:
        self._send(("write", valid, others))


def _check_here(sending: Connection, path: str, options: IngestOptions, settings: Settings) -> None:
    """The helper process: check the file, ship its rows, then the report or the error."""
    try:
        report = check_file(Path(path), options, settings, sink=_Shipping(sending))
        message: tuple = ("done", report)
    except FileRefused as exc:
        message = ("refused", exc)
    except ValueError as exc:
        message = ("invalid", str(exc))
    except BrokenPipeError:  # this process stopped listening: nothing to tell
        return
    except Exception:  # noqa: BLE001 - handed to the caller, who raises it
        message = ("crash", traceback.format_exc())
    try:
        sending.send(message)
    except (BrokenPipeError, OSError):
        pass
    finally:
        sending.close()
