"""Ingestion benchmark: how fast recipient files are read, validated and stored.

Generates its data under bench/data/ (kept between runs; --regenerate to rebuild):
- a 1,000,000-row CSV in UTF-8 (``,``) and the same in Windows-1251 (``;``), phones in mixed
  formats (+7…, 8 (7xx) …, 7 7xx …, 00 7…, spreadsheet floats), about 5% invalid and 1%
  duplicate rows, with name, city and balance columns;
- a 200,000-row XLSX (phones stored as numbers and as text) and a 65,000-row XLS (xlwt).

Prints, for each file, rows/s and peak RSS of: the raw ``csv.reader`` parse (CSV), each Excel
engine's read (XLSX, XLS), row-by-row ``phonenumbers`` validation (on a sample) beside the
project's PhoneValidator, ``validate_file`` (no storage) and the full ``ingest_file`` into
SQLite and into PostgreSQL, with the ratios to the targets: the CSV ingested in at most
7× the raw ``csv.reader`` time, peak RSS under 300 MB, the XLSX in under 4 s.
Each figure is the fastest of --repeat runs (3). A CSV's validate and ingest runs are each
preceded by a ``csv.reader`` run of the same file, and the target is judged on the fastest
run against the fastest of those interleaved ``csv.reader`` runs: a shared machine's speed
drifts by a third over minutes, so the fastest ingest against the fastest ``csv.reader``
measured minutes earlier (also printed) compares runs made at different speeds.
Each measurement runs in a fresh subprocess, which reports its CPU time and peak RSS, both
including its phone-checking helper process (campaigns.ingest.checking) if it started one
(RSS: the largest sum of the two, sampled every 20 ms).

    .venv/bin/python bench/ingest.py                       # everything, full size
    .venv/bin/python bench/ingest.py --rows 100000 --skip-pg
    .venv/bin/python bench/ingest.py --only csv-utf8 --text 'Hello {name}'

PostgreSQL: --pg-url (default $CAMPAIGNS_BENCH_PG_URL or postgresql+psycopg://postgres@127.0.0.1:5432/test)
is an admin URL; a scratch database is created and dropped for each run.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import threading
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
DEFAULT_PG = os.environ.get("CAMPAIGNS_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PLAIN_TEXT = "Скидка 20% на всё до воскресенья! Ждём вас в магазинах сети."
RATIO_TARGET = 7.0
RSS_TARGET_MB = 300
XLSX_TARGET_S = 4.0

# Kazakhstan's mobile prefixes (701, 702, 705, 707, 747, 771, 775, 776, 777, 778 …)
_PREFIXES = ("700", "701", "702", "705", "707", "708", "747", "771", "775", "776", "777", "778")
_NAMES = ("Айгерим", "Ержан", "Мария", "Дмитрий", "Асель", "Нурлан", "Ольга", "Тимур", "Жанна", "Сергей")
_CITIES = ("Алматы", "Астана", "Шымкент", "Караганда", "Актобе", "Павлодар")


# --- data -------------------------------------------------------------------------------


def _phone(rng: random.Random) -> str:
    return "7" + rng.choice(_PREFIXES) + f"{rng.randrange(10_000_000):07d}"


def _formatted(digits: str, rng: random.Random) -> str:
    n = digits[1:]
    style = rng.randrange(7)
    if style == 0:
        return "+" + digits
    if style == 1:
        return f"8 ({n[:3]}) {n[3:6]}-{n[6:8]}-{n[8:]}"
    if style == 2:
        return f"+7 {n[:3]} {n[3:6]} {n[6:8]} {n[8:]}"
    if style == 3:
        return digits
    if style == 4:
        return "8" + n
    if style == 5:
        return "007" + n
    return digits + ".0"


def _invalid(rng: random.Random) -> str:
    style = rng.randrange(5)
    if style == 0:
        return "+7" + rng.choice(_PREFIXES) + f"{rng.randrange(1_000_000):06d}"  # a digit short
    if style == 1:
        return "7.70112E+10"  # scientific notation
    if style == 2:
        return ""
    if style == 3:
        return "нет номера"
    return "+7" + "6" + f"{rng.randrange(10**9):09d}"  # not a mobile or fixed range in KZ


def records(rows: int, seed: int = 2):
    """(phone cell, name, city, balance) rows: ~5% invalid, ~1% repeating an earlier phone."""
    rng = random.Random(seed)
    recent: list[str] = []
    for i in range(rows):
        draw = rng.random()
        if draw < 0.05:
            phone = _invalid(rng)
        elif draw < 0.06 and recent:
            phone = _formatted(rng.choice(recent), rng)
        else:
            digits = _phone(rng)
            if len(recent) < 5000:
                recent.append(digits)
            else:
                recent[rng.randrange(5000)] = digits
            phone = _formatted(digits, rng)
        yield phone, rng.choice(_NAMES), rng.choice(_CITIES), f"{rng.randrange(100_000)}.{rng.randrange(100):02d}"


def make_csv(path: Path, rows: int, encoding: str, delimiter: str) -> None:
    with open(path, "w", encoding=encoding, newline="") as file:
        writer = csv.writer(file, delimiter=delimiter)
        writer.writerow(("phone", "name", "city", "balance"))
        writer.writerows(records(rows))


def make_xlsx(path: Path, rows: int) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("recipients")
    sheet.append(("phone", "name", "city", "balance"))
    for n, (phone, name, city, balance) in enumerate(records(rows, seed=3)):
        # Half the phones stored as numbers, as Excel does when a column is not text.
        cell = int(phone) if n % 2 and phone.isdigit() else phone
        sheet.append((cell, name, city, float(balance)))
    book.save(path)


def make_xls(path: Path, rows: int) -> None:
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("recipients")
    for col, title in enumerate(("phone", "name", "city", "balance")):
        sheet.write(0, col, title)
    for r, (phone, name, city, balance) in enumerate(records(rows, seed=4), 1):
        sheet.write(r, 0, int(phone) if r % 2 and phone.isdigit() else phone)
        sheet.write(r, 1, name)
        sheet.write(r, 2, city)
        sheet.write(r, 3, float(balance))
    book.save(str(path))


def datasets(args) -> dict[str, dict]:
    """Name -> {path, kind, encoding, delimiter}; files are generated when missing."""
    DATA.mkdir(parents=True, exist_ok=True)
    xls_rows = min(args.xls_rows, 65_535)
    spec = {
        "csv-utf8": dict(path=DATA / f"recipients-{args.rows}-utf8.csv", kind="csv", encoding="utf-8", delimiter=","),
        "csv-cp1251": dict(
            path=DATA / f"recipients-{args.rows}-cp1251.csv", kind="csv", encoding="windows-1251", delimiter=";"
        ),
        "xlsx": dict(path=DATA / f"recipients-{args.xlsx_rows}.xlsx", kind="xlsx"),
        "xls": dict(path=DATA / f"recipients-{xls_rows}.xls", kind="xls"),
    }
    chosen = {name: spec[name] for name in (args.only or spec)}
    for name, item in chosen.items():
        path: Path = item["path"]
        if path.exists() and not args.regenerate:
            continue
        started = time.perf_counter()
        print(f"generating {path.relative_to(ROOT)} …", end=" ", flush=True)
        if item["kind"] == "csv":
            make_csv(path, args.rows, item["encoding"], item["delimiter"])
        elif item["kind"] == "xlsx":
            make_xlsx(path, args.xlsx_rows)
        else:
            make_xls(path, xls_rows)
        print(f"{time.perf_counter() - started:.1f} s, {path.stat().st_size / 1e6:.1f} MB")
    return chosen


# --- measurements, each in its own subprocess ----------------------------------------------


def child(task: str, params: dict) -> dict:
    """Run one measurement in this process; returns seconds, rows and peak RSS."""
    global _sampler
    _sampler = _MemorySampler()
    sys.path.insert(0, str(ROOT))
    path = Path(params["path"])
    # Imports are not part of any measurement.
    from campaigns.ingest.readers import read_table
    from campaigns.ingest.service import IngestOptions, validate_file
    from campaigns.settings import Settings

    params["cpu0"] = _cpu()
    started = time.perf_counter()
    if task == "csv.reader":
        rows = 0
        with open(path, encoding=params["encoding"], newline="") as file:
            for _ in csv.reader(file, delimiter=params["delimiter"]):
                rows += 1
        rows -= 1
    elif task.startswith("read:"):
        table = read_table(path, excel_engine=task.split(":", 1)[1])
        rows = sum(1 for _ in table.rows) - 1
    elif task in ("phonenumbers", "PhoneValidator"):
        rows, started = _phones(task, path, params)
    elif task == "validate":
        report = validate_file(path, IngestOptions(text=params["text"], country="KZ"), Settings())
        rows = report.rows
        params["report"] = _counts(report)
    elif task.startswith("ingest:"):
        return _ingest(task.split(":", 1)[1], path, params)
    else:
        raise SystemExit(f"unknown task {task}")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu": _cpu() - params["cpu0"], "rows": rows, "rss_mb": _peak_rss_mb(),
            "report": params.get("report")}


def _phones(task: str, path: Path, params: dict) -> tuple[int, float]:
    from campaigns.ingest.readers import read_table

    table = read_table(path)
    sample = []
    for number, cells in table.rows:
        if number > 1:
            sample.append(cells[0] if cells else "")
        if len(sample) >= params["sample"]:
            break
    table.rows.close()
    params["cpu0"] = _cpu()
    started = time.perf_counter()
    if task == "phonenumbers":
        import phonenumbers

        for raw in sample:
            try:
                phonenumbers.is_valid_number(phonenumbers.parse(raw, "KZ"))
            except phonenumbers.NumberParseException:
                pass
    else:
        from campaigns.ingest.phones import PhoneValidator

        check = PhoneValidator("KZ").check
        for raw in sample:
            check(raw)
    return len(sample), started


def _ingest(database: str, path: Path, params: dict) -> dict:
    from sqlalchemy import insert

    from campaigns.ingest.service import IngestOptions, ingest_file
    from campaigns.settings import Settings
    from campaigns.store.engine import make_engine, upgrade
    from campaigns.store.models import Campaign

    if database == "sqlite":
        db = DATA / f"bench-{os.getpid()}.db"  # a file of its own: several runs may share the machine

        def drop() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)

        drop()
        url = f"sqlite:///{db}"
    else:
        url, drop = _scratch_pg(params["pg_url"])
    try:
        upgrade(url)
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                campaign = conn.execute(
                    insert(Campaign).values(name="bench", provider="sandbox", text=params["text"]).returning(Campaign.id)
                ).scalar_one()
            cpu0, started = _cpu(), time.perf_counter()
            report = ingest_file(path, IngestOptions(text=params["text"], country="KZ"), Settings(), engine, campaign)
            seconds, cpu = time.perf_counter() - started, _cpu() - cpu0
        finally:
            engine.dispose()
    finally:
        if drop is not None:
            drop()
    return {"seconds": seconds, "cpu": cpu, "rows": report.rows, "rss_mb": _peak_rss_mb(), "report": _counts(report)}


def _scratch_pg(admin_url: str):
    from tests.services import scratch_database

    return scratch_database(admin_url, "campaigns_bench")


def _counts(report) -> dict:
    return {key: getattr(report, key) for key in ("rows", "valid", "invalid", "duplicates")}


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the phone-checking helper)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


class _MemorySampler:
    """The largest sum of this process's RSS and its children's (the phone-checking helper
    runs beside it), sampled every 20 ms, or this process's own peak if that is larger."""

    def __init__(self):
        import psutil

        self._process = psutil.Process()
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.wait(0.02):
            try:
                total = self._process.memory_info().rss
                for child in self._process.children(recursive=True):
                    total += child.memory_info().rss
            except psutil.Error:
                continue
            self._peak = max(self._peak, total)

    def peak_mb(self) -> float:
        self._stop.set()
        self._thread.join()
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        return max(self._peak, own) / (1024 * 1024)


_sampler: _MemorySampler | None = None


def _peak_rss_mb() -> float:
    return _sampler.peak_mb() if _sampler is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run_child(task: str, params: dict) -> dict | None:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", task, json.dumps(params, default=str)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        print(f"  {task}: failed\n{proc.stderr.strip()[-2000:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(task: str, params: dict, repeat: int, paired: str | None = None) -> dict | None:
    """The fastest of ``repeat`` runs, each in a fresh subprocess (peak RSS: the largest).

    With ``paired`` (a baseline task), each run is preceded by a run of the baseline, and
    ``paired_ratio`` is the fastest run against the fastest of those baseline runs
    (``paired``: their seconds): runs interleaved over the same minute, which the drift of
    a shared machine's speed over minutes does not set apart.
    """
    runs = []
    for _ in range(repeat):
        base = _run_child(paired, params) if paired else None
        result = _run_child(task, params)
        if result is None or (paired and base is None):
            return None
        if base is not None:
            result["base_seconds"] = base["seconds"]
        runs.append(result)
    best = dict(min(runs, key=lambda run: run["seconds"]))
    best["rss_mb"] = max(run["rss_mb"] for run in runs)
    if paired:
        base = min(run["base_seconds"] for run in runs)
        best["paired_ratio"], best["paired"] = best["seconds"] / base, (best["seconds"], base)
    return best


# --- the report ----------------------------------------------------------------------------


def run(args) -> None:
    chosen = datasets(args)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; times are wall clock, RSS is the subprocess's peak")
    print("ratios: wall time against csv.reader's wall time, and (cpu) this process's CPU time against")
    print("csv.reader's, which a busy machine disturbs less; PostgreSQL's own work is not in the cpu figure")
    header = f"  {'measurement':<20} {'seconds':>8} {'cpu s':>7} {'rows/s':>11} {'peak RSS':>9}  note"
    for name, item in chosen.items():
        params = {"path": str(item["path"]), "text": args.text, "pg_url": args.pg_url, "sample": args.sample}
        if item["kind"] == "csv":
            params.update(encoding=item["encoding"], delimiter=item["delimiter"])
        print(f"\n{name}: {Path(item['path']).name} ({Path(item['path']).stat().st_size / 1e6:.1f} MB)")
        print(header)
        baseline = baseline_cpu = None
        tasks = ["csv.reader"] if item["kind"] == "csv" else []
        if item["kind"] == "xlsx":
            tasks += ["read:calamine", "read:openpyxl"]
        elif item["kind"] == "xls":
            tasks += ["read:calamine", "read:xlrd"]
        tasks += ["phonenumbers", "PhoneValidator", "validate", "ingest:sqlite"]
        if not args.skip_pg:
            tasks.append("ingest:postgresql")
        for task in tasks:
            compared = item["kind"] == "csv" and task in ("validate", "ingest:sqlite", "ingest:postgresql")
            result = measure(task, params, args.repeat, paired="csv.reader" if compared else None)
            if result is None:
                continue
            seconds, cpu, rows = result["seconds"], result["cpu"], result["rows"]
            note = ""
            if task == "csv.reader":
                baseline, baseline_cpu = seconds, cpu
            elif task in ("phonenumbers", "PhoneValidator"):
                note = f"on a sample of {rows:,} phones"
            elif task in ("validate", "ingest:sqlite", "ingest:postgresql"):
                counts = result.get("report") or {}
                note = ", ".join(f"{k} {v:,}" for k, v in counts.items() if k != "rows")
                if baseline:
                    note += f"; {seconds / baseline:.1f}× the fastest csv.reader"
                    if task != "ingest:postgresql":
                        note += f" ({cpu / baseline_cpu:.1f}× cpu)"
                if "paired_ratio" in result:
                    ratio = result["paired_ratio"]
                    verdict = "ok" if ratio <= RATIO_TARGET else "OVER"
                    note += (
                        f"; {ratio:.1f}× csv.reader runs interleaved with it (fastest {result['paired'][1]:.2f} s),"
                        f" target ≤ {RATIO_TARGET:g}×: {verdict}"
                    )
                if item["kind"] == "xlsx" and task.startswith("ingest"):
                    verdict = "ok" if seconds < XLSX_TARGET_S else "OVER"
                    note += f"; target < {XLSX_TARGET_S:g} s: {verdict}"
                if result["rss_mb"] >= RSS_TARGET_MB:
                    note += f"; RSS OVER {RSS_TARGET_MB} MB"
            rate = rows / seconds if seconds else float("inf")
            print(
                f"  {task:<20} {seconds:>8.2f} {cpu:>7.2f} {rate:>11,.0f} {result['rss_mb']:>6.0f} MB  {note}",
                flush=True,
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of each CSV (default 1,000,000)")
    parser.add_argument("--xlsx-rows", type=int, default=200_000)
    parser.add_argument("--xls-rows", type=int, default=65_000, help="at most 65,535 (the XLS sheet limit)")
    parser.add_argument("--sample", type=int, default=50_000, help="phones validated row by row")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the fastest is shown")
    parser.add_argument("--text", default=PLAIN_TEXT, help="message text; placeholders make a template campaign")
    parser.add_argument("--only", action="append", choices=("csv-utf8", "csv-cp1251", "xlsx", "xls"))
    parser.add_argument("--skip-pg", action="store_true", help="no PostgreSQL measurements")
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--regenerate", action="store_true", help="rebuild the data files")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], json.loads(args.child[1]))))
        return
    run(args)


if __name__ == "__main__":
    main()
