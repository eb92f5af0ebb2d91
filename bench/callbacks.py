"""Callback receiver benchmark: signed SMSC status callbacks (seed 004) posted by
--senders (4) concurrent keep-alive connections for --duration (30 s) into a real
``campaigns serve`` on a scratch PostgreSQL database. Prints figures; asserts nothing.

The database holds one SMSC campaign of --recipients (200,000) sent messages. Each sender
posts form-encoded statuses signed with md5 (SMSC_CALLBACK_SECRET): "delivered" for a
recipient of its own the first time round, then "at the operator" ones; every 20th
request replays one the sender already sent (a redelivery, as SMSC retries). The sender
runs in a separate process (raw asyncio over keep-alive connections) so it does not share
the GIL with this one.

Prints events a second answered 200, p50/p99 answer time, the server's CPU time per event
(and the machine's load average: the rate depends on what else runs), and, after the applier has
caught up, whether every event was applied exactly once: one stored row per distinct event,
its redeliveries counted on it, as many delivered recipients as distinct "delivered"
events, nothing unmatched. Targets on the 2-core machine: ≥ 1,000 events a second, p99 ≤
100 ms, none lost or doubled.

    .venv/bin/python bench/callbacks.py
    .venv/bin/python bench/callbacks.py --duration 10 --senders 8

PostgreSQL: --pg-url (default $CAMPAIGNS_BENCH_PG_URL or postgresql+psycopg://postgres@127.0.0.1:5432/test)
is an admin URL; a scratch database is created and dropped for each run.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.cluster import CAMPAIGNS, clean_env  # noqa: E402
from tests.serve import Server  # noqa: E402

SECRET = "bench-callback-secret"
CAMPAIGN = 1
REQUEST = "c1.bench0-0"
REPLAY_EVERY = 20


def phone(i: int) -> str:
    return f"7701{i:07d}"


def body(i: int, recipients: int) -> bytes:
    """The i-th distinct event: delivered for recipient i on the first pass, then 'at the
    operator' statuses (time i) for the recipients again."""
    status = "1" if i < recipients else "0"
    p = phone(i % recipients)
    fields = {"id": REQUEST, "phone": p, "status": status, "ts": str(1764800000 + i), "cnt": "1", "type": "0"}
    fields["md5"] = hashlib.md5(f"{REQUEST}:{p}:{status}:{SECRET}".encode()).hexdigest()
    return urlencode(fields).encode()


async def _generate(host: str, port: int, senders: int, duration: float, recipients: int) -> dict:
    latencies: list[float] = []
    codes: dict[int, int] = {}
    sent_ok: dict[int, int] = {}  # distinct event -> times answered 200
    errors = 0
    stop = time.perf_counter() + duration
    share = recipients // senders

    async def one(k: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        mine, n = [], 0
        while time.perf_counter() < stop:
            if n % REPLAY_EVERY == REPLAY_EVERY - 1 and mine:
                event = mine[(n * 7919) % len(mine)]
            else:
                # sender k's distinct events: its share of the recipients, then the rest in turn
                event = k * share + len(mine) if len(mine) < share else recipients + len(mine) * senders + k
                mine.append(event)
            n += 1
            payload = body(event, recipients)
            request = (f"POST /callbacks/smsc HTTP/1.1\r\nHost: {host}:{port}\r\n"
                       f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(payload)}\r\n\r\n"
                       ).encode() + payload
            start = time.perf_counter()
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError):
                errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            latencies.append(time.perf_counter() - start)
            code = int(head[9:12])
            codes[code] = codes.get(code, 0) + 1
            if code == 200:
                sent_ok[event] = sent_ok.get(event, 0) + 1
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(one(k) for k in range(senders)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    pick = lambda q: latencies[min(int(q * len(latencies)), len(latencies) - 1)] * 1000  # noqa: E731
    return {"rps": len(latencies) / elapsed, "p50": pick(0.50), "p99": pick(0.99), "max": latencies[-1] * 1000,
            "errors": errors, "requests": len(latencies), "codes": codes,
            "distinct": len(sent_ok), "answered": sum(sent_ok.values()),
            "delivered_events": sum(1 for e in sent_ok if e < recipients)}


def _scratch_pg(admin_url: str):
    from tests.services import scratch_database

    return scratch_database(admin_url, "campaigns_bench_callbacks")


def seed(db_url: str, recipients: int) -> None:
    """One running SMSC campaign whose ``recipients`` messages went out under REQUEST."""
    from campaigns.store.engine import make_engine
    from campaigns.store.keys import valid_base

    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO campaigns (id, name, provider, text, type, placeholders, state, state_changed_at, "
                "create_attempts, launch_attempts, retries, rows, valid, invalid, duplicates, segments, created_at, "
                "updated_at, provider_campaign_id, next_poll_at) VALUES (%s, 'bench', 'smsc', 'hi', 2, 'keep', "
                "'running', now(), 0, 0, 0, %s, %s, 0, 0, %s, now(), now(), 'c1.bench0', now() + interval '1 day')",
                (CAMPAIGN, recipients, recipients, recipients),
            )
            cursor = conn.connection.driver_connection.cursor()
            base = valid_base(CAMPAIGN)
            with cursor.copy("COPY recipients (id, campaign_id, row_number, raw_phone, phone, verdict, message_id) "
                             "FROM STDIN") as copy:
                for i in range(recipients):
                    p = phone(i)
                    copy.write(f"{base + i}\t{CAMPAIGN}\t{i}\t+{p}\t{p}\tvalid\t{REQUEST}:{p}\n")
            conn.exec_driver_sql("ANALYZE recipients")
    finally:
        engine.dispose()


def check(db_url: str, result: dict, timeout: float = 120.0) -> dict:
    """Wait for the applier, then compare what is stored with what was answered 200."""
    from campaigns.store.engine import make_engine

    engine = make_engine(db_url)
    try:
        start = time.perf_counter()
        with engine.connect() as conn:
            while True:
                pending = conn.exec_driver_sql("SELECT count(*) FROM callback_events WHERE applied_at IS NULL").scalar()
                conn.commit()
                if not pending or time.perf_counter() - start > timeout:
                    break
                time.sleep(0.2)
            caught_up = time.perf_counter() - start
            rows, deliveries = conn.exec_driver_sql(
                "SELECT count(*), coalesce(sum(deliveries), 0) FROM callback_events").one()
            outcomes = dict(conn.exec_driver_sql(
                "SELECT coalesce(outcome, 'pending'), count(*) FROM callback_events GROUP BY 1").all())
            delivered = conn.exec_driver_sql(
                "SELECT count(*) FROM recipients WHERE final_status = 'DELIVRD'").scalar()
    finally:
        engine.dispose()
    exact = (rows == result["distinct"] and deliveries == result["answered"] and pending == 0
             and outcomes.get("applied", 0) == result["delivered_events"] == delivered
             and outcomes.get("applied", 0) + outcomes.get("not final", 0) == rows)
    return {"rows": rows, "deliveries": deliveries, "outcomes": outcomes, "delivered": delivered,
            "pending": pending, "caught_up": caught_up, "exact": exact}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--recipients", type=int, default=200_000)
    parser.add_argument("--pg-url", default=os.environ.get("CAMPAIGNS_BENCH_PG_URL",
                                                           "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--generator", nargs=2, metavar=("HOST", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generator:
        host, port = args.generator
        print(json.dumps(asyncio.run(_generate(host, int(port), args.senders, args.duration, args.recipients))))
        return

    db_url, drop = _scratch_pg(args.pg_url)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-callbacks-") as tmp_name:
            tmp = Path(tmp_name)
            env = clean_env(CAMPAIGNS_DATABASE_URL=db_url, CAMPAIGNS_DATA_DIR=str(tmp / "data"),
                            SMSC_CALLBACK_SECRET=SECRET, CAMPAIGNS_SANDBOX_URL="http://127.0.0.1:9")
            subprocess.run([CAMPAIGNS, "db", "upgrade"], env=env, check=True, capture_output=True)
            seed(db_url, args.recipients)
            with Server(env, tmp) as server:
                import psutil

                serve = psutil.Process(server.popen.pid)
                cpu_before = sum(serve.cpu_times()[:2])
                done = subprocess.run(
                    [sys.executable, __file__, "--generator", "127.0.0.1", str(server.port), "--senders",
                     str(args.senders), "--duration", str(args.duration), "--recipients", str(args.recipients)],
                    capture_output=True, text=True, check=True)
                result = json.loads(done.stdout)
                stored = check(db_url, result)
                # the server's own CPU per event (receiving, storing, applying): less disturbed
                # than the rate by whatever else the machine runs
                result["cpu_us"] = (sum(serve.cpu_times()[:2]) - cpu_before) / max(result["requests"], 1) * 1e6
                result["load"] = os.getloadavg()[0]
    finally:
        drop()
    print(f"campaigns serve (embedded, PostgreSQL), {args.senders} senders for {args.duration:.0f} s, "
          f"one event in {REPLAY_EVERY} a redelivery")
    print(f"  accepted: {result['rps']:,.0f} events/s ({result['requests']:,} requests, answers {result['codes']}, "
          f"{result['errors']} socket errors)   target ≥ 1,000")
    print(f"  answer time: p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms, max {result['max']:.1f} ms"
          f"   target p99 ≤ 100 ms")
    print(f"  stored: {stored['rows']:,} events for {result['distinct']:,} distinct answered 200, "
          f"{stored['deliveries']:,} deliveries for {result['answered']:,} answers; outcomes {stored['outcomes']}; "
          f"{stored['delivered']:,} recipients delivered for {result['delivered_events']:,} delivered events; "
          f"applier caught up {stored['caught_up']:.1f} s after the last answer")
    print(f"  server CPU: {result['cpu_us']:.0f} µs an event (receive, store, apply) = "
          f"{1e6 / max(result['cpu_us'], 1):,.0f} events/s a core; machine load average {result['load']:.1f} on "
          f"{os.cpu_count()} CPUs")
    print(f"  every event applied exactly once: {'yes' if stored['exact'] else 'NO'}")


if __name__ == "__main__":
    main()
