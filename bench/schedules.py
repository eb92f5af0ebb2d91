"""Schedules benchmark: what ``--exclude-sent-within`` costs a run.

On SQLite (and PostgreSQL with --pg-url), for a file of --rows recipients (200,000):
- ``ingest_file`` with no exclusion and with half the file's phones excluded (the hook
  IngestOptions.excluded marks them seen before the rows are read; they take the rare
  path of duplicates), fastest of --repeat runs (3);
- ``recently_sent``: reading the earlier run's accepted recipients from the ledger (every
  one of --rows accepted) into the exclusion map.

    .venv/bin/python bench/schedules.py
    .venv/bin/python bench/schedules.py --rows 1000000 --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_file(path: Path, rows: int) -> list[int]:
    phones = [77010000000 + i * 7 for i in range(rows)]
    with path.open("w") as fh:
        fh.write("phone\n")
        fh.writelines(f"+{p}\n" for p in phones)
    return phones


def database(kind: str, tmp: Path, pg_url: str | None):
    from sqlalchemy import create_engine, text

    from campaigns.store.engine import make_engine, upgrade

    if kind == "sqlite":
        url = f"sqlite:///{tmp / f'{uuid.uuid4().hex}.db'}"
        upgrade(url)
        return make_engine(url), None
    name = f"bench_sched_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = pg_url.rsplit("/", 1)[0] + "/" + name
    upgrade(url)

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_engine(url), drop


def campaign(engine) -> int:
    from campaigns.store.models import Campaign
    from campaigns.store.uow import UnitOfWork

    now = datetime.now(timezone.utc)
    with UnitOfWork(engine) as uow:
        row = Campaign(name="bench", provider="sandbox", text="Hi", state="draft", state_changed_at=now,
                       created_at=now, updated_at=now)
        uow.session.add(row)
        uow.commit()
        return row.id


def ingest(engine, path: Path, excluded) -> tuple[float, int]:
    from campaigns.ingest.service import IngestOptions, ingest_file
    from campaigns.settings import Settings

    cid = campaign(engine)
    start = time.perf_counter()
    report = ingest_file(path, IngestOptions(text="Hi", excluded=excluded), Settings(check_helper_bytes=0), engine, cid)
    return time.perf_counter() - start, report.valid


def ledger(engine, path: Path) -> float:
    """Make an earlier run of this schedule whose recipients were all accepted; time recently_sent."""
    from sqlalchemy import update

    from campaigns.schedules.cron import zone
    from campaigns.schedules.exclusion import recently_sent
    from campaigns.store.keys import of_campaign
    from campaigns.store.models import Campaign, Chunk, Recipient
    from campaigns.store.schedules import Schedule, ScheduleFire
    from campaigns.store.uow import UnitOfWork

    _, _ = ingest(engine, path, None)
    now = datetime.now(timezone.utc)
    with UnitOfWork(engine) as uow:
        cid = uow.session.query(Campaign.id).order_by(Campaign.id.desc()).first()[0]
        sched = Schedule(name=uuid.uuid4().hex, cron="@daily", tz="UTC", source=str(path), text="Hi", options={},
                         misfire="skip", grace_seconds=300, require_approval=False, approval_timeout=86400,
                         paused=False, since=now, created_at=now, updated_at=now)
        uow.session.add(sched)
        uow.session.flush()
        uow.session.add(ScheduleFire(schedule_id=sched.id, fire_time=now, outcome="fired", campaign_id=cid,
                                     covers=1, created_at=now))
        uow.session.execute(update(Recipient).where(of_campaign(Recipient.id, cid)).values(provider_code=0))
        uow.session.execute(update(Chunk).where(Chunk.campaign_id == cid).values(state="added", state_changed_at=now))
        uow.session.execute(update(Campaign).where(Campaign.id == cid).values(state="done", state_changed_at=now))
        uow.commit()
        sid = sched.id
    with UnitOfWork(engine) as uow:
        start = time.perf_counter()
        found = recently_sent(uow.session, sid, 7, zone("UTC"), now + timedelta(seconds=1))
        took = time.perf_counter() - start
    assert len(found) > 0
    return took, len(found)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg-url", default=None, help="admin URL of a PostgreSQL server (also measure it)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = tmp / "crm.csv"
        phones = make_file(path, args.rows)
        excluded = {p: "sent on 2027-01-04 by this schedule" for p in phones[::2]}
        for kind in ["sqlite"] + (["postgresql"] if args.pg_url else []):
            engine, drop = database(kind, tmp, args.pg_url)
            try:
                plain = min(ingest(engine, path, None)[0] for _ in range(args.repeat))
                runs = [ingest(engine, path, excluded) for _ in range(args.repeat)]
                with_ex = min(r[0] for r in runs)
                took, found = ledger(engine, path)
                print(f"{kind}: {args.rows:,} rows  ingest {plain:.3f} s ({args.rows / plain:,.0f} rows/s); "
                      f"with {len(excluded):,} excluded {with_ex:.3f} s ({with_ex / plain:.2f}x, "
                      f"{runs[0][1]:,} valid); recently_sent {found:,} phones in {took:.3f} s")
            finally:
                engine.dispose()
                if drop:
                    drop()


if __name__ == "__main__":
    main()
