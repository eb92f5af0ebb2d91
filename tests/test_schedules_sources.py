"""A schedule's source is read at each fire time: the newest object under an S3 prefix
(moto's S3 server on localhost, nothing mocked), a local path taken as absolute when the
schedule is made, and an empty prefix failing only its run."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path


from campaigns.schedules.fire import fire_due_schedules, run_fire
from campaigns.schedules.manage import ScheduleSpec, add_schedule, schedule_runs
from campaigns.services.status import campaign_status
from campaigns.settings import Settings
from tests.s3 import aws_env, bucket, moto_endpoint  # noqa: F401 (fixtures)

UTC = timezone.utc
T0 = datetime(2027, 1, 3, 12, tzinfo=UTC)


def csv(*phones: str) -> bytes:
    return ("phone\n" + "\n".join(phones) + "\n").encode()


def fire_and_run(uow_factory, engine, cfg, moment: datetime) -> list[int]:
    steps = fire_due_schedules(uow_factory, cfg, clock=lambda: moment, real_now=moment)
    for step in steps:
        run_fire(step.campaign_id, engine, cfg, workdir=Path(cfg.data_dir) / "spool")
    return [s.campaign_id for s in steps]


def test_each_run_reads_the_newest_export_under_the_prefix(bucket, sqlite_uow, sqlite_engine, tmp_path):
    name, client = bucket
    cfg = Settings().with_(data_dir=str(tmp_path / "data"))
    # Given last night's export under a prefix, and a daily schedule reading the prefix
    client.put_object(Bucket=name, Key="exports/2027-01-03.csv", Body=csv("77011234567", "77011234568"))
    spec = ScheduleSpec(name="reminder", cron="0 9 * * *", tz="Asia/Almaty", source=f"s3://{name}/exports/",
                        text="Payment due", options={"country": "KZ"})
    add_schedule(spec, sqlite_uow, cfg, now=T0)
    empty = add_schedule(ScheduleSpec(name="nothing yet", cron="0 9 * * *", tz="Asia/Almaty",
                                      source=f"s3://{name}/elsewhere/", text="Hi", options={"country": "KZ"}),
                         sqlite_uow, cfg, now=T0)
    # When it fires, then a newer export lands and it fires the next day
    first = fire_and_run(sqlite_uow, sqlite_engine, cfg, datetime(2027, 1, 4, 4, 0, 5, tzinfo=UTC))
    time.sleep(1.1)  # S3 times are in whole seconds: the next export is newer
    client.put_object(Bucket=name, Key="exports/2027-01-04.csv", Body=csv("77011234567", "77011234568", "77011234569"))
    second = fire_and_run(sqlite_uow, sqlite_engine, cfg, datetime(2027, 1, 5, 4, 0, 5, tzinfo=UTC))
    # Then each run took the newest object of its time, and the empty prefix failed its runs only
    runs = {c: campaign_status(c, sqlite_uow) for c in first + second}
    ok = [s for s in runs.values() if s["state"] == "queued"]
    assert [s["recipients"]["valid"] for s in ok] == [2, 3]
    failed = [s for s in runs.values() if s["state"] == "failed"]
    assert len(failed) == 2 and all("could not be read" in s["error"] and "elsewhere" in s["error"] for s in failed)
    assert [r["state"] for r in schedule_runs(empty["id"], sqlite_uow)] == ["failed", "failed"]


def test_a_relative_path_is_kept_absolute(sqlite_uow, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "crm.csv").write_bytes(csv("77011234567"))
    view = add_schedule(ScheduleSpec(name="local", cron="@daily", tz="UTC", source="crm.csv", text="Hi"),
                        sqlite_uow, Settings(), now=T0)
    assert view["source"] == str(tmp_path / "crm.csv")
