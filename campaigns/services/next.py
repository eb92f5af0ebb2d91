"""What a service returns and the runtime schedules: the next step of one campaign."""

from __future__ import annotations

from dataclasses import dataclass

ACTIONS = ("create", "add", "launch", "final_statuses", "fire", "drop")  # fire: a schedule's run reads its source;
# drop: a watched bucket's drop (its id, not a campaign's) is taken, moved or followed (campaigns.intake.take)


@dataclass(frozen=True)
class Next:
    """Run ``action`` for ``campaign_id`` after ``countdown`` seconds.

    Duplicated or lost ``Next``s are harmless: every service claims its work with a
    compare-and-set UPDATE and does nothing when the claim fails, and the scanner
    (``recover.scan_stalled``) re-issues work that stopped moving.
    """

    action: str  # "create" | "add" | "launch" | "final_statuses"
    campaign_id: int
    countdown: float = 0.0

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}; known: {', '.join(ACTIONS)}")
        if self.countdown < 0:
            object.__setattr__(self, "countdown", 0.0)
