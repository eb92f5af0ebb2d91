"""Backoff: exponential with full jitter, bounded by the settings and by the one countdown
cap the runtime sizes the broker's visibility timeout from."""

import random

import pytest

from campaigns.services.backoff import MAX_COUNTDOWN_SECONDS, backoff_seconds, bounded
from campaigns.services.next import Next
from campaigns.settings import Settings


class Highest(random.Random):
    """A random source that always draws the top of the range."""

    def uniform(self, a, b):
        return b


def test_the_ceiling_doubles_from_the_base_up_to_the_cap():
    settings = Settings().with_(retry_base_seconds=2.0, retry_cap_seconds=60.0)
    ceilings = [backoff_seconds(n, settings, rng=Highest()) for n in range(1, 9)]
    assert ceilings == [2, 4, 8, 16, 32, 60, 60, 60]


def test_full_jitter_spreads_over_the_whole_range():
    settings = Settings().with_(retry_base_seconds=1.0, retry_cap_seconds=1000.0)
    rng = random.Random(7)
    draws = [backoff_seconds(5, settings, rng=rng) for _ in range(2000)]
    assert all(0 <= d <= 16 for d in draws)
    assert min(draws) < 1 and max(draws) > 15  # not a fixed delay plus a little noise


def test_no_countdown_exceeds_the_runtime_cap():
    # Given settings asking for far longer waits than the broker's visibility timeout allows
    settings = Settings().with_(retry_base_seconds=100.0, retry_cap_seconds=10_000.0)
    # Then backoff, a provider's retry_after and any countdown stay under the cap
    assert backoff_seconds(1000, settings, rng=Highest()) == MAX_COUNTDOWN_SECONDS
    assert bounded(86_400) == MAX_COUNTDOWN_SECONDS
    assert bounded(-3) == 0


def test_settings_read_the_backoff_from_the_environment():
    settings = Settings.from_env({"CAMPAIGNS_RETRY_BASE_SECONDS": "0.5", "CAMPAIGNS_RETRY_CAP_SECONDS": "30"})
    assert (settings.retry_base_seconds, settings.retry_cap_seconds) == (0.5, 30.0)


def test_next_knows_its_actions():
    assert Next("add", 3, countdown=-1).countdown == 0.0
    with pytest.raises(ValueError, match="unknown action 'send'"):
        Next("send", 3)
