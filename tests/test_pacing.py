"""Pacing: the policy arithmetic, and one contract test run against both backends
(this process's memory and a real Redis), which must agree to the microsecond."""

from __future__ import annotations

import random
import threading
import uuid

import pytest

from campaigns.pacing import Hold, Limiter, Policy, account_key, make_limiter
from campaigns.pacing.memory import MemoryBackend
from campaigns.pacing.policy import (
    SMSC_HISTORY_HOURLY,
    SMSC_HISTORY_IDENTICAL,
    campaign_policy,
)
from campaigns.settings import Settings
from tests import services

T0 = 1_700_000_000.0


@pytest.fixture(params=["memory", "redis"])
def limiter(request):
    prefix = f"test-pacing-{uuid.uuid4().hex[:8]}:"
    if request.param == "memory":
        lim = Limiter(MemoryBackend(), prefix=prefix)
    else:
        lim = make_limiter(Settings(redis_url=services.redis_url()), prefix=prefix)
    yield lim
    lim.clear()
    lim.close()


# --- the policy ---------------------------------------------------------------------------


def test_policy_packets_of_ten_at_equal_intervals():
    p = Policy(600, 60)
    assert (p.size, p.window, p.rate) == (10, 1.0, 10.0)
    assert Policy(6000, 60).window == pytest.approx(0.1)


def test_policy_packet_divides_the_limit_so_a_period_is_whole_windows():
    # 25 a minute in packets of 10 would allow 30 in some minute; 5 every 12 s never does
    assert (Policy(25, 60).size, Policy(25, 60).window) == (5, 12.0)
    assert (Policy(7, 60).size, Policy(7, 60).window) == (7, 60.0)
    assert (Policy(13, 60).size, Policy(13, 60).window) == (1, pytest.approx(60 / 13))
    assert Policy(3, 60, packet=3).size == 3


@pytest.mark.parametrize("kwargs", [dict(limit=0, period=60), dict(limit=10, period=0), dict(limit=10, period=60, packet=0), dict(limit=2.5, period=60)])
def test_policy_refuses_nonsense(kwargs):
    with pytest.raises(ValueError):
        Policy(**kwargs)


def test_campaign_policy_falls_back_to_the_account_default():
    assert campaign_policy(None, None, default_limit=600, default_period=60) == Policy(600, 60)
    assert campaign_policy(100, 3600, default_limit=600, default_period=60) == Policy(100, 3600)


def test_account_key_never_contains_the_secret():
    key = account_key("alex", "s3cret-password", "https://smsc.kz")
    assert "s3cret" not in key and "alex" not in key and len(key) == 16
    assert key == account_key("alex", "s3cret-password", "https://smsc.kz")
    assert key != account_key("alex", "other", "https://smsc.kz")


def test_make_limiter_uses_memory_without_redis():
    with make_limiter(Settings()) as lim:
        assert isinstance(lim._backend, MemoryBackend)


# --- the contract, for both backends ------------------------------------------------------


def test_a_packet_then_the_countdown_to_the_next(limiter):
    p = Policy(600, 60)  # 10 a second
    for i in range(10):
        assert limiter.acquire("k", p, now=T0 + i * 0.01) == 0.0
    # the oldest grant (T0) leaves the one-second window at T0 + 1
    assert limiter.acquire("k", p, now=T0 + 0.5) == pytest.approx(0.5, abs=1e-6)
    assert limiter.acquire("k", p, now=T0 + 1.0) == 0.0
    assert limiter.acquire("k", p, now=T0 + 1.0) == pytest.approx(0.01, abs=1e-6)


def test_several_slots_at_once_are_all_or_nothing(limiter):
    p = Policy(600, 60)
    assert limiter.acquire("k", p, n=7, now=T0) == 0.0
    assert limiter.acquire("k", p, n=4, now=T0 + 0.2) == pytest.approx(0.8, abs=1e-6)
    assert limiter.acquire("k", p, n=3, now=T0 + 0.2) == 0.0  # the refusal took nothing
    assert limiter.acquire("k", p, n=1, now=T0 + 0.3) == pytest.approx(0.7, abs=1e-6)
    with pytest.raises(ValueError):
        limiter.acquire("k", p, n=11, now=T0)


def test_keys_are_independent(limiter):
    p = Policy(1, 1.0, packet=1)
    assert limiter.acquire("a", p, now=T0) == 0.0
    assert limiter.acquire("b", p, now=T0) == 0.0
    assert limiter.acquire("a", p, now=T0) == pytest.approx(1.0)


def _greedy(limiter, key, policy, seconds, seed, n):
    """Grant times of a client that takes every slot it can, ``n`` at a time, coming back
    up to 3 s after each countdown."""
    rng = random.Random(seed)
    t, grants = T0, []
    while t < T0 + seconds:
        while (wait := limiter.acquire(key, policy, n=n, now=t)) == 0.0:
            grants.extend([t] * n)
        t += wait + rng.uniform(0.0, 3.0)
    return grants


def _busiest(grants, span):
    return max(sum(1 for g in grants if start <= g < start + span) for start in grants)


@pytest.mark.parametrize("n", [1, 2, 5])
def test_a_strict_policy_never_allows_more_than_its_limit_in_any_period(limiter, n):
    grants = _greedy(limiter, "strict", Policy(25, 60, strict=True), 600, seed=5, n=n)
    assert _busiest(grants, 60) <= 25
    # lateness is not credited, so a late client loses time
    assert len(grants) < 250


@pytest.mark.parametrize("n", [1, 5])
def test_a_pacing_policy_keeps_the_rate_despite_late_clients(limiter, n):
    # Given a client that comes back up to 3 s after each countdown (12 s windows)
    grants = _greedy(limiter, "pacing", Policy(25, 60), 600, seed=5, n=n)
    # Then the long-run rate is the policy's, and no minute holds more than one extra packet
    assert 250 - 5 <= len(grants) <= 250 + 5
    assert _busiest(grants, 60) <= 25 + 5


def test_idle_time_saves_up_at_most_one_packet(limiter):
    pacing, strict = Policy(600, 60), Policy(600, 60, strict=True)
    for key, policy, burst in (("pacing", pacing, 20), ("strict", strict, 10)):
        assert limiter.acquire(key, policy, n=10, now=T0) == 0.0
        # an hour of silence, then as many as it will grant at once
        granted = 0
        while limiter.acquire(key, policy, now=T0 + 3600) == 0.0:
            granted += 1
        assert granted == burst
        assert limiter.acquire(key, policy, now=T0 + 3600) == pytest.approx(1.0)


def test_history_limits_three_identical_a_minute_and_thirty_an_hour(limiter):
    # seed 003: at most 3 identical history requests a minute, 30 an hour
    identical = [limiter.acquire("h:same", SMSC_HISTORY_IDENTICAL, now=T0 + i) for i in range(4)]
    assert identical[:3] == [0.0, 0.0, 0.0] and identical[3] == pytest.approx(57.0)
    hourly = [limiter.acquire("h:all", SMSC_HISTORY_HOURLY, now=T0 + i) for i in range(31)]
    assert hourly[:30] == [0.0] * 30 and hourly[30] == pytest.approx(3600 - 30)


def test_block_backs_off_a_key_for_everyone(limiter):
    p = Policy(600, 60)
    assert limiter.block("mobizon:acct:campaign/addrecipients", 5, now=T0) == pytest.approx(5)
    assert limiter.blocked("mobizon:acct:campaign/addrecipients", now=T0 + 1) == pytest.approx(4)
    assert limiter.acquire("mobizon:acct:campaign/addrecipients", p, now=T0 + 2) == pytest.approx(3)
    # a shorter block never shortens a longer one
    assert limiter.block("mobizon:acct:campaign/addrecipients", 1, now=T0 + 2) == pytest.approx(3)
    assert limiter.blocked("mobizon:acct:campaign/addrecipients", now=T0 + 5) == 0.0
    assert limiter.acquire("mobizon:acct:campaign/addrecipients", p, now=T0 + 5) == 0.0
    assert limiter.blocked("other", now=T0) == 0.0


def test_holds_limit_concurrency_and_expire(limiter):
    a = limiter.hold("smsc:c", 2, ttl=30, now=T0)
    b = limiter.hold("smsc:c", 2, ttl=30, now=T0 + 1)
    assert isinstance(a, Hold) and isinstance(b, Hold)
    assert limiter.hold("smsc:c", 2, ttl=30, now=T0 + 2) == pytest.approx(28)
    a.release()
    a.release()  # twice is harmless
    with limiter.hold("smsc:c", 2, ttl=30, now=T0 + 2) as c:
        assert isinstance(c, Hold)
        assert limiter.hold("smsc:c", 2, ttl=30, now=T0 + 2) == pytest.approx(29)
    # a holder that died without releasing frees its place after ttl
    assert isinstance(limiter.hold("smsc:c", 2, ttl=30, now=T0 + 31.5), Hold)


def test_racing_threads_share_one_packet(limiter):
    p = Policy(600, 60)
    taken = []
    barrier = threading.Barrier(8)

    def worker():
        barrier.wait()
        for _ in range(5):
            if limiter.acquire("race", p, now=T0) == 0.0:
                taken.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(taken) == 10


def test_without_now_the_backend_clock_is_used(limiter):
    p = Policy(1, 3600, packet=1)
    assert limiter.acquire("clock", p) == 0.0
    assert 3590 < limiter.acquire("clock", p) <= 3600


# --- Mobizon code 30 backs off the method for every worker -----------------------------


def test_code_30_heard_by_one_worker_backs_off_the_method_for_all(limiter):
    from campaigns.pacing.backoff import SharedBackoff
    from campaigns.providers.errors import RateLimited
    from campaigns.providers.fake import FakeProvider
    from campaigns.providers.port import CampaignSpec, ChunkRecipient

    # Given two workers, each with its own provider object, sharing one limiter
    first, second = FakeProvider(), FakeProvider()
    one, two = SharedBackoff(first, limiter, "acct"), SharedBackoff(second, limiter, "acct")
    spec = CampaignSpec(local_id=1, name="n", text="t")
    cid = one.create_campaign(spec)
    second.campaigns = first.campaigns  # the same account
    first.fail("add_chunk", "rate_limited", retry_after=30)
    # When the first hears code 30 on AddRecipients
    with pytest.raises(RateLimited):
        one.add_chunk(cid, "1:0", [ChunkRecipient("77011234567")], spec=spec)
    # Then the second refuses AddRecipients itself, without calling the provider
    with pytest.raises(RateLimited) as err:
        two.add_chunk(cid, "1:0", [ChunkRecipient("77011234567")], spec=spec)
    assert 25 < err.value.retry_after <= 30 and err.value.method == "campaign/addrecipients"
    assert second.calls_to("add_chunk") == []
    # while other methods, and other accounts, carry on
    assert two.campaign_statuses([cid])
    other = SharedBackoff(FakeProvider(), limiter, "another-account")
    other.create_campaign(spec)
    assert other.name == "fake" and other.server_side_campaigns is True


def test_the_shared_back_off_steps_aside_when_redis_is_down():
    from campaigns.pacing.backoff import SharedBackoff
    from campaigns.providers.errors import RateLimited
    from campaigns.providers.fake import FakeProvider
    from campaigns.providers.port import CampaignSpec

    down = make_limiter(Settings(redis_url="redis://127.0.0.1:9/0"))
    fake = FakeProvider()
    wrapped = SharedBackoff(fake, down, "acct", owns_limiter=True)
    cid = wrapped.create_campaign(CampaignSpec(local_id=1, name="n", text="t"))
    fake.fail("launch", "rate_limited", retry_after=5)
    with pytest.raises(RateLimited):
        wrapped.launch(cid)
    assert wrapped.launch(cid)
    wrapped.close()
