"""The campaign's life as plain Python: states, the one table of allowed moves, and the
rules the services apply (when to poll, what counts as finished). No SQL, no HTTP here.

    draft ──► queued ──► creating ──► adding ──► launching ──► running ──► done
                 │           │          │  ▲         │            │
                 ▼           ▼          ▼  │         ▼            ▼
        failed / cancelled (from any non-terminal state)   paused ─┘ (back to adding)

A scheduled run that needs approval goes ``draft → awaiting_approval → queued`` (approved)
or ``→ cancelled`` (dropped, or not approved in time).

A chunk goes ``pending → adding → added | failed``; a temporary failure puts it back to
``pending``; ``adding → adding`` is a reclaim by the scanner after ``stall_seconds``.
"""

from __future__ import annotations

from enum import Enum
from typing import Iterable


class CampaignState(str, Enum):
    DRAFT = "draft"
    AWAITING_APPROVAL = "awaiting_approval"
    QUEUED = "queued"
    CREATING = "creating"
    ADDING = "adding"
    LAUNCHING = "launching"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    PAUSED = "paused"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


class ChunkState(str, Enum):
    PENDING = "pending"
    ADDING = "adding"
    ADDED = "added"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


class IllegalTransition(ValueError):
    """A state change that the table of allowed moves does not contain."""


S = CampaignState
CAMPAIGN_MOVES: dict[CampaignState, frozenset[CampaignState]] = {
    # draft -> cancelled: a draft whose file was being read by a process that stopped
    # (campaigns.services.cancel, once it is older than the stall time)
    S.DRAFT: frozenset({S.QUEUED, S.FAILED, S.AWAITING_APPROVAL, S.CANCELLED}),
    S.AWAITING_APPROVAL: frozenset({S.QUEUED, S.CANCELLED}),
    S.QUEUED: frozenset({S.CREATING, S.CANCELLED, S.FAILED}),
    S.CREATING: frozenset({S.ADDING, S.FAILED, S.CANCELLED}),
    S.ADDING: frozenset({S.LAUNCHING, S.FAILED, S.PAUSED, S.CANCELLED}),
    S.PAUSED: frozenset({S.ADDING, S.CANCELLED}),
    S.LAUNCHING: frozenset({S.RUNNING, S.FAILED, S.CANCELLED, S.ADDING}),
    S.RUNNING: frozenset({S.DONE, S.FAILED, S.CANCELLED}),
    S.DONE: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}

C = ChunkState
CHUNK_MOVES: dict[ChunkState, frozenset[ChunkState]] = {
    C.PENDING: frozenset({C.ADDING}),
    # adding -> adding: the scanner reclaims a chunk whose worker died (resend=True)
    C.ADDING: frozenset({C.ADDED, C.FAILED, C.PENDING, C.ADDING}),
    C.ADDED: frozenset(),
    C.FAILED: frozenset(),
}

TERMINAL = frozenset({S.DONE, S.FAILED, S.CANCELLED})
TRANSITIONAL = frozenset({S.QUEUED, S.CREATING, S.ADDING, S.LAUNCHING})
SETTLED_CHUNKS = frozenset({C.ADDED, C.FAILED})


def check_move(current: str, target: str) -> None:
    """Raise IllegalTransition unless the campaign may go from ``current`` to ``target``."""
    src, dst = CampaignState(current), CampaignState(target)
    if dst not in CAMPAIGN_MOVES[src]:
        raise IllegalTransition(f"a campaign cannot go from {src} to {dst}")


def check_chunk_move(current: str, target: str) -> None:
    """Raise IllegalTransition unless a chunk may go from ``current`` to ``target``."""
    src, dst = ChunkState(current), ChunkState(target)
    if dst not in CHUNK_MOVES[src]:
        raise IllegalTransition(f"a chunk cannot go from {src} to {dst}")


def sources_of(target: str, candidates: Iterable[str]) -> list[str]:
    """The states among ``candidates`` from which ``target`` is allowed; raises
    IllegalTransition when none is (a programming error in the caller)."""
    allowed = [str(CampaignState(c)) for c in candidates if CampaignState(target) in CAMPAIGN_MOVES[CampaignState(c)]]
    if not allowed:
        raise IllegalTransition(f"no state among {list(map(str, candidates))} may move to {target}")
    return allowed


# Provider statuses (Campaign module, "List of possible campaign statuses").
PROVIDER_FINISHED = frozenset({"DONE", "DECLINED"})
PROVIDER_NOT_STARTED = frozenset({"NEW"})
# How much slower than the fastest poll each status is followed (issue 4, "Follow"):
# RUNNING changes quickly, SENT waits for delivery reports, the rest wait for a person
# (moderation) or a clock (deferred).
POLL_FACTORS = {"RUNNING": 1, "SENT": 3}
SLOW_POLL_FACTOR = 6

# SMS statuses (Message module): these are final, the others may still change.
FINAL_MESSAGE_STATUSES = frozenset({"DELIVRD", "UNDELIV", "REJECTD", "EXPIRED", "DELETED"})


def poll_interval(provider_status: str | None, poll_seconds: float) -> float:
    """Seconds until the next poll of a campaign whose provider status is ``provider_status``."""
    return poll_seconds * POLL_FACTORS.get(provider_status or "", SLOW_POLL_FACTOR)


def rejection_share_exceeded(added: int, rejected: int, *, threshold: float, minimum: int) -> bool:
    """True when permanent recipient-level rejections are too many to go on: more than
    ``threshold`` of the recipients processed so far, once at least ``minimum`` were."""
    processed = added + rejected
    if processed == 0 or processed < minimum:
        return False
    return rejected / processed > threshold
