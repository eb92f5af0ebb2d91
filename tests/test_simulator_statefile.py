"""The sandbox's state between processes: ids unique for the life of a database, campaigns
saved by one simulator and taken over by the next, and only those the database needs."""

from __future__ import annotations

from campaigns.simulator.config import SimConfig
from campaigns.simulator.mobizon import MobizonSimulator
from campaigns.simulator.statefile import StateFile


def simulator(folder, *, floor: int = 0) -> MobizonSimulator:
    sim = MobizonSimulator(SimConfig.sandbox())
    sim.attach(StateFile(folder, floor=floor))
    return sim


def create(sim: MobizonSimulator, text: str = "Hi") -> str:
    reply = sim.call("campaign/create", {"data": {"type": "2", "text": text, "name": text}})
    assert reply.code == 0, reply
    return reply.data


def add(sim: MobizonSimulator, campaign_id: str, *phones: str) -> list[str]:
    reply = sim.call("campaign/addrecipients", {"id": campaign_id, "recipients": list(phones)})
    assert reply.code == 0, reply
    return [r["messageId"] for r in reply.data]


def test_two_simulators_on_one_folder_never_hand_out_the_same_ids(tmp_path):
    one, two = simulator(tmp_path), simulator(tmp_path)
    campaigns = [create(one), create(two), create(one)]
    assert len(set(campaigns)) == 3
    messages = add(one, campaigns[0], "77010000001") + add(two, campaigns[1], "77010000002")
    assert len(set(messages)) == 2


def test_ids_start_above_the_highest_the_database_knows(tmp_path):
    assert int(create(simulator(tmp_path, floor=1500))) == 1501
    # and a later process with a lower floor goes on from the file
    assert int(create(simulator(tmp_path, floor=0))) == 1502


def test_a_saved_campaign_is_taken_over_by_the_next_simulator_with_its_recipients(tmp_path):
    # Given a campaign half added in one simulator that then saves and ends
    one = simulator(tmp_path)
    cid = create(one)
    add(one, cid, "77010000001", "77010000002")
    one.save(keep={int(cid)})
    # When the next simulator is asked about it
    two = simulator(tmp_path)
    add(two, cid, "77010000003")
    info = two.call("campaign/getinfo", {"id": cid})
    # Then it knows it, with the recipients added before
    assert info.code == 0 and info.data["counters"]["totalMsgNum"] == "3"
    # and a third simulator does not: one process at a time owns a campaign
    assert simulator(tmp_path).call("campaign/get", {"id": cid}).code == 2


def test_only_the_campaigns_the_database_needs_are_kept(tmp_path):
    one = simulator(tmp_path)
    needed, finished = create(one, "needed"), create(one, "finished")
    one.save(keep={int(needed)})
    two = simulator(tmp_path)
    assert two.call("campaign/list", {"criteria": {"ids": [needed, finished]}}).data["totalItemCount"] == "1"


def test_the_clock_never_runs_behind_a_saved_campaign(tmp_path):
    one = simulator(tmp_path)
    cid = create(one)
    one.clock.advance(86_400)
    saved = one.clock.now()
    one.save(keep={int(cid)})
    two = simulator(tmp_path)
    assert two.clock.now() >= saved
