"""An interrupted embedded campaign on the sandbox, as a user meets it: Ctrl-C during a
large submit, another file submitted after it, then `resume` or `cancel` of the first.
Every command is the real console command in its own process, as a user runs them."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

CAMPAIGNS = str(Path(sys.executable).with_name("campaigns"))


@pytest.fixture
def env(sqlite_url) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CAMPAIGNS_", "MOBIZON_", "SMSC_"))}
    return {**clean, "CAMPAIGNS_DATABASE_URL": sqlite_url, "CAMPAIGNS_POLL_SECONDS": "0.2",
            "CAMPAIGNS_CHUNK_SIZE": "50", "CAMPAIGNS_STALL_SECONDS": "2"}


def run(env, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    done = subprocess.run([CAMPAIGNS, *argv], env=env, capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in done.stdout + done.stderr
    return done


def phones_csv(path: Path, count: int, *, first: int) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["phone", "name"])
        writer.writerows((f"+7701{first + i:07d}", f"N{i}") for i in range(count))
    return path


def chunks_added(sqlite_url: str) -> int:
    engine = create_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            return conn.scalar(text("SELECT count(*) FROM chunks WHERE state = 'added'")) or 0
    except Exception:  # the tables may not exist yet
        return 0
    finally:
        engine.dispose()


def interrupt_while_adding(env, sqlite_url, source: Path, how: int) -> subprocess.CompletedProcess:
    """Start `submit SOURCE` and send it ``how`` (SIGINT, SIGKILL) once some chunks are in."""
    proc = subprocess.Popen([CAMPAIGNS, "submit", str(source), "--text", "Hi {name}"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while chunks_added(sqlite_url) < 5:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(how)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def status(env, campaign_id: int) -> dict:
    done = run(env, "status", str(campaign_id), "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_an_interrupted_campaign_never_reaches_the_next_one_and_resume_finishes_it(env, sqlite_url, tmp_path):
    # Given a large submit on the embedded sandbox, interrupted with Ctrl-C while adding
    big = phones_csv(tmp_path / "big.csv", 20_000, first=0)
    stopped = interrupt_while_adding(env, sqlite_url, big, signal.SIGINT)
    assert stopped.returncode == 130
    assert "`campaigns resume 1` continues it" in stopped.stdout.replace("\n", "")
    first = status(env, 1)
    assert first["state"] == "adding" and 0 < first["chunks"]["added"] < first["chunks"]["total"]
    # When another file of 5 recipients is submitted in a new process
    small = phones_csv(tmp_path / "small.csv", 5, first=9_000_000)
    second_run = run(env, "submit", str(small), "--text", "Hello {name}", "--json")
    assert second_run.returncode == 0, second_run.stderr
    second = json.loads(second_run.stdout)
    # Then it is its own campaign at the sandbox, with only its own 5 recipients
    assert second["state"] == "done"
    assert second["provider_campaign_id"] != first["provider_campaign_id"]
    assert second["recipients"]["added"] == 5 and second["counters"]["totalMsgNum"] == 5
    # When the first campaign is resumed
    resumed = run(env, "resume", "1", "--json", timeout=240)
    # Then it finishes in its own provider campaign with every recipient sent once
    assert resumed.returncode == 0, resumed.stderr
    first = json.loads(resumed.stdout)
    assert first["state"] == "done"
    assert first["recipients"]["added"] == 20_000 and first["counters"]["totalMsgNum"] == 20_000
    assert first["chunks"]["failed"] == 0
    # and the second campaign kept its 5
    assert status(env, second["id"])["counters"]["totalMsgNum"] == 5
    # and the status table counts the messages that did not arrive, as the counters do
    table = " ".join(run(env, "status", "1").stdout.split())
    c = first["counters"]
    assert (f"not delivered {c['totalUndelivMsgNum']} undelivered, {c['totalExpiredMsgNum']} expired, "
            f"{c['totalRejectdMsgNum']} rejected") in table
    assert c["totalUndelivMsgNum"] > 0  # the sandbox's mix: 4 % undelivered


def test_an_interrupted_campaign_can_be_cancelled_and_the_sandbox_deletes_it(env, sqlite_url, tmp_path):
    big = phones_csv(tmp_path / "big.csv", 20_000, first=0)
    assert interrupt_while_adding(env, sqlite_url, big, signal.SIGINT).returncode == 130
    cancelled = run(env, "cancel", "1")
    assert cancelled.returncode == 0, cancelled.stderr
    pid = status(env, 1)["provider_campaign_id"]
    assert f"campaign 1 cancelled: campaign {pid} deleted at the provider" in cancelled.stdout
    assert status(env, 1)["state"] == "cancelled" and status(env, 1)["provider_status"] is None
    assert "provider:" not in run(env, "status", "1").stdout
    again = run(env, "resume", "1")
    assert again.returncode == 1 and "campaign 1 is cancelled" in again.stderr


def test_a_campaign_whose_sandbox_was_killed_fails_with_the_reason_instead_of_mixing(env, sqlite_url, tmp_path):
    # Given a submit killed outright: its sandbox could not save the campaign
    big = phones_csv(tmp_path / "big.csv", 20_000, first=0)
    assert interrupt_while_adding(env, sqlite_url, big, signal.SIGKILL).returncode == -signal.SIGKILL
    # When another file is submitted, then the first resumed
    small = phones_csv(tmp_path / "small.csv", 5, first=9_000_000)
    second = json.loads(run(env, "submit", str(small), "--text", "Hello {name}", "--json").stdout)
    resumed = run(env, "resume", "1", "--json", timeout=240)
    # Then the first fails, saying why, and none of its recipients reached the second
    assert resumed.returncode == 1
    first = json.loads(resumed.stdout)
    assert first["state"] == "failed"
    assert "no longer at the provider" in first["error"] and "submit the file again" in first["error"]
    assert second["provider_campaign_id"] != first["provider_campaign_id"]
    assert status(env, second["id"])["counters"]["totalMsgNum"] == 5


def test_a_deferred_submit_returns_once_the_provider_has_it_and_watch_follows_it(env, sqlite_url, tmp_path):
    # Given a file sent three hours from now (the sandbox: 18 s)
    from datetime import datetime, timedelta

    later = (datetime.now() + timedelta(hours=3)).strftime("%Y-%m-%d %H:%M:%S")
    small = phones_csv(tmp_path / "small.csv", 5, first=0)
    # When it is submitted
    started = time.monotonic()
    done = run(env, "submit", str(small), "--text", "Hi {name}", "--deferred-to", later, timeout=60)
    # Then the command returns once the campaign is at the provider, saying when it starts
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 60
    flat = " ".join(done.stdout.split())
    assert "provider: DEFERRED" in flat
    assert f"starts it at {later} (this computer's local time)" in flat and "`campaigns watch 1`" in flat
    assert status(env, 1)["state"] == "running"
    # When `watch` runs (the sandbox's clock reaches the start time within seconds)
    watched = run(env, "watch", "--json", timeout=240)
    # Then it follows the campaign to the end
    assert watched.returncode == 0, watched.stderr
    (final,) = json.loads(watched.stdout)
    assert final["state"] == "done" and final["counters"]["totalMsgNum"] == 5
    # and with nothing left on its way, watch says so
    idle = run(env, "watch")
    assert idle.returncode == 0 and "nothing to watch" in idle.stdout
