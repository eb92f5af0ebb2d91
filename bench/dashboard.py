"""Dashboard benchmark: the campaigns list with --campaigns (10,000) campaigns and the page
of a campaign with --recipients (1,000,000) recipients, rendered by a real ``campaigns
serve``; prints p50/p95 per page. Asserts nothing (the target: each ≤ 300 ms).

The data: campaigns written straight into the database in bulk (states spread over the
enum, provider counters, two chunks each), and the big campaign ingested from a generated
CSV through ``ingest_file`` (as ``submit`` stores it), then marked running with every chunk
added, its counters and --samples (2,000) counter samples. The server runs with a broker
URL nobody consumes (redis db 15), so no embedded runner touches the campaigns while they
are measured. Each figure: --requests (40) sequential GETs on one keep-alive connection
of a signed-in viewer, after 3 warm-up requests; latency is the client's wall time.

    .venv/bin/python bench/dashboard.py
    .venv/bin/python bench/dashboard.py --db pg      # a scratch PostgreSQL database
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "bench-password-1"
STATES = ["done"] * 6 + ["running", "failed", "cancelled", "paused", "queued", "adding"]


def build(url: str, campaigns: int, recipients: int, samples: int, tmp: Path) -> int:
    """Fill the database; returns the big campaign's id."""
    from sqlalchemy import insert, update

    from campaigns.ingest.service import IngestOptions, ingest_file
    from campaigns.settings import Settings
    from campaigns.store.engine import make_engine, upgrade
    from campaigns.store.models import Campaign, Chunk, CounterSample

    upgrade(url)
    engine = make_engine(url)
    now = datetime.now(timezone.utc)
    rng = random.Random(7)
    started = time.perf_counter()
    with engine.begin() as conn:
        for start in range(0, campaigns, 2000):
            rows = []
            for i in range(start, min(start + 2000, campaigns)):
                valid = rng.randint(50, 5000)
                delivered = int(valid * 0.9)
                rows.append(dict(
                    name=f"{rng.choice(['Spring', 'Summer', 'Black Friday', 'Loyalty'])} sale {i}", provider="sandbox",
                    text="Hello {name}", type=3, state=STATES[i % len(STATES)], state_changed_at=now,
                    rows=valid + 10, valid=valid, invalid=8, duplicates=2, segments=valid,
                    counters={"totalMsgNum": valid, "totalNewMsgNum": 0, "totalDelivrdMsgNum": delivered,
                              "totalUndelivMsgNum": valid - delivered},
                    created_at=now - timedelta(minutes=campaigns - i), updated_at=now, retries=0,
                    create_attempts=0, launch_attempts=0, placeholders="keep"))
            conn.execute(insert(Campaign), rows)
        ids = [r[0] for r in conn.exec_driver_sql("SELECT id, valid FROM campaigns ORDER BY id")]
        valids = dict(conn.exec_driver_sql("SELECT id, valid FROM campaigns").all())
        chunk_rows = []
        for cid in ids:
            half = valids[cid] // 2
            chunk_rows += [dict(campaign_id=cid, seq=0, size=half, state="added", added=half, rejected=0,
                                first_row=2, last_row=half + 1, state_changed_at=now, attempts=1),
                           dict(campaign_id=cid, seq=1, size=valids[cid] - half, state="added",
                                added=valids[cid] - half, rejected=0, first_row=half + 2, last_row=valids[cid] + 1,
                                state_changed_at=now, attempts=1)]
        for start in range(0, len(chunk_rows), 5000):
            conn.execute(insert(Chunk), chunk_rows[start:start + 5000])
        big = conn.execute(insert(Campaign).values(
            name="The million", provider="sandbox", text="Hello {name}", type=3, state="draft", state_changed_at=now,
            created_at=now, updated_at=now, retries=0, create_attempts=0, launch_attempts=0, placeholders="keep",
        )).inserted_primary_key[0]
    print(f"  {campaigns:,} campaigns with 2 chunks each: {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    path = tmp / "million.csv"
    with open(path, "w", encoding="utf-8") as out:
        out.write("phone,name\n")
        for i in range(recipients):
            out.write(f"+7701{i:07d},Client {i}\n")
    report = ingest_file(path, IngestOptions(text="Hello {name}"), Settings().with_(database_url=url), engine, big)
    print(f"  {report.valid:,} recipients ingested: {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(update(Chunk).where(Chunk.campaign_id == big).values(state="added", added=Chunk.size))
        total = report.valid
        conn.execute(update(Campaign).where(Campaign.id == big).values(
            state="running", provider_status="RUNNING", provider_campaign_id="9999",
            counters={"totalMsgNum": total, "totalNewMsgNum": total // 3, "totalDelivrdMsgNum": total // 2,
                      "totalUndelivMsgNum": total // 50}))
        step = max(total // samples, 1)
        conn.execute(insert(CounterSample), [
            dict(campaign_id=big, taken_at=now - timedelta(seconds=samples - k), status="RUNNING",
                 counters={"totalMsgNum": total, "totalNewMsgNum": max(total - k * step, 0),
                           "totalDelivrdMsgNum": k * step * 9 // 10, "totalUndelivMsgNum": k * step // 50})
            for k in range(samples)])
    print(f"  running, {samples:,} counter samples: {time.perf_counter() - started:.1f} s")
    engine.dispose()
    return big


def measure(client, path: str, requests: int) -> tuple[float, float]:
    for _ in range(3):
        assert client.get(path).status_code == 200, path
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 200, (path, answer.status_code)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(round(0.95 * len(times))) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--campaigns", type=int, default=10_000)
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=2_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--db", choices=("sqlite", "pg"), default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("CAMPAIGNS_BENCH_PG_URL",
                                                           "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()

    import httpx

    from tests.serve import Server

    tmp = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    admin_url = None
    if args.db == "pg":
        from sqlalchemy import create_engine, text

        admin_url = args.pg_url
        name = f"bench_dashboard_{uuid.uuid4().hex[:8]}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    else:
        url = f"sqlite:///{tmp / 'campaigns.db'}"
    try:
        print(f"building on {args.db}:")
        big = build(url, args.campaigns, args.recipients, args.samples, tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGNS_")}
        env.update(CAMPAIGNS_DATABASE_URL=url, CAMPAIGNS_DATA_DIR=str(tmp / "data"),
                   CAMPAIGNS_BROKER_URL="redis://127.0.0.1:6379/15")
        campaigns_cli = str(Path(sys.executable).parent / "campaigns")
        subprocess.run([campaigns_cli, "user", "add", "bench", "--role", "viewer", "--password-stdin"], env=env,
                       input=PASSWORD + "\n", text=True, check=True, capture_output=True)
        with Server(env, tmp) as server, httpx.Client(base_url=server.url, timeout=60) as client:
            form = client.get("/login").text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
            assert client.post("/login", data={"name": "bench", "password": PASSWORD, "csrf_token": csrf}
                               ).status_code == 303
            pages = [
                ("campaigns list, first page (50 of all)", "/campaigns"),
                ("campaigns list, state=done", "/campaigns?state=done"),
                ("campaigns list, search 'friday'", "/campaigns?q=friday"),
                ("campaigns list, the page's refresh", "/campaigns/rows"),
                (f"campaign page, {args.recipients:,} recipients", f"/campaigns/{big}"),
                ("  its recipients from row 500,000", f"/campaigns/{big}/recipients?after=500000"),
                ("  its recipients, status=invalid", f"/campaigns/{big}/recipients?status=invalid"),
                ("  its recipients, status=delivered (none yet)", f"/campaigns/{big}/recipients?status=delivered"),
                ("  its charts' data (funnel, counters over time)", f"/campaigns/{big}/charts.json"),
                ("  its live summary", f"/campaigns/{big}/live"),
                ("/metrics (aggregates over every campaign)", "/metrics"),
            ]
            print(f"\n{'page':52} {'p50 ms':>8} {'p95 ms':>8}   ({args.requests} requests each, {args.db})")
            for label, path in pages:
                p50, p95 = measure(client, path, args.requests)
                print(f"{label:52} {p50:8.1f} {p95:8.1f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if admin_url:
            from sqlalchemy import create_engine, text

            admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
