"""The campaign's states and moves: one table, and anything outside it raises."""

import pytest

from campaigns.domain import (
    CAMPAIGN_MOVES,
    TERMINAL,
    CampaignState,
    ChunkState,
    IllegalTransition,
    check_chunk_move,
    check_move,
    poll_interval,
    rejection_share_exceeded,
)

# awaiting_approval: a scheduled run waiting for a person (issue 13)
ISSUE_STATES = ["draft", "awaiting_approval", "queued", "creating", "adding", "launching", "running", "done", "failed", "paused", "cancelled"]
ALLOWED = {
    ("draft", "queued"), ("draft", "failed"), ("draft", "awaiting_approval"), ("draft", "cancelled"),
    ("awaiting_approval", "queued"), ("awaiting_approval", "cancelled"),
    ("queued", "creating"), ("queued", "cancelled"), ("queued", "failed"),
    ("creating", "adding"), ("creating", "failed"), ("creating", "cancelled"),
    ("adding", "launching"), ("adding", "failed"), ("adding", "paused"), ("adding", "cancelled"),
    ("paused", "adding"), ("paused", "cancelled"),
    ("launching", "running"), ("launching", "failed"), ("launching", "cancelled"), ("launching", "adding"),
    ("running", "done"), ("running", "failed"), ("running", "cancelled"),
}


def test_the_states_are_the_ones_the_user_sees():
    assert [s.value for s in CampaignState] == ISSUE_STATES
    assert str(CampaignState.RUNNING) == "running"


@pytest.mark.parametrize("source", ISSUE_STATES)
@pytest.mark.parametrize("target", ISSUE_STATES)
def test_exactly_the_designed_moves_are_allowed(source, target):
    if (source, target) in ALLOWED:
        check_move(source, target)
    else:
        with pytest.raises(IllegalTransition, match=f"from {source} to {target}"):
            check_move(source, target)


def test_terminal_states_lead_nowhere():
    assert {s.value for s in TERMINAL} == {"done", "failed", "cancelled"}
    assert all(not CAMPAIGN_MOVES[s] for s in TERMINAL)


def test_chunk_moves():
    # Given the chunk table: pending -> adding -> added | failed | pending, and adding -> adding (reclaim)
    for source, target in [("pending", "adding"), ("adding", "added"), ("adding", "failed"),
                           ("adding", "pending"), ("adding", "adding")]:
        check_chunk_move(source, target)
    # Then nothing leaves a settled chunk, and a pending chunk cannot skip the upload
    for source, target in [("added", "pending"), ("failed", "adding"), ("pending", "added")]:
        with pytest.raises(IllegalTransition):
            check_chunk_move(source, target)
    assert [s.value for s in ChunkState] == ["pending", "adding", "added", "failed"]


def test_unknown_state_is_refused():
    with pytest.raises(ValueError):
        check_move("running", "exploded")


def test_poll_interval_is_fastest_while_running_and_slower_otherwise():
    assert poll_interval("RUNNING", 10) == 10
    assert poll_interval("SENT", 10) == 30
    for status in ("MODERATION", "READY_FOR_SEND", "AUTO_READY_FOR_SEND", "DEFERRED", "NEW", None):
        assert poll_interval(status, 10) == 60


def test_rejection_share_waits_for_a_full_chunk_then_compares_to_the_threshold():
    # Given a threshold of half, judged after 500 recipients
    judge = lambda added, rejected: rejection_share_exceeded(added, rejected, threshold=0.5, minimum=500)  # noqa: E731
    # Then a bad start is not judged early, exactly half is allowed, more is not
    assert not judge(10, 400)
    assert not judge(250, 250)
    assert judge(249, 251)
    assert not judge(0, 0)
