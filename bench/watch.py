"""Watched-bucket benchmark. Prints figures; asserts nothing.

(a) drop to campaign: a generated CSV of --rows (100,000) Kazakh mobiles with a name
    column is moved (one rename: the file appears whole) into a folder watched by a real
    ``campaigns watch`` process (embedded default, SQLite, CAMPAIGNS_WATCH_SETTLE_SECONDS
    --settle, CAMPAIGNS_WATCH_SECONDS --every), and timed from the rename to the moment the
    drop has its campaign (the database polled every 10 ms). Compared with the submit time
    of the same file: ``submit_campaign`` (check, ingest, queue) called in a warm process on
    a fresh SQLite database, the work the drop's step does after its claim. Target: drop to
    campaign ≤ settle + 1.2 × submit. Each figure is the fastest of --repeat (3) runs; the
    claim time is shown too (drop to claim ≈ settle: the watcher schedules a scan for the
    moment a settling file has settled).

(b) one scan over a location holding --processed (10,000) already-processed files (their
    files and result.json in processed/, their rows in the database, state done) and two
    new files waiting for settings: the time of ``scan_locations`` (fastest and median of
    --scans (20)), for a local folder and for an S3 prefix on moto's server on localhost,
    with the S3 listing requests a scan made. Target: ≤ 1 s locally.

    .venv/bin/python bench/watch.py
    .venv/bin/python bench/watch.py --only scan --processed 10000
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.cluster import CAMPAIGNS, clean_env  # noqa: E402


def write_csv(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["phone", "name"])
        writer.writerows((f"+7 701 {i // 10000 % 1000:03d} {i // 100 % 100:02d} {i % 100:02d}", f"Name{i}")
                         for i in range(rows))
    return path


def submit_time(source: Path, work: Path) -> float:
    from campaigns.services.submit import SubmitRequest, submit_campaign
    from campaigns.settings import Settings
    from campaigns.store.engine import make_engine, upgrade

    url = f"sqlite:///{work / 'submit.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        started = time.perf_counter()
        submit_campaign(source, SubmitRequest(text="Hello {name}"), Settings().with_(database_url=url), engine)
        return time.perf_counter() - started
    finally:
        engine.dispose()


def drop_time(source: Path, work: Path, settle: float, every: float) -> tuple[float, float]:
    """(drop to claim, drop to campaign) in seconds."""
    inbox, staging = work / "inbox", work / "staging"
    inbox.mkdir()
    staging.mkdir()
    (inbox / "_campaign.json").write_text(json.dumps({"text": "Hello {name}"}))
    os.utime(inbox / "_campaign.json", (time.time() - 3600, time.time() - 3600))
    staged = shutil.copy(source, staging / "drop.csv")
    db = work / "watch.db"
    env = clean_env(CAMPAIGNS_DATABASE_URL=f"sqlite:///{db}", CAMPAIGNS_DATA_DIR=str(work / "data"),
                    CAMPAIGNS_WATCH=inbox.as_uri(), CAMPAIGNS_WATCH_SETTLE_SECONDS=str(settle),
                    CAMPAIGNS_WATCH_SECONDS=str(every))
    proc = subprocess.Popen([CAMPAIGNS, "watch"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not _has_table(db):  # migrated and scanning
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("campaigns watch did not start")
            time.sleep(0.05)
        time.sleep(max(2 * every, 1.0))
        t0 = time.time()
        os.rename(staged, inbox / "drop.csv")
        while True:
            row = _drop(db)
            if row and row[1] is not None:
                return row[0] - t0, time.time() - t0
            if time.time() - t0 > 300:
                raise RuntimeError("the drop was not taken within 300 s")
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()


def _has_table(db: Path) -> bool:
    if not db.exists():
        return False
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute("select 1 from sqlite_master where name='watch_drops'").fetchone() is not None
    except sqlite3.Error:
        return False


def _drop(db: Path):
    from datetime import datetime, timezone

    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute("select seen_at, campaign_id from watch_drops where path='drop.csv'").fetchone()
    except sqlite3.Error:
        return None
    if row is None:
        return None
    seen = datetime.fromisoformat(row[0]).replace(tzinfo=timezone.utc).timestamp()
    return seen, row[1]


def latency(args) -> None:
    print(f"(a) drop to campaign: {args.rows:,}-row CSV, settle {args.settle:g} s, scans every {args.every:g} s, "
          f"fastest of {args.repeat}")
    with tempfile.TemporaryDirectory(prefix="bench-watch-") as tmp:
        source = write_csv(Path(tmp) / "source.csv", args.rows)
        submits, drops, claims = [], [], []
        for i in range(args.repeat):
            work = Path(tmp) / f"run{i}"
            work.mkdir()
            submits.append(submit_time(source, work))
            claim, taken = drop_time(source, work, args.settle, args.every)
            claims.append(claim)
            drops.append(taken)
            print(f"    run {i + 1}: submit {submits[-1]:.2f} s, drop to claim {claim:.2f} s, "
                  f"drop to campaign {taken:.2f} s")
        submit, drop = min(submits), min(drops)
        target = args.settle + 1.2 * submit
        print(f"  submit {submit:.2f} s; drop to claim {min(claims):.2f} s; drop to campaign {drop:.2f} s; "
              f"target settle + 1.2 x submit = {target:.2f} s: {'met' if drop <= target else 'NOT met'} "
              f"(take after the claim {drop - min(claims):.2f} s = {(drop - min(claims)) / submit:.2f} x submit)")


def scan_cost(args) -> None:
    print(f"(b) one scan over {args.processed:,} processed files (+2 waiting), fastest / median of {args.scans}")
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
        work = Path(tmp)
        local = work / "inbox"
        (local / "processed").mkdir(parents=True)
        for i in range(args.processed):
            (local / "processed" / f"list{i}.csv").write_bytes(b"phone\n")
            (local / "processed" / f"list{i}.result.json").write_bytes(b"{}")
        for name in ("new1.csv", "team/new2.csv"):
            (local / name).parent.mkdir(parents=True, exist_ok=True)
            (local / name).write_bytes(b"phone\n")
        _scan_figures("local folder", local.as_uri(), work / "local.db", args, environment=None)
        server, endpoint = _moto()
        try:
            env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                   "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
                   "AWS_CONFIG_FILE": str(work / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(work / "none")}
            os.environ.update(env)
            import boto3
            from concurrent.futures import ThreadPoolExecutor

            client = boto3.session.Session().client("s3")
            client.create_bucket(Bucket="bench")
            keys = [f"in/processed/list{i}{ext}" for i in range(args.processed) for ext in (".csv", ".result.json")]
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda k: client.put_object(Bucket="bench", Key=k, Body=b"x"), keys))
            for key in ("in/new1.csv", "in/team/new2.csv"):
                client.put_object(Bucket="bench", Key=key, Body=b"phone\n")
            _scan_figures("S3 prefix (moto on localhost)", "s3://bench/in/", work / "s3.db", args, environment=env)
        finally:
            server.stop()


def _moto():
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line a request otherwise

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def _scan_figures(label: str, location: str, db: Path, args, environment) -> None:
    from sqlalchemy import insert

    from campaigns.intake.claims import claim_key
    from campaigns.intake.locations import watched
    from campaigns.intake.scan import scan_locations
    from campaigns.services.moves import utcnow
    from campaigns.settings import Settings
    from campaigns.store.drops import Drop
    from campaigns.store.engine import make_engine, upgrade
    from campaigns.store.uow import UnitOfWork

    url = f"sqlite:///{db}"
    upgrade(url)
    engine = make_engine(url)
    settings = Settings().with_(database_url=url, watch=(location,))
    storage = watched(settings)[0]
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(insert(Drop), [dict(
            claim_key=claim_key(storage.location, f"list{i}.csv", str(i)), location=storage.location,
            path=f"list{i}.csv", kind="file", identity=str(i), size=6, state="done", campaign_id=i + 1,
            sha256=f"{i:064x}", rejects=0, result_stem=f"list{i}", attempts=1, seen_at=now, taken_at=now,
            updated_at=now) for i in range(args.processed)])
    times, calls = [], 0
    for _ in range(args.scans):
        started = time.perf_counter()
        (scan,) = scan_locations(settings, lambda: UnitOfWork(engine), storages=[storage])
        times.append(time.perf_counter() - started)
        calls = scan.calls
        assert scan.error is None, scan.error
    engine.dispose()
    unit = "listing requests" if location.startswith("s3://") else "folders read"
    print(f"  {label}: {min(times) * 1000:.1f} ms fastest, {statistics.median(times) * 1000:.1f} ms median; "
          f"{calls} {unit} a scan; {scan.listed} objects listed, {scan.waiting} waiting")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("latency", "scan"))
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--every", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--processed", type=int, default=10_000)
    parser.add_argument("--scans", type=int, default=20)
    args = parser.parse_args()
    if args.only in (None, "latency"):
        latency(args)
    if args.only in (None, "scan"):
        scan_cost(args)


if __name__ == "__main__":
    main()
