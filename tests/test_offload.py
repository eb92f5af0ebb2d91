"""A file checked in a helper process while this process stores (campaigns.ingest.offload)."""

from __future__ import annotations

import multiprocessing
import os
import signal

import pytest

from campaigns.ingest.filecheck import IngestOptions, check_file
from campaigns.ingest.offload import HelperLost, _without_secrets, check_in_helper
from campaigns.ingest.readers import FileRefused
from campaigns.settings import Settings

SETTINGS = Settings(chunk_size=500)


class Recording:
    """A Sink keeping every call, optionally killing the helper on the first write."""

    def __init__(self, kill_helper: bool = False):
        self.calls: list[tuple] = []
        self.kill_helper = kill_helper

    def start(self, segments):
        self.calls.append(("start", segments))

    def write(self, valid, others):
        self.calls.append(("write", list(valid), list(others)))
        if self.kill_helper:
            for child in multiprocessing.active_children():
                os.kill(child.pid, signal.SIGKILL)


def _file(tmp_path, rows: int):
    lines = ["phone;name"]
    for i in range(rows):
        lines.append("нет" if i % 101 == 7 else f"+7701{i % (rows - 50):07d};Имя {i}")
    path = tmp_path / "people.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("text", ["Привет", "Привет, {name}"])
def test_the_helper_gives_the_sink_what_checking_here_gives_it(tmp_path, text):
    # Given a file of several blocks with invalid and duplicate rows
    path = _file(tmp_path, 25_000)
    options = IngestOptions(text=text, country="KZ")
    here, there = Recording(), Recording()
    # When it is checked here, and in a helper process
    expected = check_file(path, options, SETTINGS, sink=here)
    got = check_in_helper(path, options, SETTINGS, there)
    # Then the sink got the same calls with the same rows, and the reports are equal
    assert there.calls == here.calls
    assert got == expected
    assert got.duplicates > 40 and got.invalid > 200


def test_a_refusal_in_the_helper_is_raised_here_naming_the_row(tmp_path):
    path = tmp_path / "broken.csv"
    path.write_bytes(b"phone\n" + b"".join(b"+7701%07d\n" % i for i in range(20_000)) + b"+7701\xff\n")
    with pytest.raises(FileRefused, match=r"broken.csv, row 20002: cannot be decoded"):
        check_in_helper(path, IngestOptions(text="Hi", encoding="utf-8"), SETTINGS, Recording())


def test_options_that_make_no_sense_are_raised_here(tmp_path):
    with pytest.raises(ValueError, match="unknown region"):
        check_in_helper(_file(tmp_path, 10), IngestOptions(text="Hi", country="XX"), SETTINGS, Recording())


def test_a_helper_killed_half_way_is_reported_lost(tmp_path):
    # Given a helper process checking a long file, When it is killed after its first block
    sink = Recording(kill_helper=True)
    # Then this process learns it, rather than waiting or taking a partial file for whole
    with pytest.raises(HelperLost):
        check_in_helper(_file(tmp_path, 60_000), IngestOptions(text="Hi", country="KZ"), SETTINGS, sink)


def test_the_helper_gets_no_secrets():
    settings = Settings(mobizon_api_key="key-123", smsc_password="pw", smsc_api_key="k2", check_helper_bytes=5)
    given = _without_secrets(settings)
    assert (given.mobizon_api_key, given.smsc_password, given.smsc_api_key) == (None, None, None)
    assert given.check_helper_bytes == 0  # the helper checks its phones itself
    assert given.max_rows == settings.max_rows
