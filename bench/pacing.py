"""Pacing benchmark: an SMSC campaign and a cascade-gateway campaign run by four worker
processes at a target rate, and Celery's own per-task ``rate_limit`` at the same rate with
the same four workers.

For each target (default 600/60 and 6000/60):

  1. the pipeline: four `campaigns worker --concurrency 1` processes and `campaigns beat`
     on Redis and PostgreSQL, one SMSC campaign of rate × seconds recipients submitted with
     --rate-limit/--rate-period, sent by the workers through the shared Redis limiter;
  1b. the same for the cascade gateway (seed 001): one campaign on Viber then SMS, sent
     message by message through the JSON interface to the project's gateway simulator;
  2. Celery alone: four Celery worker processes (prefork, concurrency 1) of a one-task app
     whose task sends one packet of 10 to the simulator, ``rate_limit`` set to the target
     in packets a second; rate × seconds / 10 tasks queued at once.

Both send to the project's SMSC simulator (in this process), which notes when each
message arrived. Figures: the achieved rate (messages after the first packet, divided by
the time from the first message to the last), the busiest second (any one-second window,
and the busiest calendar second), and recipients sent twice. Targets: within 2 % of the
target rate, no second above target + 10, nobody twice.

    .venv/bin/python bench/pacing.py [--seconds 30] [--targets 600/60,6000/60] [--providers smsc,cascade]

Needs PostgreSQL and Redis as the tests do (scripts/services.sh). Prints its figures.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from campaigns.simulator.cascade import create_cascade_app  # noqa: E402
from campaigns.simulator.cascade_gateway import CascadeConfig, CascadeGateway  # noqa: E402
from campaigns.simulator.server import SimulatorServer  # noqa: E402
from campaigns.simulator.smsc import SmscConfig, SmscSimulator, create_smsc_app  # noqa: E402
from campaigns.store.engine import upgrade  # noqa: E402
from tests import services  # noqa: E402
from tests.cluster import Cluster, clean_env, submit  # noqa: E402

LOGIN, PASSWORD = "bench", "bench-smsc-password"
REDIS_DB = 15
WORKERS = 4
PACKET = 10


@dataclass
class Figures:
    label: str
    messages: int
    span: float
    rate: float
    busiest_window: int
    busiest_calendar: int
    twice: int

    def line(self, target: float) -> str:
        off = (self.rate / target - 1) * 100
        return (f"  {self.label:<34} {self.rate:9.2f}/s {off:+8.1f}%   {self.busiest_window:6d} {self.busiest_calendar:8d}"
                f"   {self.twice:6d}   {self.messages:6d} in {self.span:6.1f} s")


def measure(label: str, sim: SmscSimulator) -> Figures:
    messages = sim.messages
    times = sorted(m.sent_at for m in messages)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    calendar = max(Counter(int(t) for t in times).values()) if times else 0
    twice = sum(1 for n in sim.sent_counts().values() if n > 1)
    rate = (len(times) - PACKET) / span if span else 0.0
    return Figures(label, len(times), span, rate, best, calendar, twice)


def wait_for_messages(sim: SmscSimulator, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(sim.messages) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    if len(sim.messages) < count:
        raise RuntimeError(f"only {len(sim.messages)} of {count} messages arrived in {timeout:.0f} s")


def flush(broker: str) -> None:
    import redis

    client = redis.Redis.from_url(broker)
    client.flushdb()
    client.close()


# -- 1. the pipeline -----------------------------------------------------------------------
def run_pipeline(limit: int, period: int, count: int, broker: str, workdir: Path, provider: str = "smsc") -> Figures:
    db = services.create_pg_database()
    upgrade(db)
    flush(broker)
    common = dict(CAMPAIGNS_DATABASE_URL=db, CAMPAIGNS_BROKER_URL=broker, CAMPAIGNS_POLL_SECONDS="1",
                  CAMPAIGNS_STALL_SECONDS="30")
    if provider == "cascade":
        # every fifth phone has no Viber: it gets its message as an SMS
        sim = CascadeGateway(CascadeConfig(login=LOGIN, password=PASSWORD, no_viber_endings=("0", "5")))
        server = SimulatorServer(create_cascade_app(sim))
        server.start()
        env = clean_env(**common, CASCADE_API_URL=server.base_url, CASCADE_LOGIN=LOGIN, CASCADE_PASSWORD=PASSWORD)
        options = ("--provider", "cascade", "--channels", "viber,sms")
    else:
        sim = SmscSimulator(SmscConfig(login=LOGIN, password=PASSWORD))
        server = SimulatorServer(create_smsc_app(sim))
        server.start()
        env = clean_env(**common, SMSC_LOGIN=LOGIN, SMSC_PASSWORD=PASSWORD, SMSC_API_URL=server.base_url)
        options = ("--provider", "smsc")
    cluster = Cluster(env, workdir / f"pipeline-{provider}-{limit}-{period}")
    try:
        cluster.start(workers=WORKERS, concurrency=1)
        source = workdir / f"recipients-{limit}.csv"
        source.write_text("phone\n" + "".join(f"7701{i:07d}\n" for i in range(count)), encoding="utf-8")
        submit(env, source, "--text", "Pacing bench", *options, "--country", "KZ",
               "--rate-limit", str(limit), "--rate-period", str(period))
        wait_for_messages(sim, count, timeout=count / (limit / period) * 2 + 60)
        return measure(f"{provider} pipeline (shared Redis limiter)", sim)
    finally:
        cluster.stop()
        server.stop()
        flush(broker)
        services.drop_pg_database(db)


# -- 2. Celery's own rate_limit ------------------------------------------------------------
def celery_app(broker: str, smsc_url: str, rate_limit: str):
    from celery import Celery

    app = Celery("bench_pacing", broker=broker)
    app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True,
                    broker_connection_retry_on_startup=True, worker_hijack_root_logger=False)
    clients: dict = {}

    @app.task(name="bench.send_packet", rate_limit=rate_limit)
    def send_packet(request_id: str, phones: list[str]) -> None:
        import httpx

        from campaigns.providers.smsc.client import SmscClient

        client = clients.get("smsc")
        if client is None:
            client = clients["smsc"] = SmscClient(httpx.Client(timeout=10), login=LOGIN, password=PASSWORD,
                                                  api_url=smsc_url)
        client.send(id=request_id, phones=phones, text="Pacing bench")

    return app


def celery_worker(broker: str, smsc_url: str, rate_limit: str, name: str) -> None:
    app = celery_app(broker, smsc_url, rate_limit)
    app.worker_main(["worker", "--concurrency", "1", "--loglevel", "warning", "--hostname", f"{name}@%h",
                     "--without-gossip", "--without-mingle", "--without-heartbeat"])


def run_celery(limit: int, period: int, count: int, broker: str) -> Figures:
    packets_per_second = limit / period / PACKET
    rate_limit = f"{packets_per_second:g}/s"
    sim = SmscSimulator(SmscConfig(login=LOGIN, password=PASSWORD))
    flush(broker)
    server = SimulatorServer(create_smsc_app(sim))
    server.start()
    procs = []
    try:
        for i in range(WORKERS):
            procs.append(subprocess.Popen(
                [sys.executable, __file__, "--celery-worker", broker, server.base_url, rate_limit, f"cw{i}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                env=clean_env(),
            ))
        time.sleep(5)  # let the four workers connect
        app = celery_app(broker, server.base_url, rate_limit)
        numbers = [f"7701{i:07d}" for i in range(count)]
        for n, start in enumerate(range(0, count, PACKET)):
            app.send_task("bench.send_packet", args=[f"celery-{n}", numbers[start : start + PACKET]])
        app.close()
        wait_for_messages(sim, count, timeout=count / (limit / period) * 2 + 60)
        return measure(f"Celery rate_limit={rate_limit} per task", sim)
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)
        server.stop()
        flush(broker)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each paced run at its target")
    parser.add_argument("--targets", default="600/60,6000/60", help="limit/period pairs, comma separated")
    parser.add_argument("--providers", default="smsc,cascade", help="providers run through the pipeline, comma separated")
    parser.add_argument("--no-celery", action="store_true", help="skip the Celery rate_limit comparison")
    args = parser.parse_args()
    broker = services.redis_url().rsplit("/", 1)[0] + f"/{REDIS_DB}"
    with tempfile.TemporaryDirectory() as tmp:
        for target in args.targets.split(","):
            limit, period = (int(x) for x in target.split("/"))
            per_second = limit / period
            count = int(per_second * args.seconds)
            print(f"target {limit}/{period} = {per_second:g} messages/s; {count} recipients; {WORKERS} worker processes")
            print(f"  {'':<34} {'achieved':>11} {'vs target':>9}   {'busiest second':>15}   {'twice':>6}   {'messages':>6}")
            print(f"  {'':<34} {'':>11} {'':>9}   {'window':>6} {'calendar':>8}")
            verdicts = []
            for provider in args.providers.split(","):
                ours = run_pipeline(limit, period, count, broker, Path(tmp), provider.strip())
                print(ours.line(per_second), flush=True)
                verdicts.append((provider, abs(ours.rate / per_second - 1) <= 0.02
                                 and ours.busiest_window <= per_second + 10 and ours.twice == 0))
            if not args.no_celery:
                theirs = run_celery(limit, period, count, broker)
                print(theirs.line(per_second), flush=True)
            for provider, verdict in verdicts:
                print(f"  {provider} pipeline within 2% of the target, no second above target + 10, nobody twice: "
                      f"{'yes' if verdict else 'NO'}", flush=True)
            print(flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--celery-worker":
        celery_worker(*sys.argv[2:])
    else:
        main()
