"""Exactly once with real processes: two `campaigns beat` processes and a `campaigns
worker` on PostgreSQL and a private Redis fire a `* * * * *` schedule on a clock 30 times
faster than real time (the test aid CAMPAIGNS_SCHEDULE_CLOCK_SPEED: a schedule minute
every 2 s). Every schedule minute is accounted for exactly once — one campaign per fire
time, or one skipped record for a stretch when no beat ran — while a beat is killed and
restarted, and both are stopped past the grace (misfire skip and once)."""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from campaigns.schedules.manage import schedule_runs
from campaigns.simulator import SimConfig, SimulatorServer
from campaigns.store.engine import make_engine, upgrade
from campaigns.store.models import Campaign
from campaigns.store.uow import UnitOfWork
from tests import services
from tests.cluster import Cluster, RedisServer, clean_env, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.redis, pytest.mark.postgres]

SPEED = 30
MINUTE = 60 / SPEED  # real seconds per schedule minute


@pytest.fixture
def stack(tmp_path):
    services.require("redis-server", shutil.which("redis-server") is not None)
    url = services.create_pg_database()
    upgrade(url)
    engine = make_engine(url)
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    simulator = SimulatorServer(SimConfig.sandbox())
    sandbox_url = simulator.start()
    env = clean_env(CAMPAIGNS_DATABASE_URL=url, CAMPAIGNS_BROKER_URL=redis.url, CAMPAIGNS_SANDBOX_URL=sandbox_url,
                    CAMPAIGNS_POLL_SECONDS="0.25", CAMPAIGNS_STALL_SECONDS="5", CAMPAIGNS_DATA_DIR=str(tmp_path / "d"),
                    CAMPAIGNS_SCHEDULE_CLOCK_SPEED=str(SPEED), CAMPAIGNS_SCHEDULE_CLOCK_EPOCH=repr(time.time()))
    cluster = Cluster(env, tmp_path / "logs")
    try:
        yield env, engine, cluster, tmp_path
    finally:
        cluster.stop()
        simulator.stop()
        redis.kill()
        engine.dispose()
        services.drop_pg_database(url)


def add(env, source, name: str, *options: str) -> int:
    done = run_cli(env, "schedule", "add", name, "--cron", "* * * * *", "--tz", "Europe/Berlin", "--source",
                   str(source), "--text", "Flash sale", "--country", "KZ", "--require-approval", *options, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["id"]


def accounted(engine, schedule_id: int) -> tuple[list[dict], Counter]:
    """The runs oldest first, and how often each schedule minute is accounted for."""
    runs = list(reversed(schedule_runs(schedule_id, lambda: UnitOfWork(engine))))
    minutes: Counter = Counter()
    for run in runs:
        start = datetime.fromisoformat(run["fire_time"]["utc"])
        if run["outcome"] == "skipped":
            for i in range(run["covers"]):
                minutes[start + timedelta(minutes=i)] += 1
        elif run["covers"] > 1:  # misfire once: one run for the times up to its own
            for i in range(run["covers"]):
                minutes[start - timedelta(minutes=i)] += 1
        else:
            minutes[start] += 1
    return runs, minutes


def wait_until(what: str, condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_beats_fire_each_minute_once_through_a_kill_a_restart_and_misfires(stack):
    env, engine, cluster, tmp = stack
    source = tmp / "crm.csv"
    source.write_text("phone\n77011234567\n77011234568\n")
    # Given a minutely schedule of each misfire policy, two beats and a worker
    skip_id = add(env, source, "race")
    once_id = add(env, source, "catchup", "--misfire", "once")
    worker = cluster.start_worker("worker1")
    beats = [cluster.start_beat("beat1"), cluster.start_beat("beat2")]
    cluster.wait_ready(worker, " ready.")
    for beat in beats:
        cluster.wait_ready(beat, "beat: Starting")
    # When both run for 8 schedule minutes
    time.sleep(8 * MINUTE)
    # and one is killed, the other goes on alone for 3 minutes, then the first comes back
    cluster.kill(beats[0])
    time.sleep(3 * MINUTE)
    beats[0] = cluster.start_beat("beat1-again")
    cluster.wait_ready(beats[0], "beat: Starting")
    time.sleep(3 * MINUTE)
    before_gap = len(accounted(engine, skip_id)[1])
    # and both are stopped for 8 schedule minutes (past the 5-minute grace), then started again
    for beat in beats:
        cluster.kill(beat)
    time.sleep(8 * MINUTE)
    beats = [cluster.start_beat("beat1-back"), cluster.start_beat("beat2-back")]
    for beat in beats:
        cluster.wait_ready(beat, "beat: Starting")
    wait_until("fires after the gap", lambda: len(accounted(engine, skip_id)[1]) >= before_gap + 10, 40)
    time.sleep(2 * MINUTE)
    for beat in beats:
        cluster.kill(beat)
    time.sleep(1)  # the last fire steps reach the worker

    # Then every minute from the first fire to the last is accounted for exactly once
    runs, minutes = accounted(engine, skip_id)
    first, last = min(minutes), max(minutes)
    span = int((last - first).total_seconds() // 60) + 1
    assert sorted(minutes) == [first + timedelta(minutes=i) for i in range(span)], runs
    assert set(minutes.values()) == {1}, runs
    # with one campaign per fired minute and no other, each validated and awaiting approval
    fired = [r for r in runs if r["outcome"] == "fired"]
    with UnitOfWork(engine) as uow:
        names = Counter(uow.session.scalars(select(Campaign.name).where(Campaign.name.like("race %"))).all())
        per_state = dict(uow.session.execute(select(Campaign.state, func.count()).where(
            Campaign.name.like("race %")).group_by(Campaign.state)).all())
    assert sum(names.values()) == len(fired) and set(names.values()) == {1}
    assert set(per_state) <= {"awaiting_approval", "draft"} and per_state.get("awaiting_approval", 0) >= len(fired) - 2
    # and the stop past the grace is one skipped record (misfire skip)
    skipped = [r for r in runs if r["outcome"] == "skipped"]
    assert len(skipped) == 1 and skipped[0]["covers"] >= 5, runs
    assert "when a beat next ran (--misfire skip)" in skipped[0]["reason"]
    # while the misfire-once schedule made one run for the times it missed, and skipped none
    once_runs, once_minutes = accounted(engine, once_id)
    assert set(once_minutes.values()) == {1} and all(r["outcome"] == "fired" for r in once_runs)
    catchups = [r for r in once_runs if r["covers"] > 1]
    assert len(catchups) == 1 and catchups[0]["covers"] >= 5 and "(--misfire once)" in catchups[0]["reason"]
    # and no process logged an error about schedules or their runs
    for name, text in cluster.logs().items():
        bad = [line for line in text.splitlines()
               if ("ERROR" in line or "Traceback" in line) and ("schedul" in line or "fire" in line)]
        assert not bad and "Traceback" not in text, (name, bad, text[-3000:])
