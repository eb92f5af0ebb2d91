"""``campaigns watch`` and ``campaigns serve`` watching a folder, as real processes: the
campaigns run to the end on the sandbox, a process is killed after its claim, two
processes race over one folder, a 100,000-row XLSX is dropped."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from campaigns.store.drops import Drop
from campaigns.store.models import Campaign
from tests.cluster import CAMPAIGNS, clean_env
from tests.serve import Server, embedded_env
from tests.watch_helpers import write_csv, write_json

pytestmark = pytest.mark.integration


def run(env, *argv: str, timeout: float = 180) -> subprocess.CompletedProcess:
    done = subprocess.run([CAMPAIGNS, *argv], env=env, capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def counts(url: str) -> tuple[int, list[tuple]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            campaigns = conn.scalar(select(func.count()).select_from(Campaign))
            drops = conn.execute(select(Drop.path, Drop.state, Drop.campaign_id).order_by(Drop.path)).all()
    finally:
        engine.dispose()
    return campaigns, [tuple(d) for d in drops]


@pytest.fixture
def inbox(tmp_path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def env(tmp_path, inbox):
    return embedded_env(tmp_path, CAMPAIGNS_WATCH=inbox.as_uri(), CAMPAIGNS_WATCH_SETTLE_SECONDS="0.3",
                        CAMPAIGNS_WATCH_SECONDS="0.5")


def test_watch_once_runs_the_campaigns_it_takes_to_the_end_with_results_beside_the_files(env, inbox):
    # Given a good drop (with a few bad rows), a drop with a broken manifest, and a file waiting for settings
    (inbox / "promo.csv").write_text("phone,name\n" + "".join(f"+7701{i:07d},N{i}\n" for i in range(40))
                                     + "not a phone,X\n", encoding="utf-8")
    write_json(inbox / "promo.json", {"text": "Hi {name}", "name": "Spring promo"})
    write_csv(inbox / "broken.csv", 3)
    write_json(inbox / "broken.json", '{"text": "Hi"')
    write_csv(inbox / "later" / "waits.csv", 3)
    time.sleep(0.4)
    # When watch --once runs
    done = run(env, "watch", "--once", "--json")
    # Then the good one's campaign ran to the end, the broken one is rejected (exit 1 says so)
    assert done.returncode == 1, done.stderr
    drops = {d["path"]: d for d in json.loads(done.stdout)}
    assert set(drops) == {"promo.csv", "broken.csv"}
    assert (drops["promo.csv"]["state"], drops["promo.csv"]["campaign_state"]) == ("done", "done")
    assert drops["broken.csv"]["state"] == "rejected"
    assert drops["broken.csv"]["error"].startswith("broken.json: not valid JSON")
    assert files(inbox) == [
        "later/waits.csv", "processed/promo.csv", "processed/promo.json", "processed/promo.result.json",
        "rejected/broken.csv", "rejected/broken.error.txt", "rejected/broken.json", "reports/promo.report.csv",
    ]
    result = json.loads((inbox / "processed/promo.result.json").read_text())
    assert result["state"] == "done" and result["name"] == "Spring promo" and result["error"] is None
    assert result["recipients"]["valid"] == 40 and result["recipients"]["invalid"] == 1
    assert result["report"] == "reports/promo.report.csv"
    report = (inbox / "reports/promo.report.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(report) == 42 and "invalid" in report[-1]
    # and --list shows each group, the waiting file saying why
    listed = run(env, "watch", "--list", "--json")
    assert listed.returncode == 0, listed.stderr
    (location,) = json.loads(listed.stdout)
    assert location["counts"] == {"waiting": 1, "in_progress": 0, "processed": 1, "rejected": 1}
    assert location["waiting"][0]["reason"].startswith("no settings: add waits.json or _campaign.json")
    table = run(env, "watch", "--list")
    assert "later/waits.csv" in table.stdout and "reports/promo.report.csv" in table.stdout


def test_a_process_killed_after_its_claim_leaves_the_drop_to_the_next_scan(env, inbox, tmp_path):
    # Given a drop, and a watch process killed (SIGKILL) right after it claimed it
    write_csv(inbox / "claimed.csv", 12)
    write_json(inbox / "claimed.json", {"text": "Once"})
    time.sleep(0.4)
    killed = run({**env, "CAMPAIGNS_WATCH_KILL_AFTER_CLAIM": "1"}, "watch", "--once")
    assert killed.returncode == -9
    url = env["CAMPAIGNS_DATABASE_URL"]
    assert counts(url) == (0, [("claimed.csv", "claimed", None)])
    assert files(inbox) == ["claimed.csv", "claimed.json"]
    # When the next watch scans
    done = run(env, "watch", "--once")
    # Then it takes the drop: one campaign, run to the end
    assert done.returncode == 0, done.stdout + done.stderr
    campaigns, drops = counts(url)
    assert campaigns == 1 and drops == [("claimed.csv", "done", 1)]
    assert json.loads((inbox / "processed/claimed.result.json").read_text())["state"] == "done"


def test_two_watch_processes_racing_over_one_folder_take_each_drop_once(tmp_path, inbox, pg_url):
    # Given ten drops, and two watch processes on one PostgreSQL database and one sandbox
    from campaigns.simulator import SimConfig, SimulatorServer

    for i in range(10):
        write_csv(inbox / f"d{i}.csv", 8, first=i * 100)
    write_json(inbox / "_campaign.json", {"text": "Race {name}"})
    time.sleep(0.4)
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        before = conn.scalar(select(func.max(Campaign.id))) or 0
    engine.dispose()
    with SimulatorServer(SimConfig.sandbox()) as sandbox:
        env = clean_env(CAMPAIGNS_DATABASE_URL=pg_url, CAMPAIGNS_DATA_DIR=str(tmp_path / "data"),
                        CAMPAIGNS_WATCH=inbox.as_uri(),
                        CAMPAIGNS_WATCH_SETTLE_SECONDS="0.3", CAMPAIGNS_SANDBOX_URL=sandbox.base_url,
                        CAMPAIGNS_POLL_SECONDS="0.5")
        # When both scan at once
        procs = [subprocess.Popen([CAMPAIGNS, "watch", "--once", "--json"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outputs = [p.communicate(timeout=240) for p in procs]
    # Then each drop was taken by one of them, as one campaign, run to the end
    assert [p.returncode for p in procs] == [0, 0], outputs
    # (each follows the drops its scan saw, whoever took them: they agree on every campaign)
    taken = {(d["path"], d["campaign_id"], d["state"], d["campaign_state"]) for out, _ in outputs
             for d in json.loads(out)}
    assert sorted(path for path, *_ in taken) == [f"d{i}.csv" for i in range(10)]
    assert {(state, campaign) for _, _, state, campaign in taken} == {("done", "done")}
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        made = conn.scalar(select(func.count()).select_from(Campaign).where(Campaign.id > before))
    engine.dispose()
    assert made == 10 == len({campaign_id for _, campaign_id, *_ in taken})
    assert len(files(inbox / "processed")) == 20 and len(files(inbox / "reports")) == 10


def test_serve_takes_a_dropped_100000_row_xlsx(tmp_path, inbox):
    # Given campaigns serve watching the folder (its embedded runner runs the tick's jobs)
    from openpyxl import Workbook

    env = embedded_env(tmp_path, CAMPAIGNS_WATCH=inbox.as_uri(), CAMPAIGNS_WATCH_SETTLE_SECONDS="0.5",
                       CAMPAIGNS_WATCH_SECONDS="0.5", CAMPAIGNS_POLL_SECONDS="0.5")
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("list")
    sheet.append(["phone", "name"])
    for i in range(100_000):
        sheet.append([f"+7701{i:07d}", f"N{i}"])
    staged = tmp_path / "big.xlsx"
    workbook.save(staged)
    write_json(inbox / "_campaign.json", {"text": "Big {name}"})
    with Server(env, tmp_path / "logs") as server:
        # When a 100,000-row workbook is dropped (moved in whole)
        staged.rename(inbox / "big.xlsx")
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not (inbox / "reports/big.report.csv").exists() \
                and not (inbox / "rejected").exists():
            time.sleep(0.5)
        log = server.text()
    # Then it became one campaign of 100,000 recipients, run to the end, its report written
    assert (inbox / "reports/big.report.csv").exists(), log[-3000:]
    result = json.loads((inbox / "processed/big.result.json").read_text())
    assert result["state"] == "done" and result["recipients"]["valid"] == 100_000
    assert files(inbox) == ["_campaign.json", "processed/big.result.json", "processed/big.xlsx",
                            "reports/big.report.csv"]
    assert counts(env["CAMPAIGNS_DATABASE_URL"])[0] == 1
