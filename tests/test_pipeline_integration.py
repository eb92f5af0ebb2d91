"""The pipeline end to end with real processes: two `campaigns worker` processes and two
`campaigns beat` processes on real Redis and PostgreSQL, the Mobizon simulator over HTTP
(in this process, so the test can inspect and fault it), `campaigns submit` as a user
runs it. Every test checks exact accounting against the simulator's own records.
"""

from __future__ import annotations

import math
import random
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import phonenumbers
import psutil
import pytest
from sqlalchemy import func, select

from campaigns.services.status import campaign_status
from campaigns.simulator import FaultRule, SimConfig, SimulatorServer
from campaigns.store.engine import make_engine, upgrade
from campaigns.store.models import Chunk, Recipient
from campaigns.store.uow import UnitOfWork
from tests import services
from tests.cluster import Cluster, RedisServer, clean_env, submit, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.redis, pytest.mark.postgres]

API_KEY = "itest" + secrets.token_hex(18)  # distinctive, so a leak is found by grep
CHUNK = 250
REDIS_DB = 11  # a database of the shared Redis that only this module uses (flushed)
FINAL = {"DELIVRD", "UNDELIV", "REJECTD", "EXPIRED"}


# -- the recipient file ----------------------------------------------------------------
_KZ = ("701", "702", "705", "707", "708", "747", "771", "775", "776", "777", "778")
_NAMES = ("Айгерим", "Нурлан", "Ольга", "Сергей", "Дана", "Тимур", "Мария", "Ерлан", "Анна", "Асель")
_NOT_PHONES = ("12345", "+7 701 12", "нет номера", "7.70112E+10", "0", "+1 555 0100 99999")


@dataclass
class RecipientFile:
    path: Path
    rows: int
    valid: set[str]
    invalid: int
    duplicates: int


def _render(digits: str, style: int) -> str:
    p, a, b, c = digits[1:4], digits[4:7], digits[7:9], digits[9:]
    return (f"+7 {p} {a} {b} {c}", f"8 ({p}) {a}-{b}-{c}", digits, f"+7({p}){a}-{b}{c}", f"8{p}{a}{b}{c}")[style]


def write_cp1251_file(path: Path, valid: int, *, invalid: int, duplicates: int, seed: int) -> RecipientFile:
    """A Windows-1251, semicolon-separated template file: ``valid`` distinct KZ mobiles in
    mixed formats, ``invalid`` rows that are no phone, ``duplicates`` repeats of earlier
    recipients written differently. The expected phones are checked with phonenumbers."""
    rng = random.Random(seed)
    phones: list[str] = []
    seen: set[str] = set()
    while len(phones) < valid:
        digits = "7" + rng.choice(_KZ) + f"{rng.randrange(10**7):07d}"
        if digits in seen or not phonenumbers.is_valid_number(phonenumbers.parse("+" + digits)):
            continue
        seen.add(digits)
        phones.append(digits)
    lines = [(_render(d, rng.randrange(5)), i) for i, d in enumerate(phones)]
    for _ in range(duplicates):
        i = rng.randrange(valid)
        lines.insert(rng.randrange(i + 1, len(lines) + 1), (_render(phones[i], rng.randrange(5)), i))
    for _ in range(invalid):
        lines.insert(rng.randrange(len(lines) + 1), (rng.choice(_NOT_PHONES), None))
    with path.open("w", encoding="cp1251", newline="") as fh:
        fh.write("Телефон;name;code\r\n")
        for phone, i in lines:
            fh.write(f"{phone};{rng.choice(_NAMES)} {i if i is not None else ''};K{rng.randrange(10**4):04d}\r\n")
    return RecipientFile(path, len(lines), seen, invalid, duplicates)


# -- fixtures ----------------------------------------------------------------------------
def _pg_database():
    url = services.create_pg_database()
    upgrade(url)
    engine = make_engine(url)
    return url, engine


@pytest.fixture(scope="module")
def database():
    url, engine = _pg_database()
    yield url, engine
    engine.dispose()
    services.drop_pg_database(url)


class AddsInFlight:
    """ASGI middleware: the client address (host, port) of every AddRecipients call under way."""

    def __init__(self, app, calls: dict):
        self.app = app
        self.calls = calls

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].lower().endswith("/campaign/addrecipients"):
            return await self.app(scope, receive, send)
        client = tuple(scope.get("client") or ("", 0))
        self.calls[client] = time.monotonic()
        try:
            return await self.app(scope, receive, send)
        finally:
            self.calls.pop(client, None)


@pytest.fixture(scope="module")
def simulator():
    # A fast clock (600 simulated seconds a real one) and a little AddRecipients latency, so
    # adds overlap other calls as they do at Mobizon; only our key is accepted.
    config = SimConfig(api_key=API_KEY, speed=600.0, moderation=False, start_delay_seconds=2.0,
                       default_rate=200.0, delivery_seconds=30.0, counters_delay_seconds=5.0, add_latency=0.02)
    server = SimulatorServer(config)
    server.adds_in_flight = {}
    server.app.add_middleware(AddsInFlight, calls=server.adds_in_flight)
    server.start()
    yield server
    server.stop()


def pipeline_env(database_url: str, broker_url: str, simulator_url: str) -> dict[str, str]:
    return clean_env(
        CAMPAIGNS_DATABASE_URL=database_url,
        CAMPAIGNS_BROKER_URL=broker_url,
        MOBIZON_API_KEY=API_KEY,
        MOBIZON_API_URL=simulator_url,
        CAMPAIGNS_POLL_SECONDS="0.3",
        CAMPAIGNS_STALL_SECONDS="3",
        CAMPAIGNS_HTTP_TIMEOUT="1.5",
        CAMPAIGNS_HTTP_CONNECT_TIMEOUT="1",
        CAMPAIGNS_RETRY_BASE_SECONDS="0.1",
        CAMPAIGNS_RETRY_CAP_SECONDS="1",
        CAMPAIGNS_MAX_RETRIES="30",
        CAMPAIGNS_CHUNK_SIZE=str(CHUNK),
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, database, simulator):
    import redis

    broker = services.redis_url().rsplit("/", 1)[0] + f"/{REDIS_DB}"
    client = redis.Redis.from_url(broker)
    client.flushdb()
    env = pipeline_env(database[0], broker, simulator.base_url)
    logs = tmp_path_factory.mktemp("pipeline-logs")
    cluster = Cluster(env, logs)
    try:
        # Two workers, and two beats: the tick's lease keeps them from doubling anything.
        cluster.start(workers=2, concurrency=2)
        cluster.wait_ready(cluster.start_beat("beat2"), "beat: Starting")
        yield cluster
    finally:
        cluster.stop()
        client.flushdb()
        client.close()


@pytest.fixture(autouse=True)
def _no_faults(simulator):
    simulator.simulator.faults.replace([])
    simulator.simulator.configure(add_latency=0.02)
    yield
    simulator.simulator.faults.replace([])


# -- helpers -----------------------------------------------------------------------------
def run_campaign(env, engine, tmp_path: Path, *, valid: int, seed: int) -> tuple[dict, RecipientFile]:
    source = write_cp1251_file(tmp_path / f"recipients-{seed}.csv", valid, invalid=37, duplicates=23, seed=seed)
    printed = submit(env, source.path, "--text", "Здравствуйте, {name}! Ваш код {code}", "--provider", "mobizon",
                     "--country", "KZ", "--name", f"integration {seed}")
    return printed, source


def assert_exact_accounting(engine, simulator, campaign_id: int, source: RecipientFile) -> None:
    status = campaign_status(campaign_id, lambda: UnitOfWork(engine))
    # The local accounting: every row counted once, every valid recipient added
    assert status["state"] == "done", status
    assert status["error"] is None
    assert status["recipients"] == {
        "rows": source.rows, "valid": len(source.valid), "invalid": source.invalid,
        "duplicates": source.duplicates, "added": len(source.valid), "rejected_by_provider": 0,
    }
    chunks = status["chunks"]
    assert chunks["total"] == chunks["added"] == math.ceil(len(source.valid) / CHUNK) and chunks["failed"] == 0
    # The provider's: one campaign of that name, each valid phone added exactly once, one message each
    sim = simulator.simulator.account
    same_name = [c for c in sim.summary()["campaigns"] if c["name"] == status["name"] and not c["deleted"]]
    assert [str(c["id"]) for c in same_name] == [status["provider_campaign_id"]]
    seen = sim.inspect_campaign(int(status["provider_campaign_id"]))
    assert {p["phone"] for p in seen["phones"]} == source.valid
    assert all(p["added"] == 1 for p in seen["phones"]), [p for p in seen["phones"] if p["added"] != 1][:5]
    assert seen["recipients"] == seen["sent"] == len(source.valid)
    # Counts equal to the simulator's counters, as numbers
    for key, value in seen["counters"].items():
        assert float(status["counters"][key]) == float(value), key
    # And each recipient knows its messageId (the simulator's) and its final status
    with engine.connect() as conn:
        rows = conn.execute(
            select(Recipient.phone, Recipient.message_id, Recipient.final_status, Recipient.provider_code)
            .where(Recipient.campaign_id == campaign_id, Recipient.verdict == "valid")
        ).all()
    expected_ids = {p["phone"]: str(p["messageId"]) for p in seen["phones"]}
    assert {r.phone: r.message_id for r in rows} == expected_ids
    assert all(r.final_status in FINAL for r in rows)
    assert {r.provider_code for r in rows} <= {0, 4}


def assert_key_in_no_log(cluster: Cluster) -> None:
    """Every worker's and beat's output shows the work (so the search searched something)
    and never the API key."""
    texts = cluster.logs()
    assert any("campaigns.add[" in text for text in texts.values()), "the workers logged no task"
    leaked = [name for name, text in texts.items() if API_KEY in text or API_KEY[5:] in text]
    assert leaked == [], f"the API key is in {leaked}"


def attempts_and_resent(engine, campaign_id: int) -> tuple[list[int], int]:
    """Each chunk's attempts, and how many recipients came back "already added" (code 4)."""
    with engine.connect() as conn:
        attempts = conn.scalars(select(Chunk.attempts).where(Chunk.campaign_id == campaign_id)).all()
        resent = conn.scalar(select(func.count()).where(Recipient.campaign_id == campaign_id,
                                                        Recipient.provider_code == 4))
    return list(attempts), resent


# -- the tests ---------------------------------------------------------------------------


def test_template_campaign_reaches_done_with_exact_accounting(cluster, database, simulator, tmp_path):
    # Given a Windows-1251 template file of 3,000 recipients with invalid and duplicate rows
    # When a user submits it to the workers
    printed, source = run_campaign(cluster.env, database[1], tmp_path, valid=3000, seed=1)
    assert printed["state"] in ("queued", "creating", "adding")
    # Then it reaches done, and every count agrees with the provider's
    wait_for(database[1], printed["id"], lambda s: s["state"] == "done", 90, "done")
    assert_exact_accounting(database[1], simulator, printed["id"], source)
    assert_key_in_no_log(cluster)


def test_faults_delay_the_campaign_and_change_nothing(cluster, database, simulator, tmp_path):
    # Given a provider that fails in every way the documents and PROVIDERS.md describe
    lost_create = FaultRule("lost", method="campaign/create", next=1)  # reconcile before creating again
    lost_add = FaultRule("lost", method="campaign/addrecipients", every=5)  # added, answer lost: code 4 on the resend
    too_frequent = FaultRule("code", method="campaign/addrecipients", next=3, code=30)  # back off that method
    lost_send = FaultRule("lost", method="campaign/send", next=1)  # read the status before sending again
    rules = [
        lost_create, lost_add, too_frequent, lost_send,
        FaultRule("http_error", method="campaign/addrecipients", every=4, status=503),
        FaultRule("hang", method="campaign/addrecipients", next=2, seconds=3),  # past the 1.5 s client timeout
        FaultRule("malformed", method="campaign/addrecipients", next=2, body="truncated"),
        FaultRule("drop", method="campaign/addrecipients", next=1),
        FaultRule("http_error", method="campaign/list", every=3, status=502),
        FaultRule("malformed", method="message/list", next=2, body="html"),
    ]
    simulator.simulator.faults.replace(rules)
    # When a campaign runs through it
    printed, source = run_campaign(cluster.env, database[1], tmp_path, valid=2500, seed=2)
    wait_for(database[1], printed["id"], lambda s: s["state"] == "done", 120, "done")
    # Then every fault fired, and the accounting is exact all the same: nothing lost, nothing twice
    assert all(rule.fired >= 1 for rule in rules), [(r.kind, r.method, r.fired) for r in rules]
    assert lost_create.fired == lost_send.fired == 1 and too_frequent.fired == 3
    assert_exact_accounting(database[1], simulator, printed["id"], source)
    assert_key_in_no_log(cluster)


def worker_calling_the_provider(cluster: Cluster, simulator, timeout: float = 30.0):
    """The worker (parent or pool child) whose socket has an AddRecipients call under way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ports = {port for _, port in list(simulator.adds_in_flight)}
        for proc in cluster.procs:
            if not proc.name.startswith("worker") or not proc.alive():
                continue
            parent = psutil.Process(proc.popen.pid)
            for member in [parent, *parent.children(recursive=True)]:
                try:
                    if any(c.laddr and c.laddr.port in ports for c in member.net_connections(kind="tcp")):
                        return proc
                except psutil.NoSuchProcess:
                    continue
        time.sleep(0.05)
    raise AssertionError("no worker was seen calling AddRecipients")


def test_a_worker_killed_mid_campaign_delays_it_and_loses_nothing(cluster, database, simulator, tmp_path):
    # Given a campaign whose chunks take a while at the provider
    simulator.simulator.configure(add_latency=0.8)
    printed, source = run_campaign(cluster.env, database[1], tmp_path, valid=3000, seed=3)
    engine = database[1]
    wait_for(engine, printed["id"], lambda s: s["chunks"]["added"] >= 3 and s["chunks"]["adding"] == 1, 60,
             "a chunk in flight")
    # When the worker whose AddRecipients call is under way is SIGKILLed with its pool (the
    # provider adds the chunk, the answer is lost), and a new worker starts
    victim = worker_calling_the_provider(cluster, simulator)
    cluster.kill(victim, signal.SIGKILL)
    replacement = cluster.start_worker("worker3")
    cluster.wait_ready(replacement, " ready.")
    # Then the campaign still reaches done with every recipient added exactly once
    wait_for(engine, printed["id"], lambda s: s["state"] == "done", 120, "done")
    assert_exact_accounting(engine, simulator, printed["id"], source)
    # and the chunk the worker held was reclaimed by the scanner and sent again: its
    # recipients came back "already added" (code 4) and count as added
    attempts, resent = attempts_and_resent(engine, printed["id"])
    assert max(attempts) >= 2, attempts
    assert resent > 0
    assert_key_in_no_log(cluster)


def test_redis_restarted_empty_mid_campaign_delays_it_and_loses_nothing(tmp_path_factory, simulator, tmp_path):
    # Given its own Redis (so killing it disturbs no one), database, two workers and a beat
    redis_server = RedisServer(tmp_path / "redis")
    try:
        redis_server.start()
    except RuntimeError as exc:
        services.require(f"redis-server ({exc})", False)
    url, engine = _pg_database()
    logs = tmp_path_factory.mktemp("pipeline-logs-redis")
    cluster = Cluster(pipeline_env(url, redis_server.url, simulator.base_url), logs)
    try:
        cluster.start(workers=2, concurrency=2, prefix="rworker")
        simulator.simulator.configure(add_latency=0.3)
        printed, source = run_campaign(cluster.env, engine, tmp_path, valid=3000, seed=4)
        wait_for(engine, printed["id"], lambda s: s["chunks"]["added"] >= 3, 60, "three chunks added")
        # When Redis dies, and comes back empty: every queued and scheduled task is gone
        redis_server.kill()
        time.sleep(1.5)
        redis_server.start()
        # Then the scanner re-issues the work, and the campaign reaches done exactly
        wait_for(engine, printed["id"], lambda s: s["state"] == "done", 120, "done")
        assert_exact_accounting(engine, simulator, printed["id"], source)
        assert all(p.alive() for p in cluster.procs), "a process did not survive the Redis restart"
        assert_key_in_no_log(cluster)
    finally:
        cluster.stop()
        redis_server.kill()
        engine.dispose()
        services.drop_pg_database(url)


def test_a_warm_shutdown_hands_the_campaign_back_after_the_chunk_in_flight(
    tmp_path_factory, simulator, tmp_path
):
    # Given one worker of its own (a database and a Redis database no other worker reads)
    # and no beat yet: a tick waiting in the queue while the worker shuts down would end
    # the add turn by itself (workers.tasks.TURN_SECONDS), and this test is about the
    # shutdown flag. The provider takes 2 s per AddRecipients: the campaign's 20 chunks
    # need ~40 s, so a worker that went on with it (an add turn lasts up to 60 s,
    # workers.tasks.CONTINUE_SECONDS) would still be adding long after the bound below.
    # The client waits longer than the provider takes, and the scanner longer than one
    # chunk takes, so nothing in flight is taken for lost.
    import redis

    broker = services.redis_url().rsplit("/", 1)[0] + "/7"  # this test's own database (tests/services.py)
    client = redis.Redis.from_url(broker)
    client.flushdb()
    url, engine = _pg_database()
    env = pipeline_env(url, broker, simulator.base_url)
    env.update(CAMPAIGNS_HTTP_TIMEOUT="8", CAMPAIGNS_STALL_SECONDS="10")
    cluster = Cluster(env, tmp_path_factory.mktemp("pipeline-logs-shutdown"))
    try:
        first = cluster.start_worker("sworker1")
        cluster.wait_ready(first, " ready.")
        simulator.simulator.configure(add_latency=2.0)
        printed, source = run_campaign(env, engine, tmp_path, valid=5000, seed=5)
        wait_for(engine, printed["id"], lambda s: s["chunks"]["added"] >= 2 and s["chunks"]["adding"] >= 1, 60,
                 "a chunk in flight")
        # When the worker's main process gets SIGTERM, as a process manager stops it (a warm
        # shutdown; the pool children reset SIGTERM to its default, so the signal goes to
        # the main process alone)
        stopped_at = time.monotonic()
        first.popen.send_signal(signal.SIGTERM)
        # Then it exits cleanly within a generous bound (the chunks in flight take ~2-4 s),
        # long before the campaign's remaining chunks would have taken
        try:
            exit_code = first.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the worker still ran 20 s after SIGTERM:\n{first.text()[-3000:]}") from None
        took = time.monotonic() - stopped_at
        assert exit_code == 0, first.text()[-3000:]
        # having recorded what it sent and handed the rest back: nothing left claimed,
        # chunks left to add
        left = campaign_status(printed["id"], lambda: UnitOfWork(engine))
        assert left["chunks"]["adding"] == 0, (left, took)
        assert left["chunks"]["pending"] > 0 and left["state"] == "adding", (left, took)
        # And when a second worker starts, with a beat (the provider answering quickly again)
        simulator.simulator.configure(add_latency=0.02)
        second = cluster.start_worker("sworker2")
        cluster.wait_ready(second, " ready.")
        cluster.wait_ready(cluster.start_beat("sbeat"), "beat: Starting")
        # Then the campaign reaches done with every recipient added exactly once
        wait_for(engine, printed["id"], lambda s: s["state"] == "done", 120, "done")
        assert_exact_accounting(engine, simulator, printed["id"], source)
        # and no chunk was sent twice: each was claimed once, none came back "already added"
        attempts, resent = attempts_and_resent(engine, printed["id"])
        assert set(attempts) == {1} and resent == 0, (attempts, resent)
        assert "campaigns.add[" in second.text(), "the second worker ran no add"
        assert_key_in_no_log(cluster)
    finally:
        cluster.stop()
        client.flushdb()
        client.close()
        engine.dispose()
        services.drop_pg_database(url)
