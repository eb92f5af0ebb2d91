"""The pipeline's commands as a user runs them: exit codes, one-line refusals, JSON shapes,
the embedded mode end to end on the sandbox, and no key or traceback in any output."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from campaigns.cli import main
from campaigns.simulator import SimConfig, SimulatorServer
from tests import services

CAMPAIGNS = str(Path(sys.executable).with_name("campaigns"))
STATUS_KEYS = {"id", "name", "provider", "provider_campaign_id", "state", "provider_status", "recipients",
               "chunks", "counters", "error"}


@pytest.fixture
def env(monkeypatch, sqlite_url):
    """A clean environment: the test's SQLite database, no broker, fast timing."""
    import os

    for name in list(os.environ):
        if name.startswith(("CAMPAIGNS_", "MOBIZON_", "SMSC_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CAMPAIGNS_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("CAMPAIGNS_POLL_SECONDS", "0.2")
    monkeypatch.setenv("CAMPAIGNS_CHUNK_SIZE", "5")
    return monkeypatch


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run `campaigns ARGV` in this process; returns (exit code, stdout, stderr)."""
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def recipients_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["phone", "name"])
        writer.writerows(rows)
    return path


GOOD_ROWS = [(f"+7 701 {i:03d} 45 67", f"Name{i}") for i in range(12)] + [("12345", "Bad"), ("+7 701 000 45 67", "Dup")]


def test_submit_runs_in_process_to_done_and_status_list_report_follow(env, capsys, tmp_path):
    # Given a template file of 12 valid rows, one invalid and one duplicate
    source = recipients_csv(tmp_path / "people.csv", GOOD_ROWS)
    # When it is submitted with no broker
    code, out, err = cli(capsys, "submit", str(source), "--text", "Hi {name}", "--json")
    # Then the campaign ran here to the end and the JSON says so
    assert code == 0, err
    printed = json.loads(out)
    assert printed["state"] == "done" and STATUS_KEYS <= set(printed)
    campaign_id = printed["id"]
    # and `status --json` has the keys the issue names, with exact counts
    code, out, _ = cli(capsys, "status", str(campaign_id), "--json")
    status = json.loads(out)
    assert code == 0 and STATUS_KEYS <= set(status)
    assert status["recipients"] == {"rows": 14, "valid": 12, "invalid": 1, "duplicates": 1, "added": 12,
                                    "rejected_by_provider": 0}
    assert {"total": 3, "added": 3, "failed": 0} == {k: status["chunks"][k] for k in ("total", "added", "failed")}
    assert status["counters"]["totalMsgNum"] == 12 and status["error"] is None
    # and the table, the list and the report agree
    code, out, _ = cli(capsys, "status", str(campaign_id))
    assert code == 0 and "done" in out
    code, out, _ = cli(capsys, "list", "--json")
    assert code == 0 and [c["id"] for c in json.loads(out)] == [campaign_id]
    report = tmp_path / "report.csv"
    code, out, _ = cli(capsys, "report", str(campaign_id), "-o", str(report))
    assert code == 0 and str(report) in out
    with report.open(encoding="utf-8-sig") as fh:
        assert len(list(csv.reader(fh))) == 1 + 14
    code, _, _ = cli(capsys, "report", str(campaign_id), "-o", str(tmp_path / "report.xlsx"))
    assert code == 0 and (tmp_path / "report.xlsx").stat().st_size > 0


def test_a_refused_file_exits_1_with_one_line_and_creates_nothing(env, capsys, tmp_path):
    source = tmp_path / "nobody.csv"
    source.write_text("city,name\nAlmaty,Dana\n", encoding="utf-8")
    code, out, err = cli(capsys, "submit", str(source), "--text", "Hi {name}")
    assert code == 1
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "nobody.csv" in err
    code, out, _ = cli(capsys, "list", "--json")
    assert json.loads(out) == []


@pytest.mark.parametrize("options", [
    ["--placeholders", "sometimes"],
    ["--mclass", "5"],
    ["--rate-limit", "10"],
    ["--provider", "carrier-pigeon"],
])
def test_usage_errors_exit_2(env, capsys, tmp_path, options):
    source = recipients_csv(tmp_path / "people.csv", GOOD_ROWS)
    code, _, err = cli(capsys, "submit", str(source), "--text", "Hi {name}", *options)
    assert code == 2, err


def test_mobizon_without_a_key_is_refused_before_reading_the_file(env, capsys, tmp_path):
    # (a file that exists: a missing one is refused first, as `validate` refuses it)
    unread = tmp_path / "unread.csv"
    unread.write_bytes(b"\xff" * 10)
    code, _, err = cli(capsys, "submit", str(unread), "--text", "Hi", "--provider", "mobizon")
    assert code == 2 and "MOBIZON_API_KEY" in err


def test_unknown_campaigns_and_impossible_cancels_exit_1(env, capsys, tmp_path):
    assert cli(capsys, "status", "999")[0] == 1
    assert cli(capsys, "report", "999", "-o", str(tmp_path / "r.csv"))[0] == 1
    code, _, err = cli(capsys, "cancel", "999")
    assert code == 1 and err.startswith("error: ")
    code, _, err = cli(capsys, "report", "1", "-o", str(tmp_path / "r.txt"))
    assert code == 2 and ".csv or .xlsx" in err
    # A campaign that is done cannot be cancelled
    source = recipients_csv(tmp_path / "people.csv", GOOD_ROWS[:3])
    code, out, _ = cli(capsys, "submit", str(source), "--text", "Hi {name}", "--json")
    assert code == 0
    code, _, err = cli(capsys, "cancel", str(json.loads(out)["id"]))
    assert code == 1 and "already done" in err


def test_worker_and_beat_need_a_broker(env, capsys):
    for command in ("worker", "beat"):
        code, _, err = cli(capsys, command)
        assert code == 2 and "CAMPAIGNS_BROKER_URL" in err


def test_a_rejected_key_fails_the_campaign_and_is_never_printed(env, capsys, tmp_path):
    # Given a Mobizon (the simulator) that accepts another key than ours
    secret = "clitest" + "k" * 33
    with SimulatorServer(SimConfig(api_key="another-key-entirely-0000000000000", speed=600.0, moderation=False)) as sim:
        env.setenv("MOBIZON_API_KEY", secret)
        env.setenv("MOBIZON_API_URL", sim.base_url)
        source = recipients_csv(tmp_path / "people.csv", GOOD_ROWS[:4])
        # When a campaign is submitted to it
        code, out, err = cli(capsys, "submit", str(source), "--text", "Hi {name}", "--provider", "mobizon")
    # Then it fails with the reason, exit 1, and the key is nowhere in the output
    assert code == 1
    assert "failed" in out and secret not in out + err


@pytest.mark.redis
def test_with_a_broker_submit_enqueues_and_returns(env, capsys, tmp_path):
    import redis

    url = services.redis_url().rsplit("/", 1)[0] + "/9"  # a database only this test uses (flushed)
    client = redis.Redis.from_url(url)
    client.flushdb()
    env.setenv("CAMPAIGNS_BROKER_URL", url)
    try:
        source = recipients_csv(tmp_path / "people.csv", GOOD_ROWS)
        env.setenv("CAMPAIGNS_SANDBOX_URL", "http://127.0.0.1:9")  # the workers' simulator (not needed here)
        code, out, err = cli(capsys, "submit", str(source), "--text", "Hi {name}", "--json")
        assert code == 0, err
        printed = json.loads(out)
        # Then the campaign waits for a worker, its first task in the queue carries its id only
        assert printed["state"] == "queued"
        (message,) = [json.loads(m) for m in client.lrange("campaigns.work", 0, -1)]
        assert message["headers"]["task"] == "campaigns.create"
        assert message["headers"]["argsrepr"] == f"[{printed['id']}]"
    finally:
        client.flushdb()
        client.close()


def test_demo_runs_on_a_fresh_checkout_with_the_default_sqlite(tmp_path):
    # Given a folder with no database and an environment with no settings
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAMPAIGNS_", "MOBIZON_"))}
    # When the README's first command runs there
    done = subprocess.run([CAMPAIGNS, "demo", "--rows", "300", "--dir", str(tmp_path / "demo")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=240)
    # Then it migrates ./campaigns.db itself, runs the campaign to done and writes the report
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "campaigns.db").exists()
    report = tmp_path / "demo" / "report.csv"
    assert f"written to {report}" in done.stdout.replace("\n", "")
    with report.open(encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == 1 + 300
    assert "Traceback" not in done.stdout + done.stderr
