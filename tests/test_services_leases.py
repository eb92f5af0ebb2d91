"""Leases: two beat processes never both run the same periodic tick."""

import threading

from campaigns.services.leases import acquire_lease, release_lease
from tests.pipeline_data import at


def test_one_holder_at_a_time_until_the_lease_expires(uow_factory):
    name = f"tick-{id(uow_factory)}"
    # Given beat A takes the lease for 10 s
    assert acquire_lease(name, "beat-a", 10, uow_factory, now=at(0))
    # Then beat B cannot take it meanwhile, and A can renew it
    assert not acquire_lease(name, "beat-b", 10, uow_factory, now=at(5))
    assert acquire_lease(name, "beat-a", 10, uow_factory, now=at(9))
    assert not acquire_lease(name, "beat-b", 10, uow_factory, now=at(18))
    # When A stops renewing, B takes it once it expired, and A is then refused
    assert acquire_lease(name, "beat-b", 10, uow_factory, now=at(19))
    assert not acquire_lease(name, "beat-a", 10, uow_factory, now=at(20))


def test_released_lease_goes_to_the_next_caller(uow_factory):
    name = f"release-{id(uow_factory)}"
    assert acquire_lease(name, "a", 60, uow_factory, now=at(0))
    assert not release_lease(name, "b", uow_factory)
    assert release_lease(name, "a", uow_factory)
    assert acquire_lease(name, "b", 60, uow_factory, now=at(1))


def test_racing_holders_get_it_once(pg_url):
    from campaigns.store.engine import make_engine
    from campaigns.store.uow import UnitOfWork

    # Given eight processes' ticks asking for a fresh lease at the same instant on PostgreSQL
    engine = make_engine(pg_url, pool_size=8)
    uow_factory = lambda: UnitOfWork(engine)  # noqa: E731
    name = f"race-{threading.get_ident()}-{id(engine)}"
    barrier, results, lock = threading.Barrier(8), [], threading.Lock()

    def tick(holder):
        barrier.wait()
        won = acquire_lease(name, holder, 30, uow_factory, now=at(0))
        with lock:
            results.append((holder, won))

    try:
        threads = [threading.Thread(target=tick, args=(f"beat-{i}",)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    finally:
        engine.dispose()
    # Then exactly one got it
    assert sum(won for _, won in results) == 1
    assert len(results) == 8
