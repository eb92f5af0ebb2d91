"""Errors the services raise for the entry points to turn into messages and exit codes."""

from __future__ import annotations


class CampaignNotFound(LookupError):
    """No campaign has this id."""

    def __init__(self, campaign_id: int):
        super().__init__(f"no campaign with id {campaign_id}")
        self.campaign_id = campaign_id


class CannotCancel(RuntimeError):
    """The campaign cannot be cancelled (it finished, or the provider no longer allows it);
    the message says why."""


class CannotResume(RuntimeError):
    """Only a paused campaign can be resumed; the message says why this one cannot."""
