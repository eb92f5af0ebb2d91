"""The watched bucket on a local folder, on SQLite and PostgreSQL: scans and drop steps
run in this process (the campaigns are created, not sent: the CLI tests send them)."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest

from campaigns.intake.locations import watched
from campaigns.settings import Settings
from campaigns.store.drops import Drop
from tests.watch_helpers import Harness, write_csv, write_json


@pytest.fixture
def inbox(tmp_path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def make(db_url, engine, inbox, tmp_path):
    def make(**changes) -> Harness:
        settings = Settings().with_(database_url=db_url, data_dir=str(tmp_path / "data"), watch=(inbox.as_uri(),),
                                    **{"watch_settle_seconds": 0.0, **changes})
        return Harness(settings, engine, watched(settings))
    return make


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_ten_drops_at_once_make_ten_campaigns_each_file_moved_with_its_result(make, inbox):
    # Given ten files, each with its manifest, dropped at once
    for i in range(10):
        write_csv(inbox / f"list{i}.csv", 5 + i, first=i * 100)
        write_json(inbox / f"list{i}.json", {"text": f"Hello {{name}} #{i}"})
    watcher = make()
    # When the location is scanned and the steps run
    (scan,) = watcher.round()
    # Then each file became one campaign, and sits in processed/ with its manifest and result
    assert len(scan.claimed) == 10
    drops = watcher.drops()
    assert [d.state for d in drops] == ["processed"] * 10
    assert len({d.campaign_id for d in drops}) == 10 == watcher.campaigns()
    assert listing(inbox) == sorted([f"processed/list{i}.{ext}" for i in range(10) for ext in ("csv", "json")]
                                    + [f"processed/list{i}.result.json" for i in range(10)])
    for drop in drops:
        i = int(drop.path[4])
        result = json.loads((inbox / f"processed/list{i}.result.json").read_text())
        assert result["campaign_id"] == drop.campaign_id and result["state"] == "queued"
        assert result["recipients"]["valid"] == 5 + i and result["error"] is None
        campaign = watcher.campaign(drop.campaign_id)
        assert campaign.text == f"Hello {{name}} #{i}" and campaign.name == f"list{i}.csv"
    assert [s.action for s in watcher.campaign_steps] == ["create"] * 10
    # and a second scan finds nothing more to take
    assert watcher.round()[0].claimed == [] and watcher.campaigns() == 10


def test_two_watchers_racing_over_one_location_make_one_campaign_per_drop(make, inbox):
    # Given twelve drops and two watchers (each its own scans and steps) in two threads
    for i in range(12):
        write_csv(inbox / "race" / f"r{i}.csv", 3, first=i * 10)
    write_json(inbox / "race" / "_campaign.json", {"text": "Race"})
    watchers = [make(), make()]
    errors = []

    def run(watcher):
        try:
            for _ in range(4):
                watcher.round()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in watchers]
    # When both scan and take at the same time
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then every drop is one campaign, whichever watcher took it
    assert errors == []
    drops = watchers[0].drops()
    assert len(drops) == 12 and {d.state for d in drops} == {"processed"}
    assert len({d.campaign_id for d in drops}) == 12 == watchers[0].campaigns()
    assert len(listing(inbox / "processed" / "race")) == 24
    created = [s.campaign_id for w in watchers for s in w.campaign_steps]
    assert sorted(set(created)) == sorted(d.campaign_id for d in drops)


def test_a_file_written_slowly_is_not_taken_before_it_settles(make, inbox):
    # Given a manifest, and a file written in pieces with pauses shorter than the settle time
    write_json(inbox / "slow.json", {"text": "Slow"})
    watcher = make(watch_settle_seconds=1.0)
    pieces, written = 6, threading.Event()

    def writer():
        with (inbox / "slow.csv").open("w", encoding="utf-8") as fh:
            fh.write("phone\n")
            for piece in range(pieces):
                fh.writelines(f"+7701{piece * 1000 + i:07d}\n" for i in range(100))
                fh.flush()
                time.sleep(0.4)
        written.set()

    thread = threading.Thread(target=writer)
    thread.start()
    # When the folder is scanned again and again while it is written
    while not written.is_set():
        watcher.round()
        claimed = [d for d in watcher.drops() if d.state != "waiting"]
        assert claimed == [] or written.is_set(), "taken while still being written"
        time.sleep(0.1)
    thread.join()
    while not any(d.state == "processed" for d in watcher.drops()):
        watcher.round()
        time.sleep(0.2)
    # Then it was taken once, whole
    (drop,) = watcher.drops()
    assert watcher.campaign(drop.campaign_id).valid == pieces * 100


@pytest.mark.parametrize("manifest, message", [
    ('{"text": "Hi", ', "bad.json: not valid JSON (line 1, column 16: Expecting property name enclosed in double quotes)"),
    ('{"text": "Hi", "colour": "red"}', "bad.json: unknown key 'colour' (known: text, name, provider"),
    ('{"text": "Hi", "rate_limit": 0}', "bad.json: rate_limit: Input should be greater than or equal to 1"),
    ('{"text": "Hi", "rate_limit": 10, "rate_period": 100}',
     "bad.json: rate period must be 60 (a minute), 3600 (an hour) or 86400 (a day) seconds, got 100"),
    ('{"text": "Hi", "provider": "pigeon"}', "bad.json: provider: unknown provider 'pigeon'"),
])
def test_a_bad_manifest_rejects_the_drop_saying_what_is_wrong(make, inbox, manifest, message):
    write_csv(inbox / "bad.csv", 3)
    write_json(inbox / "bad.json", manifest)
    watcher = make()
    watcher.round()
    (drop,) = watcher.drops()
    assert drop.state == "rejected" and drop.campaign_id is None and watcher.campaigns() == 0
    assert listing(inbox) == ["rejected/bad.csv", "rejected/bad.error.txt", "rejected/bad.json"]
    error = (inbox / "rejected/bad.error.txt").read_text()
    assert error.startswith(message) and error.endswith("\n") and error.count("\n") == 1, error


def test_a_refused_file_goes_to_rejected_with_its_rejects(make, inbox):
    (inbox / "typo.csv").write_text("phone,name\n+7701000000,A\nnot a phone,B\n12,C\n", encoding="utf-8")
    write_json(inbox / "_campaign.json", {"text": "Hi"})
    watcher = make()
    watcher.round()
    assert watcher.drops()[0].state == "rejected" and watcher.campaigns() == 0
    assert (inbox / "rejected/typo.error.txt").read_text() == "typo.csv: no valid recipients among 3 rows\n"
    rejects = (inbox / "rejected/typo.rejects.csv").read_text(encoding="utf-8-sig").splitlines()
    assert rejects[0].startswith("row,phone as given,reason") and len(rejects) == 4
    assert (inbox / "_campaign.json").exists()  # the folder's settings stay for the next drops


def test_a_manifest_without_its_file_is_rejected_after_its_time(make, inbox):
    write_json(inbox / "lonely.json", {"text": "Hi"})
    make().round()
    assert listing(inbox) == ["lonely.json"]  # its file may still be on its way
    watcher = make(watch_orphan_seconds=0.0)
    watcher.round()
    (drop,) = watcher.drops()
    assert (drop.kind, drop.state) == ("manifest", "rejected")
    assert listing(inbox) == ["rejected/lonely.error.txt", "rejected/lonely.json"]
    assert (inbox / "rejected/lonely.error.txt").read_text().startswith(
        "lonely.json: no recipient file beside it (lonely.csv, .txt, .xlsx, .xls or .ods)")


def test_a_file_without_settings_waits_logged_once_then_is_taken_when_settings_come(make, inbox, caplog):
    write_csv(inbox / "team" / "march.csv", 4)
    watcher = make()
    with caplog.at_level(logging.WARNING, logger="campaigns.intake"):
        watcher.round()
        watcher.round()
    waits = [r.getMessage() for r in caplog.records if "waits" in r.getMessage()]
    assert waits == [f"watch: {(inbox / 'team' / 'march.csv').as_uri()} waits: no settings: add march.json "
                     "or _campaign.json beside it"]
    assert [d.state for d in watcher.drops()] == ["waiting"]
    write_json(inbox / "team" / "_campaign.json", {"text": "March"})
    watcher.round()
    assert [d.state for d in watcher.drops()] == ["processed"]


def test_a_repeat_is_refused_naming_the_earlier_campaign_unless_allowed(make, inbox):
    # Given a file taken once
    write_csv(inbox / "promo.csv", 5)
    write_json(inbox / "_campaign.json", {"text": "Promo"})
    watcher = make()
    watcher.round()
    (first,) = watcher.drops()
    # When the same content is dropped again under another name
    write_csv(inbox / "promo copy.csv", 5)
    watcher.round()
    # Then it is refused, naming the earlier file and campaign
    second = watcher.drops()[1]
    assert second.state == "rejected" and watcher.campaigns() == 1
    error = (inbox / "rejected/promo copy.error.txt").read_text()
    assert error.startswith(f"promo copy.csv: a repeat: the same file as promo.csv, taken ")
    assert f"as campaign {first.campaign_id}; to send it again, add \"allow_repeat\": true to its manifest" in error
    # When it comes again with allow_repeat, under the first one's name
    write_csv(inbox / "promo.csv", 5)
    write_json(inbox / "promo.json", {"allow_repeat": True})
    watcher.round()
    # Then it is taken, and its results do not overwrite the first one's
    third = watcher.drops()[2]
    assert third.state == "processed" and watcher.campaigns() == 2
    assert third.result_stem == f"promo ({third.id})"
    assert (inbox / f"processed/promo ({third.id}).csv").exists()
    assert json.loads((inbox / f"processed/promo ({third.id}).result.json").read_text())["campaign_id"] == \
        third.campaign_id
    assert json.loads((inbox / "processed/promo.result.json").read_text())["campaign_id"] == first.campaign_id


def test_names_with_spaces_cyrillic_and_dots_are_taken_and_kept(make, inbox):
    names = ["Март акция.csv", "spaced out name.txt", "a..b.csv", "дальше/две .. точки ...csv"]
    for i, name in enumerate(names):
        write_csv(inbox / name, 3, first=i * 10)
        write_json((inbox / name).with_suffix(".json"), {"text": "Привет"})
    watcher = make()
    watcher.round()
    drops = watcher.drops()
    assert sorted(d.path for d in drops) == sorted(names)
    assert {d.state for d in drops} == {"processed"} and watcher.campaigns() == 4
    for name in names:
        assert (inbox / "processed" / name).exists()
        stem = name[: name.rindex(".")]
        assert (inbox / "processed" / f"{stem}.result.json").exists()
    assert {watcher.campaign(d.campaign_id).name for d in drops} == set(names)


def test_a_file_that_changes_or_goes_away_after_its_claim_is_left_for_its_new_version(make, inbox):
    write_csv(inbox / "moving.csv", 3)
    write_json(inbox / "moving.json", {"text": "Hi"})
    watcher = make()
    (scan,) = watcher.scan()
    (drop_id,) = scan.claimed
    write_csv(inbox / "moving.csv", 4)  # rewritten after the claim
    watcher.step(drop_id)
    with watcher.uow() as uow:
        assert uow.session.get(Drop, drop_id).state == "gone"
    watcher.round()  # the new version is a new drop
    assert [d.state for d in watcher.drops()] == ["gone", "processed"]
    assert watcher.campaign(watcher.drops()[1].campaign_id).valid == 4


def test_a_claim_whose_step_was_lost_is_finished_by_the_next_scan(make, inbox):
    # Given a drop claimed by a scan whose process died before its step ran
    write_csv(inbox / "lost.csv", 3)
    write_json(inbox / "lost.json", {"text": "Hi"})
    watcher = make()
    (scan,) = watcher.scan()
    assert scan.claimed and watcher.drops()[0].state == "claimed"
    # When another scan comes
    watcher.round()
    # Then it takes the drop, once
    assert [d.state for d in watcher.drops()] == ["processed"] and watcher.campaigns() == 1


def test_a_take_that_died_after_making_its_campaign_is_finished_with_that_campaign(make, inbox):
    from campaigns.intake.manifest import drop_settings
    from campaigns.intake.take import SCOPE
    from campaigns.services.enqueue import Idempotency, enqueue_file

    # Given a claimed drop whose take made the campaign and died before recording it on the drop
    write_csv(inbox / "half.csv", 6)
    write_json(inbox / "half.json", {"text": "Hi"})
    watcher = make()
    (scan,) = watcher.scan()
    (drop,) = watcher.drops()
    made = enqueue_file(inbox / "half.csv", drop_settings(drop.manifests, drop.path).request, watcher.settings,
                        watcher.engine, lambda steps: None,
                        idempotency=Idempotency(SCOPE, drop.claim_key, drop.claim_key))
    # When the next scan takes it again
    watcher.round()
    # Then the drop gets that campaign, which is started; no second campaign is made
    (after,) = watcher.drops()
    assert (after.state, after.campaign_id) == ("processed", made.campaign_id) and watcher.campaigns() == 1
    assert [(s.action, s.campaign_id) for s in watcher.campaign_steps] == [("create", made.campaign_id)]


def test_a_take_that_died_while_submitting_is_taken_over_once_its_claim_is_abandoned(make, inbox):
    from datetime import timedelta

    from sqlalchemy import update

    from campaigns.intake.take import SCOPE
    from campaigns.services.idempotency import ABANDONED_AFTER
    from campaigns.services.moves import utcnow
    from campaigns.store.models import IdempotencyKey

    # Given a claimed drop whose take claimed the idempotency key and died while ingesting
    write_csv(inbox / "stuck.csv", 6)
    write_json(inbox / "stuck.json", {"text": "Hi"})
    watcher = make()
    watcher.scan()
    (drop,) = watcher.drops()
    with watcher.uow() as uow:
        uow.session.add(IdempotencyKey(scope=SCOPE, key=drop.claim_key, fingerprint=drop.claim_key,
                                       created_at=utcnow()))
        uow.commit()
    # When a step comes, it does not wait on it: it asks to come back later
    (again,) = watcher.step(drop.id)
    assert again.action == "drop" and again.countdown > 0
    assert watcher.drops()[0].state == "claimed" and watcher.campaigns() == 0
    # When the claim is older than ABANDONED_AFTER
    with watcher.uow() as uow:
        uow.session.execute(update(IdempotencyKey).where(IdempotencyKey.key == drop.claim_key)
                            .values(created_at=utcnow() - ABANDONED_AFTER - timedelta(seconds=1)))
        uow.commit()
    watcher.round()
    # Then the drop is taken over: one campaign
    assert [d.state for d in watcher.drops()] == ["processed"] and watcher.campaigns() == 1


def test_the_overview_lists_each_location_s_drops_by_state(make, inbox):
    from campaigns.intake.overview import drops_by_location

    write_csv(inbox / "good.csv", 3)
    write_json(inbox / "good.json", {"text": "Hi"})
    write_csv(inbox / "bad.csv", 3)
    write_json(inbox / "bad.json", {"text": "Hi", "colour": 1})
    write_csv(inbox / "later" / "waits.csv", 3)
    (inbox / "notes.pdf").write_bytes(b"%PDF")
    watcher = make()
    watcher.round()
    (location,) = drops_by_location(watcher.settings, watcher.uow, storages=watcher.storages)
    assert location["location"] == inbox.as_uri() and location["error"] is None
    # the campaign is queued (not run here): its drop is in progress until the campaign ends
    assert location["counts"] == {"waiting": 2, "in_progress": 1, "processed": 0, "rejected": 1}
    assert {w["path"]: w["reason"] for w in location["waiting"]} == {
        "later/waits.csv": "no settings: add waits.json or _campaign.json beside it",
        "notes.pdf": "not a recipient file (.csv, .txt, .xlsx, .xls, .ods): never taken"}
    (progress,) = location["in_progress"]
    assert (progress["path"], progress["state"], progress["campaign_state"]) == ("good.csv", "processed", "queued")
    assert progress["result"] == "processed/good.result.json"
    (rejected,) = location["rejected"]
    assert rejected["error"].startswith("bad.json: unknown key 'colour'")
    assert rejected["result"] == "rejected/bad.error.txt"


def test_two_copies_dropped_at_once_are_one_campaign_and_one_repeat(make, inbox):
    # Given the same content dropped twice at once, and two watchers racing over it
    for name in ("copy a.csv", "copy b.csv"):
        write_csv(inbox / name, 7)
    write_json(inbox / "_campaign.json", {"text": "Twice?"})
    watchers = [make(), make()]
    threads = [threading.Thread(target=lambda w=w: [w.round() for _ in range(4)]) for w in watchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for _ in range(3):  # a take that waited for its twin comes back (its countdown is not waited for here)
        watchers[0].round()
    # Then one is a campaign and the other a repeat naming it
    drops = watchers[0].drops()
    assert sorted(d.state for d in drops) == ["processed", "rejected"] and watchers[0].campaigns() == 1
    (taken,) = [d for d in drops if d.state == "processed"]
    (repeat,) = [d for d in drops if d.state == "rejected"]
    assert f"a repeat: the same file as {taken.path}" in repeat.error
