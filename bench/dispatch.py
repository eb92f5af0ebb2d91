"""Dispatch benchmark: how close the pipeline comes to the provider's own pace.

Against the Mobizon simulator with a fixed AddRecipients latency L (SimConfig.add_latency),
real `campaigns worker` processes on Redis and PostgreSQL:

  1. one campaign of 100,000 recipients (200 chunks): chunks of one campaign go one at a
     time, so the ideal is 200 × L; target ≤ 1.15 × ideal. The orchestration overhead
     per chunk is the gap between one chunk's answer and the next chunk's request (below);
     target ≤ 10 ms. (wall − ideal) / chunks also holds the provider's own time above L.
  2. ten campaigns of 20,000 with four worker processes: throughput against the ideal of
     four parallel lanes (4 / L chunks a second).

The add phase is timed at the simulator (an ASGI wrapper notes when each AddRecipients
request arrives and when its answer has been sent): from the first call's arrival to the
last call's answer, so ingestion and process start-up are not counted. The provider's own
time per call (L plus the simulator's work on 500 recipients) is measured too, and the
orchestration overhead of one campaign is the gap between one chunk's answer and the next
chunk's request. Inside an add task (services.chunk_pipeline) that gap is the client
reading the answer's envelope and counts and the sender thread posting the next request,
built meanwhile (the recording of the previous chunk, the claim of the next and the full
reading of the answer overlap the calls); where one task hands the campaign to the next,
the gap also holds the broker hop and the new task's claim.

    .venv/bin/python bench/dispatch.py [--latency 0.1] [--scale 1.0]

Needs PostgreSQL and Redis as the tests do (scripts/services.sh). Prints its figures.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select  # noqa: E402

from campaigns.simulator import SimConfig, SimulatorServer  # noqa: E402
from campaigns.store.engine import make_engine, upgrade  # noqa: E402
from campaigns.store.models import Campaign, Chunk  # noqa: E402
from tests import services  # noqa: E402
from tests.cluster import Cluster, clean_env, submit  # noqa: E402

API_KEY = "bench" + secrets.token_hex(16)
REDIS_DB = 14
CHUNK = 500


def write_numbers(path: Path, count: int, start: int) -> Path:
    """A plain campaign file: a header and ``count`` distinct Kazakh mobiles."""
    with path.open("w", encoding="utf-8") as fh:
        fh.write("phone\n")
        fh.writelines(f"7701{start + i:07d}\n" for i in range(count))
    return path


class AddCalls:
    """ASGI middleware noting (arrival, answered) monotonic times of every AddRecipients call."""

    def __init__(self, app, calls: list[tuple[float, float]]):
        self.app = app
        self.calls = calls

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].lower().endswith("/campaign/addrecipients"):
            return await self.app(scope, receive, send)
        arrived = time.monotonic()

        async def noting(message):
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.calls.append((arrived, time.monotonic()))

        return await self.app(scope, receive, noting)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] if ordered else float("nan")


def wait_added(engine, campaign_ids: list[int], chunks: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            added = conn.scalar(
                select(func.count()).where(Chunk.campaign_id.in_(campaign_ids), Chunk.state == "added")
            )
            broken = conn.scalar(
                select(func.count()).where(Campaign.id.in_(campaign_ids), Campaign.state.in_(["failed", "paused"]))
            )
        if added >= chunks:
            return
        if broken:
            raise SystemExit(f"a campaign failed or paused: see `campaigns status` for {campaign_ids}")
        time.sleep(0.2)
    raise SystemExit(f"only {added} of {chunks} chunks added after {timeout:.0f} s")


def scenario(env, engine, folder: Path, calls: list, *, campaigns: int, recipients: int, latency: float,
             workers: int, concurrency: int, label: str) -> dict:
    """Submit the campaigns with no worker running, then start the workers and time the adds."""
    import redis

    client = redis.Redis.from_url(env["CAMPAIGNS_BROKER_URL"])
    client.flushdb()
    ids = []
    started = time.monotonic()
    for i in range(campaigns):
        source = write_numbers(folder / f"{label}-{i}.csv", recipients, start=i * recipients)
        ids.append(submit(env, source, "--text", "Bench: your order has shipped", "--provider", "mobizon",
                          "--name", f"{label} {i}")["id"])
    ingest = time.monotonic() - started
    chunks = campaigns * math.ceil(recipients / CHUNK)
    cluster = Cluster(env, folder / f"logs-{label}")
    calls.clear()
    try:
        cluster.start(workers=workers, concurrency=concurrency, beat=True)
        wait_added(engine, ids, chunks, timeout=chunks * latency * 3 + 120)
    finally:
        cluster.stop()
        client.flushdb()
        client.close()
    task_seconds = [float(m) for text in cluster.logs().values()
                    for m in re.findall(r"Task campaigns\.add\[[^\]]+\] succeeded in ([0-9.]+)s", text)]
    seen = sorted(calls)
    wall = seen[-1][1] - seen[0][0]
    provider = [end - start for start, end in seen]
    gaps = [nxt[0] - prev[1] for prev, nxt in zip(seen, seen[1:])]  # meaningful for one campaign
    return {"label": label, "chunks": chunks, "calls": len(seen), "wall": wall, "ingest": ingest,
            "provider": provider, "gaps": gaps, "tasks": task_seconds}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.1, help="AddRecipients latency in seconds (default 0.1)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the recipient counts (default 1.0)")
    parser.add_argument("--only", choices=["one", "ten"], help="run one scenario")
    args = parser.parse_args(argv)
    latency = args.latency
    one_size = int(100_000 * args.scale)
    ten_size = int(20_000 * args.scale)

    url = services.create_pg_database()
    upgrade(url)
    engine = make_engine(url)
    broker = services.redis_url().rsplit("/", 1)[0] + f"/{REDIS_DB}"
    simulator = SimulatorServer(SimConfig(api_key=API_KEY, speed=600.0, moderation=False, add_latency=latency))
    calls: list[tuple[float, float]] = []
    simulator.app.add_middleware(AddCalls, calls=calls)
    simulator.start()
    env = clean_env(
        CAMPAIGNS_DATABASE_URL=url, CAMPAIGNS_BROKER_URL=broker, MOBIZON_API_KEY=API_KEY,
        MOBIZON_API_URL=simulator.base_url, CAMPAIGNS_POLL_SECONDS="1", CAMPAIGNS_STALL_SECONDS="60",
        CAMPAIGNS_CHUNK_SIZE=str(CHUNK),
    )
    results = []
    load_before = os.getloadavg()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as tmp:
            folder = Path(tmp)
            if args.only in (None, "one"):
                results.append(scenario(env, engine, folder, calls, campaigns=1, recipients=one_size, latency=latency,
                                        workers=2, concurrency=2, label="one"))
            if args.only in (None, "ten"):
                results.append(scenario(env, engine, folder, calls, campaigns=10, recipients=ten_size, latency=latency,
                                        workers=2, concurrency=2, label="ten"))
    finally:
        simulator.stop()
        engine.dispose()
        services.drop_pg_database(url)

    load_after = os.getloadavg()
    print(f"AddRecipients latency {latency * 1000:.0f} ms, chunks of {CHUNK}, scale {args.scale:g}; "
          f"PostgreSQL + Redis, 2 `campaigns worker --concurrency 2` (four worker processes)")
    print(f"load average (1, 5, 15 min) before {', '.join(f'{x:.2f}' for x in load_before)}; "
          f"after {', '.join(f'{x:.2f}' for x in load_after)} on {os.cpu_count()} CPUs: other work on the "
          f"machine slows every figure")
    for r in results:
        provider = sum(r["provider"]) / len(r["provider"])
        print(f"{r['label']}: {r['chunks']} chunks ({r['calls']} AddRecipients calls), ingest+submit "
              f"{r['ingest']:.1f} s, provider time per call {provider * 1000:.0f} ms "
              f"(latency {latency * 1000:.0f} ms + the simulator's own work)")
        if r["label"] == "one":
            ideal = r["chunks"] * latency
            gap = sum(r["gaps"]) / len(r["gaps"]) * 1000
            print(f"  one campaign: add phase {r['wall']:.2f} s vs ideal {ideal:.2f} s (chunks x latency): "
                  f"ratio {r['wall'] / ideal:.3f} (target <= 1.15); vs chunks x measured provider time: "
                  f"{r['wall'] / (r['chunks'] * provider):.3f}")
            print(f"  orchestration overhead per chunk (answer to next request): mean {gap:.1f} ms, "
                  f"p50 {percentile(r['gaps'], 0.5) * 1000:.1f} ms, p95 {percentile(r['gaps'], 0.95) * 1000:.1f} ms "
                  f"(target <= 10)")
            if r["tasks"]:
                # An add task goes on with the campaign's next chunks (workers.tasks.CONTINUE_SECONDS),
                # so only tasks - 1 gaps hold a hand-over between tasks; taken as the largest ones.
                hops = len(r["tasks"]) - 1
                ordered = sorted(r["gaps"])
                within = ordered[: len(ordered) - hops] if hops else ordered
                across = ordered[len(ordered) - hops:] if hops else []
                print(f"    {len(r['tasks'])} add tasks for {r['chunks']} chunks ({sum(r['tasks']):.2f} s of task in all, "
                      f"from the workers' logs): gap within a task mean {sum(within) / len(within) * 1000:.1f} ms "
                      f"(all gaps but the {hops} largest); the {hops} largest, taken as the hand-overs between "
                      f"tasks: {', '.join(f'{g * 1000:.0f}' for g in across) or '-'} ms")
        else:
            throughput = r["chunks"] / r["wall"]
            ideal = 4 / latency
            busy = sum(r["provider"]) / (4 * r["wall"])
            print(f"  ten campaigns: add phase {r['wall']:.2f} s, {throughput:.1f} chunks/s vs ideal {ideal:.1f} "
                  f"for four lanes of {latency * 1000:.0f} ms ({throughput / ideal:.0%}); vs four lanes of the "
                  f"measured provider time {4 / provider:.1f} ({throughput / (4 / provider):.0%}); "
                  f"lanes busy {busy:.0%}")


if __name__ == "__main__":
    main()
