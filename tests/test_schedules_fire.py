"""Schedules fire exactly once, from their last recorded fire, with misfires, exclusions of
recent recipients, approval and failed runs (services on SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select, update

from campaigns.domain import CampaignState
from campaigns.schedules.cron import ScheduleInputError
from campaigns.schedules.fire import fire_due_schedules, fire_schedule, run_fire
from campaigns.schedules.manage import (
    ScheduleSpec,
    add_schedule,
    delete_schedule,
    edit_schedule,
    get_schedule,
    list_schedules,
    next_fires,
    schedule_runs,
    set_paused,
)
from campaigns.services.approval import CannotApprove, approve_campaign
from campaigns.services.cancel import cancel_campaign
from campaigns.services.errors import CannotResume
from campaigns.services.next import Next
from campaigns.services.resume import resume_campaign
from campaigns.services.status import campaign_status
from campaigns.settings import Settings
from campaigns.store.keys import of_campaign
from campaigns.store.models import Campaign, Chunk, Recipient
from campaigns.store.schedules import Schedule, ScheduleFire

UTC = timezone.utc
T0 = datetime(2027, 1, 4, 9, 59, 30, tzinfo=UTC)  # a Monday
PHONES = ["77011234567", "77011234568", "77011234569", "77011234570"]


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_other_schedules(engine):
    """PostgreSQL's database is shared by a session's tests: start with no schedule."""
    with engine.begin() as conn:
        conn.execute(ScheduleFire.__table__.delete())
        conn.execute(Schedule.__table__.delete())


@pytest.fixture
def recipients(tmp_path) -> Path:
    path = tmp_path / "crm.csv"
    path.write_text("phone\n" + "\n".join(PHONES) + "\n")
    return path


@pytest.fixture
def cfg(db_url, tmp_path) -> Settings:
    return Settings().with_(database_url=db_url, data_dir=str(tmp_path / "data"), http_timeout=0.5,
                            http_connect_timeout=0.5)


def add(uow_factory, cfg, source, *, name="weekly", cron="* * * * *", now=T0, **kw) -> int:
    spec = ScheduleSpec(name=name, cron=cron, tz=kw.pop("tz", "UTC"), source=str(source), text="Sale today",
                        options={"country": "KZ"}, **kw)
    return add_schedule(spec, uow_factory, cfg, now=now)["id"]


def at(moment: datetime):
    return lambda: moment


def fired(uow_factory, schedule_id) -> list[tuple[datetime, str, int | None]]:
    return [(datetime.fromisoformat(r["fire_time"]["utc"]), r["outcome"], r["campaign_id"])
            for r in reversed(schedule_runs(schedule_id, uow_factory))]


def run_steps(steps, engine, cfg) -> list[Next]:
    out = []
    for step in steps:
        assert step.action == "fire"
        out += run_fire(step.campaign_id, engine, cfg, workdir=Path(cfg.data_dir) / "spool")
    return out


def test_a_due_fire_makes_one_campaign_however_many_beats_look(uow_factory, engine, cfg, recipients):
    # Given a schedule every minute, and eight "beats" whose clocks differ by up to 4 s
    sid = add(uow_factory, cfg, recipients)
    steps: list[Next] = []
    lock = threading.Lock()

    def beat(offset: float):
        for minute in range(3):
            now = utc(2027, 1, 4, 10, minute, 1) + timedelta(seconds=offset)
            got = fire_schedule(sid, uow_factory, now=now, real_now=now)
            with lock:
                steps.extend(got)

    # When they all look at once, three minutes in a row
    threads = [threading.Thread(target=beat, args=(i * 0.5,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then each fire time made exactly one campaign, and only one step each was dispatched
    runs = fired(uow_factory, sid)
    assert [r[0] for r in runs] == [utc(2027, 1, 4, 10, m) for m in range(3)]
    assert all(outcome == "fired" for _, outcome, _ in runs)
    assert sorted(s.campaign_id for s in steps) == sorted(r[2] for r in runs)
    with uow_factory() as uow:
        made = uow.session.scalars(select(Campaign.id).where(Campaign.name.like("weekly %"),
                                                             Campaign.created_at >= utc(2027, 1, 4))).all()
    assert sorted(made) == sorted(r[2] for r in runs)


def test_a_slow_beat_fires_each_time_at_its_own_time_without_drift(uow_factory, engine, cfg, recipients):
    # Given a schedule every 10 minutes, last looked at long ago within the grace
    sid = add(uow_factory, cfg, recipients, cron="*/10 * * * *", grace=3600)
    # When the job wakes once, 34 minutes later
    steps = fire_due_schedules(uow_factory, cfg, clock=at(utc(2027, 1, 4, 10, 34, 17)), real_now=T0)
    # Then 10:00, 10:10, 10:20, 10:30 are each fired (late, within the grace), and the next is 10:40
    assert [r[0] for r in fired(uow_factory, sid)] == [utc(2027, 1, 4, 10, m) for m in (0, 10, 20, 30)]
    assert len(steps) == 4
    assert get_schedule(sid, uow_factory, now=utc(2027, 1, 4, 10, 34, 17))["next_fire"]["utc"] == \
        "2027-01-04T10:40:00+00:00"


def test_misfire_skip_records_one_skipped_run_and_fires_the_time_still_on_time(uow_factory, engine, cfg, recipients):
    # Given a minutely schedule that fired at 10:00, and no beat until 11:00:20
    sid = add(uow_factory, cfg, recipients)
    fire_due_schedules(uow_factory, cfg, clock=at(utc(2027, 1, 4, 10, 0, 5)), real_now=T0)
    fire_due_schedules(uow_factory, cfg, clock=at(utc(2027, 1, 4, 11, 0, 20)), real_now=T0)
    runs = schedule_runs(sid, uow_factory)
    # Then 10:01..10:59 are one skipped record, 11:00 (20 s late, grace 300 s) fired
    assert [(r["fire_time"]["utc"], r["outcome"], r["covers"]) for r in reversed(runs)] == [
        ("2027-01-04T10:00:00+00:00", "fired", 1),
        ("2027-01-04T10:01:00+00:00", "skipped", 59),
        ("2027-01-04T11:00:00+00:00", "fired", 1),
    ]
    assert "skipped 59 fire times from 2027-01-04T10:01:00+00:00 to 2027-01-04T10:59:00+00:00" in runs[1]["reason"]
    assert runs[1]["campaign_id"] is None
    # And a beat back after the grace for a weekly schedule records the miss and fires nothing
    weekly = add(uow_factory, cfg, recipients, name="monday", cron="0 10 * * MON", grace=60)
    steps = fire_due_schedules(uow_factory, cfg, clock=at(utc(2027, 1, 4, 10, 5)), real_now=T0)
    assert [(r[1], r[2]) for r in fired(uow_factory, weekly)] == [("skipped", None)]
    assert all(s.campaign_id != weekly for s in steps)


def test_misfire_once_fires_once_for_every_time_missed(uow_factory, engine, cfg, recipients):
    sid = add(uow_factory, cfg, recipients, misfire="once", grace=30)
    steps = fire_due_schedules(uow_factory, cfg, clock=at(utc(2027, 1, 4, 10, 45, 50)), real_now=T0)
    runs = schedule_runs(sid, uow_factory)
    assert [(r["fire_time"]["utc"], r["outcome"], r["covers"]) for r in runs] == [
        ("2027-01-04T10:45:00+00:00", "fired", 46)]
    assert "one run for 46 fire times from 2027-01-04T10:00:00+00:00 to 2027-01-04T10:45:00+00:00" in runs[0]["reason"]
    assert [s.campaign_id for s in steps] == [runs[0]["campaign_id"]]


def test_a_run_reads_its_source_at_fire_time_and_is_queued(uow_factory, engine, cfg, recipients):
    sid = add(uow_factory, cfg, recipients, cron="0 10 * * MON", tz="Asia/Almaty", now=utc(2027, 1, 4, 4, 59))
    steps = fire_due_schedules(uow_factory, cfg, clock=at(utc(2027, 1, 4, 5, 0, 3)), real_now=T0)
    # the file changes before the step reads it: the run takes what the source holds then
    recipients.write_text("phone\n" + "\n".join(PHONES[:2]) + "\n")
    nexts = run_steps(steps, engine, cfg)
    (campaign_id,) = [s.campaign_id for s in steps]
    assert nexts == [Next("create", campaign_id)]
    status = campaign_status(campaign_id, uow_factory)
    assert status["state"] == "queued" and status["recipients"]["valid"] == 2
    assert status["name"] == "weekly 2027-01-04 10:00"
    # a second delivery of the step does nothing
    assert run_steps(steps, engine, cfg) == []
    view = list_schedules(uow_factory, now=utc(2027, 1, 4, 5, 1))[0]
    assert view["last_run"]["campaign_id"] == campaign_id and view["last_run"]["state"] == "queued"
    assert view["next_fire"] == {"local": "2027-01-11T10:00:00+05:00", "utc": "2027-01-11T05:00:00+00:00"}
    assert [n["local"] for n in next_fires(sid, 2, uow_factory, now=utc(2027, 1, 4, 5, 1))] == [
        "2027-01-11T10:00:00+05:00", "2027-01-18T10:00:00+05:00"]


def _accept_all(uow_factory, campaign_id: int, when: datetime) -> None:
    """What the pipeline records once the provider accepted every chunk (code 0)."""
    with uow_factory() as uow:
        uow.session.execute(update(Recipient).where(of_campaign(Recipient.id, campaign_id),
                                                     Recipient.verdict == "valid").values(provider_code=0))
        uow.session.execute(update(Chunk).where(Chunk.campaign_id == campaign_id)
                            .values(state="added", state_changed_at=when))
        uow.session.execute(update(Campaign).where(Campaign.id == campaign_id)
                            .values(state="done", state_changed_at=when))
        uow.commit()


def test_exclude_sent_within_leaves_out_who_this_schedule_sent_to(uow_factory, engine, cfg, recipients):
    # Given a daily schedule with --exclude-sent-within 3 whose first run sent to the first two phones
    recipients.write_text("phone\n" + "\n".join(PHONES[:2]) + "\n")
    sid = add(uow_factory, cfg, recipients, cron="0 10 * * *", exclude_days=3, grace=10**6)
    first = fire_due_schedules(uow_factory, cfg, clock=at(utc(2027, 1, 4, 10, 0, 1)), real_now=T0)
    run_steps(first, engine, cfg)
    _accept_all(uow_factory, first[0].campaign_id, datetime.now(UTC) - timedelta(days=1))
    # and another schedule sent to the third phone (it is not this schedule's)
    other = add(uow_factory, cfg, recipients, name="other", cron="0 10 * * *", grace=10**6)
    # When the next run reads the full file
    recipients.write_text("phone\n" + "\n".join(PHONES) + "\n")
    second = fire_due_schedules(uow_factory, cfg, clock=at(utc(2027, 1, 5, 10, 0, 1)), real_now=T0)
    mine = [s for s in second if s.campaign_id not in {r[2] for r in fired(uow_factory, other)}]
    run_steps(second, engine, cfg)
    # Then the two already sent are invalid with the reason, the others are valid
    campaign_id = mine[0].campaign_id
    day = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    with uow_factory() as uow:
        rows = uow.session.execute(select(Recipient.raw_phone, Recipient.verdict, Recipient.reason)
                                   .where(of_campaign(Recipient.id, campaign_id))
                                   .order_by(Recipient.row_number)).all()
    assert [tuple(r) for r in rows] == [
        (PHONES[0], "invalid", f"sent on {day} by this schedule"),
        (PHONES[1], "invalid", f"sent on {day} by this schedule"),
        (PHONES[2], "valid", None), (PHONES[3], "valid", None)]
    assert campaign_status(campaign_id, uow_factory)["recipients"]["invalid"] == 2
    # And with a 1-day window, what was sent 2 days ago is sent again, what was sent 12 hours ago is not
    _accept_all(uow_factory, campaign_id, datetime.now(UTC) - timedelta(days=2))
    _accept_all(uow_factory, first[0].campaign_id, datetime.now(UTC) - timedelta(hours=12))
    edit_schedule(sid, {"exclude_days": 1}, uow_factory, cfg, now=T0)
    third = fire_due_schedules(uow_factory, cfg, clock=at(utc(2027, 1, 6, 10, 0, 1)), real_now=T0)
    third = [s for s in third if s.campaign_id not in {r[2] for r in fired(uow_factory, other)}]
    run_steps(third, engine, cfg)
    assert campaign_status(third[0].campaign_id, uow_factory)["recipients"]["valid"] == 2
    with uow_factory() as uow:
        left_out = uow.session.scalars(select(Recipient.raw_phone).where(
            of_campaign(Recipient.id, third[0].campaign_id), Recipient.verdict == "invalid")).all()
    assert sorted(left_out) == PHONES[:2]


def test_approval_approve_cancel_and_timeout(uow_factory, engine, cfg, recipients):
    sid = add(uow_factory, cfg, recipients, require_approval=True, approval_timeout=3600)
    steps = []
    for minute in range(3):
        steps += fire_due_schedules(uow_factory, cfg, clock=at(utc(2027, 1, 4, 10, minute, 1)), real_now=T0)
    assert run_steps(steps, engine, cfg) == []  # each waits for a person
    a, b, c = (s.campaign_id for s in steps)
    assert {campaign_status(i, uow_factory)["state"] for i in (a, b, c)} == {"awaiting_approval"}
    assert campaign_status(a, uow_factory)["recipients"]["valid"] == 4  # validated before approval
    # resume is not the way to start one
    with pytest.raises(CannotResume, match=f"awaiting approval: start it with `campaigns approve {a}`"):
        resume_campaign(a, uow_factory)
    # approve one: it is queued and its first step returned
    assert approve_campaign(a, uow_factory) == [Next("create", a)]
    with pytest.raises(CannotApprove, match=f"campaign {a} is queued"):
        approve_campaign(a, uow_factory)
    # cancel one: dropped
    cancel_campaign(b, uow_factory, None)
    assert campaign_status(b, uow_factory)["state"] == "cancelled"
    # the third times out an hour after it was made
    fire_due_schedules(uow_factory, cfg, clock=at(utc(2027, 1, 4, 10, 2, 30)), real_now=T0 + timedelta(minutes=59))
    assert campaign_status(c, uow_factory)["state"] == "awaiting_approval"
    fire_due_schedules(uow_factory, cfg, clock=at(utc(2027, 1, 4, 10, 2, 30)), real_now=T0 + timedelta(hours=1))
    status = campaign_status(c, uow_factory)
    assert status["state"] == "cancelled" and status["error"] == "not approved within 1 h (--approval-timeout)"
    with pytest.raises(CannotApprove, match="is cancelled \\(not approved within 1 h"):
        approve_campaign(c, uow_factory)
    # deleting the schedule drops a run still waiting, and keeps the others as they are
    d = fire_due_schedules(uow_factory, cfg, clock=at(utc(2027, 1, 4, 10, 3, 1)), real_now=T0)[0].campaign_id
    run_steps([Next("fire", d)], engine, cfg)
    delete_schedule(sid, uow_factory, now=T0)
    assert campaign_status(d, uow_factory)["error"] == "its schedule 'weekly' was deleted before it was approved"
    assert [campaign_status(i, uow_factory)["state"] for i in (a, b, c, d)] == ["queued", "cancelled", "cancelled",
                                                                               "cancelled"]


class _Hostile(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if self.path == "/500.csv":
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/huge.csv":
            self.send_response(200)
            self.send_header("Content-Length", str(2 * 1024**3))
            self.end_headers()
            self.wfile.write(b"phone\n" * 1000)
        elif self.path == "/slow.csv":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"phone\n")
            self.wfile.flush()
            threading.Event().wait(5)

    def log_message(self, *args):
        pass


@pytest.fixture
def hostile():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_bad_sources_fail_their_run_and_the_schedule_goes_on(uow_factory, engine, cfg, recipients, hostile, tmp_path):
    cases = {
        "missing": (str(tmp_path / "nope.csv"), "the source could not be read"),
        "http500": (f"{hostile}/500.csv", "500"),
        "huge": (f"{hostile}/huge.csv", "limit"),
        "slow": (f"{hostile}/slow.csv", "temporary failure"),
        "empty": (str(_write(tmp_path / "empty.csv", "phone\n")), "the file was refused"),
    }
    ids = {name: add(uow_factory, cfg, source, name=name) for name, (source, _) in cases.items()}
    steps = fire_due_schedules(uow_factory, cfg, clock=at(utc(2027, 1, 4, 10, 0, 1)), real_now=T0)
    assert run_steps(steps, engine, cfg) == []
    for name, (_, words) in cases.items():
        (run,) = schedule_runs(ids[name], uow_factory)
        status = campaign_status(run["campaign_id"], uow_factory)
        assert status["state"] == "failed", name
        assert words in status["error"], (name, status["error"])
        assert "Traceback" not in status["error"]
        assert run["reason"] == status["error"]
    # the schedules go on: the next minute fires again, and a fixed source works
    edit_schedule(ids["missing"], {"source": str(recipients)}, uow_factory, cfg, now=T0)
    steps = fire_due_schedules(uow_factory, cfg, clock=at(utc(2027, 1, 4, 10, 1, 1)), real_now=T0)
    assert len(steps) == len(cases)
    run_steps(steps, engine, cfg)
    (last, _) = schedule_runs(ids["missing"], uow_factory)
    assert last["state"] == "queued"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_pause_resume_and_bad_input(uow_factory, engine, cfg, recipients):
    sid = add(uow_factory, cfg, recipients)
    set_paused(sid, True, uow_factory, now=T0)
    assert fire_due_schedules(uow_factory, cfg, clock=at(utc(2027, 1, 4, 10, 30, 1)), real_now=T0) == []
    # resumed at 10:30:01: the times while paused are not made up, nothing is skipped
    set_paused(sid, False, uow_factory, now=utc(2027, 1, 4, 10, 30, 1))
    fire_due_schedules(uow_factory, cfg, clock=at(utc(2027, 1, 4, 10, 31, 2)), real_now=T0)
    assert [(r[0], r[1]) for r in fired(uow_factory, sid)] == [(utc(2027, 1, 4, 10, 31), "fired")]
    with pytest.raises(ScheduleInputError, match="already exists"):
        add(uow_factory, cfg, recipients)
    with pytest.raises(ScheduleInputError, match="invalid cron expression.*unknown time zone 'Nowhere/City'"):
        add(uow_factory, cfg, recipients, name="x", cron="99 * * * *", tz="Nowhere/City")
    with pytest.raises(ScheduleInputError, match="CAMPAIGNS_SECRET_KEY"):
        add(uow_factory, cfg, recipients, name="y", headers={"Authorization": "Bearer abcdef123"})


def test_source_headers_are_kept_encrypted_and_sent(uow_factory, engine, cfg, tmp_path):
    seen = {}

    class Echo(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen["auth"] = self.headers.get("Authorization")
            body = ("phone\n" + "\n".join(PHONES) + "\n").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        keyed = cfg.with_(secret_key="k" * 40)
        sid = add(uow_factory, keyed, f"http://127.0.0.1:{server.server_address[1]}/crm.csv",
                  headers={"Authorization": "Bearer s3cr3t-token-value"})
        with uow_factory() as uow:
            stored = str(uow.session.execute(select(ScheduleFire.__table__.c.id)).all()) + str(
                uow.session.execute(select(Schedule.source_headers)).all())
        assert "s3cr3t" not in stored and "Authorization" in stored
        assert get_schedule(sid, uow_factory, now=T0)["source_headers"] == ["Authorization"]
        steps = fire_due_schedules(uow_factory, keyed, clock=at(utc(2027, 1, 4, 10, 0, 1)), real_now=T0)
        run_steps(steps, engine, keyed)
        assert seen["auth"] == "Bearer s3cr3t-token-value"
        assert campaign_status(steps[0].campaign_id, uow_factory)["state"] == "queued"
        # another key cannot read it: the run fails saying so, without the value
        steps = fire_due_schedules(uow_factory, cfg.with_(secret_key="z" * 40),
                                   clock=at(utc(2027, 1, 4, 10, 1, 1)), real_now=T0)
        run_steps(steps, engine, cfg.with_(secret_key="z" * 40))
        error = campaign_status(steps[0].campaign_id, uow_factory)["error"]
        assert "another CAMPAIGNS_SECRET_KEY" in error and "s3cr3t" not in error
    finally:
        server.shutdown()
        server.server_close()


def test_a_lost_fire_step_is_dispatched_again_and_runs_once(uow_factory, engine, cfg, recipients):
    # Given a fire recorded whose step was lost with its process (never run)
    sid = add(uow_factory, cfg, recipients)
    (step,) = fire_due_schedules(uow_factory, cfg, clock=at(utc(2027, 1, 4, 10, 0, 1)), real_now=T0)
    later = lambda seconds: T0 + timedelta(seconds=seconds)  # noqa: E731
    # When the job looks again within a minute, nothing is re-sent; after it, the step is
    assert fire_due_schedules(uow_factory, cfg, clock=at(utc(2027, 1, 4, 10, 0, 30)), real_now=later(30)) == []
    assert fire_due_schedules(uow_factory, cfg, clock=at(utc(2027, 1, 4, 10, 0, 59)), real_now=later(61)) == [step]
    # And a step started by a worker that died is re-sent once its claim is stall_seconds old
    with uow_factory() as uow:
        uow.session.execute(update(ScheduleFire).where(ScheduleFire.campaign_id == step.campaign_id)
                            .values(claimed_at=later(61)))
        uow.commit()
    assert fire_due_schedules(uow_factory, cfg, clock=at(utc(2027, 1, 4, 10, 0, 59)), real_now=later(62)) == []
    stalled = later(61 + cfg.stall_seconds + 1)
    assert fire_due_schedules(uow_factory, cfg, clock=at(utc(2027, 1, 4, 10, 0, 59)), real_now=stalled) == [step]
    # Then the run reads its source once, and nothing is re-sent after
    assert run_fire(step.campaign_id, engine, cfg, workdir=Path(cfg.data_dir) / "spool", now=stalled) == [
        Next("create", step.campaign_id)]
    assert fire_due_schedules(uow_factory, cfg, clock=at(utc(2027, 1, 4, 10, 0, 59)), real_now=stalled) == []
    assert [r[2] for r in fired(uow_factory, sid)] == [step.campaign_id]
