"""HTTP API benchmark: `campaigns serve` against the CLI for an upload, and the read path
under load. Prints figures; asserts nothing.

(a) ingest: a generated CSV of --rows (100,000) Kazakh mobiles (``+7 701 xxx xx xx``) with a
    name column, text ``Hello {name}``, submitted as a multipart upload to a real
    ``campaigns serve`` subprocess (timed from the request's start to its 201: the file is
    read, checked, stored and the campaign queued), and the same file through
    ``campaigns submit``.
    Fairness: both run in the broker mode (CAMPAIGNS_BROKER_URL=redis://127.0.0.1:6379/15,
    no worker consumes it) on the same SQLite file in a temp dir, so both stop at "queued":
    the embedded default would make the CLI also send the campaign, which the API does
    not wait for. The CLI's wall time includes a Python start, its imports, the migration
    check and the broker connection, which the warm server paid once; so the CLI is also
    run with a 1-row file and that fixed cost is subtracted ("CLI ingest" = CLI wall − CLI
    1-row wall). The ratio target (API ≤ 1.2× CLI) is judged against that smaller figure.
    Each figure is the fastest of --repeat runs (3). Peak RSS: psutil samples, every 20 ms,
    the sum over the process and its children (the phone-checking helper), of the server
    during the upload and of the CLI process during its run.

(b) load: GET /v1/campaigns/{id} from --connections (100) concurrent keep-alive clients for
    --duration (20 s): requests a second, p50/p99 latency, errors (non-2xx and socket
    errors). The load generator is ``wrk`` when installed (``apt-get install -y wrk``; one
    thread, the bearer token with -H), else a raw-asyncio keep-alive generator in a
    separate process (python bench/api.py --generator …). ``--workers N`` is passed to
    ``campaigns serve --workers``: N=1 runs the embedded default (SQLite); N>1 needs a
    broker, so it runs with CAMPAIGNS_BROKER_URL=redis://127.0.0.1:6379/15 on a scratch
    PostgreSQL database made for the run (--db pg does the same with N=1).

    .venv/bin/python bench/api.py                         # both, workers=1
    .venv/bin/python bench/api.py --only load --workers 2
    .venv/bin/python bench/api.py --only ingest --rows 100000 --repeat 3

PostgreSQL: --pg-url (default $CAMPAIGNS_BENCH_PG_URL or postgresql+psycopg://postgres@127.0.0.1:5432/test)
is an admin URL; a scratch database is created and dropped for each run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402

from campaigns.client import CampaignsClient, Retries  # noqa: E402
from tests.cluster import CAMPAIGNS, clean_env  # noqa: E402
from tests.serve import Server, make_token  # noqa: E402

BROKER = "redis://127.0.0.1:6379/15"
DEFAULT_PG = os.environ.get("CAMPAIGNS_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
RATIO_TARGET = 1.2
RPS_TARGET, P99_TARGET_MS = 1000, 100.0
# the broker mode refuses the sandbox provider without a URL; no worker ever calls it here
NO_SANDBOX = "http://127.0.0.1:9"


def write_csv(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("phone,name\n")
        for i in range(rows):
            n = f"{i:07d}"
            fh.write(f"+7 701 {n[:3]} {n[3:5]} {n[5:]},Name {i}\n")
    return path


class PeakRss:
    """The largest RSS sum of a process and its children, sampled every 20 ms in a thread."""

    def __init__(self, pid: int):
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> int:
        total = 0
        try:
            for p in [self.proc, *self.proc.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            self._stop.wait(0.02)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())


def mb(n: int) -> str:
    return f"{n / 2**20:.0f} MB"


def _scratch_pg(admin_url: str):
    from tests.services import scratch_database

    return scratch_database(admin_url, "campaigns_bench_api")


# -- (a) ingest --------------------------------------------------------------------------


def cli_submit(env: dict, path: Path) -> tuple[float, int, dict]:
    start = time.perf_counter()
    popen = subprocess.Popen([CAMPAIGNS, "submit", str(path), "--text", "Hello {name}", "--json"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with PeakRss(popen.pid) as rss:
        out, err = popen.communicate()
    seconds = time.perf_counter() - start
    if popen.returncode != 0:
        raise RuntimeError(f"campaigns submit failed ({popen.returncode}): {err.decode()[-2000:]}")
    return seconds, rss.peak, json.loads(out)


def bench_ingest(args) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp_name:
        tmp = Path(tmp_name)
        source = write_csv(tmp / "customers.csv", args.rows)
        tiny = write_csv(tmp / "one.csv", 1)
        env = clean_env(CAMPAIGNS_DATABASE_URL=f"sqlite:///{tmp / 'campaigns.db'}", CAMPAIGNS_DATA_DIR=str(tmp / "data"),
                        CAMPAIGNS_BROKER_URL=BROKER, CAMPAIGNS_SANDBOX_URL=NO_SANDBOX)
        token = make_token(env, "bench", "submit")
        print(f"(a) ingest: {args.rows:,} rows, {source.stat().st_size / 2**20:.1f} MB CSV, broker mode on SQLite, "
              f"fastest of {args.repeat}")
        with Server(env, tmp) as server, CampaignsClient(server.url, token, retries=Retries(attempts=1)) as api:
            api_runs, server_peaks = [], []
            idle = PeakRss(server.popen.pid).now()
            for _ in range(args.repeat):
                with PeakRss(server.popen.pid) as rss:
                    start = time.perf_counter()
                    status = api.submit(source, text="Hello {name}")
                    api_runs.append(time.perf_counter() - start)
                server_peaks.append(rss.peak)
                assert status["recipients"]["valid"] == args.rows, status
        cli_runs, cli_peaks, fixed = [], [], []
        for _ in range(args.repeat):
            seconds, peak, status = cli_submit(env, source)
            assert status["recipients"]["valid"] == args.rows, status
            cli_runs.append(seconds)
            cli_peaks.append(peak)
            fixed.append(cli_submit(env, tiny)[0])
    api_s, cli_s, fixed_s = min(api_runs), min(cli_runs), min(fixed)
    cli_ingest = cli_s - fixed_s
    print(f"  API upload → 201:        {api_s:6.2f} s  ({args.rows / api_s:,.0f} rows/s)  runs: "
          + ", ".join(f"{s:.2f}" for s in api_runs))
    print(f"  CLI campaigns submit:    {cli_s:6.2f} s  runs: " + ", ".join(f"{s:.2f}" for s in cli_runs))
    print(f"  CLI fixed cost (1 row):  {fixed_s:6.2f} s  → CLI ingest {cli_ingest:.2f} s")
    print(f"  ratio API / CLI ingest:  {api_s / cli_ingest:6.2f}×  (target ≤ {RATIO_TARGET}×; "
          f"API / CLI wall {api_s / cli_s:.2f}×)")
    print(f"  peak RSS: server {mb(max(server_peaks))} during the upload (idle {mb(idle)}), "
          f"CLI {mb(max(cli_peaks))}")


# -- (b) load ----------------------------------------------------------------------------


def run_wrk(url: str, token: str, connections: int, duration: int) -> dict:
    done = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s",
                           "-H", f"Authorization: Bearer {token}", url], capture_output=True, text=True, check=True)
    out = done.stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "p50": ms("50"), "p99": ms("99"),
            "errors": errors + (int(non2xx.group(1)) if non2xx else 0), "requests": total, "tool": "wrk"}


async def _generate(host: str, port: int, path: str, token: str, connections: int, duration: float) -> dict:
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
               f"Accept: application/json\r\n\r\n").encode()
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + duration

    async def one() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        while time.perf_counter() < stop:
            start = time.perf_counter()
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
                await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, AttributeError):
                errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            latencies.append(time.perf_counter() - start)
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(connections)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    pick = lambda q: latencies[min(int(q * len(latencies)), len(latencies) - 1)] * 1000  # noqa: E731
    return {"rps": len(latencies) / elapsed, "p50": pick(0.50), "p99": pick(0.99), "errors": errors,
            "requests": len(latencies), "tool": "asyncio"}


def run_generator(url: str, token: str, connections: int, duration: int) -> dict:
    """The asyncio generator in its own process, so it does not share the GIL with this one."""
    done = subprocess.run([sys.executable, __file__, "--generator", url, "--connections", str(connections),
                           "--duration", str(duration)], env={**os.environ, "BENCH_TOKEN": token},
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def bench_load(args) -> None:
    use_pg = args.workers > 1 or args.db == "pg"
    drop = None
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp_name:
        tmp = Path(tmp_name)
        if use_pg:
            db_url, drop = _scratch_pg(args.pg_url)
            env = clean_env(CAMPAIGNS_DATABASE_URL=db_url, CAMPAIGNS_DATA_DIR=str(tmp / "data"),
                            CAMPAIGNS_BROKER_URL=BROKER, CAMPAIGNS_SANDBOX_URL=NO_SANDBOX)
            mode = "broker mode, PostgreSQL"
            subprocess.run([CAMPAIGNS, "db", "upgrade"], env=env, check=True, capture_output=True)
        else:
            env = clean_env(CAMPAIGNS_DATABASE_URL=f"sqlite:///{tmp / 'campaigns.db'}",
                            CAMPAIGNS_DATA_DIR=str(tmp / "data"))
            mode = "embedded, SQLite"
        try:
            token = make_token(env, "bench", "submit")
            with Server(env, tmp, workers=args.workers) as server:
                with CampaignsClient(server.url, token) as api:
                    made = api.submit(recipients=[{"recipient": f"+7701{i:07d}", "name": f"N{i}"} for i in range(10)],
                                      text="Hello {name}")
                    if not use_pg:
                        api.wait(made["id"], timeout=60, every=0.2)
                url = f"{server.url}/v1/campaigns/{made['id']}"
                gen = run_wrk if shutil.which("wrk") and not args.asyncio else run_generator
                load_before = os.getloadavg()[0]
                got = gen(url, token, args.connections, args.duration)
        finally:
            if drop is not None:
                drop()
    print(f"(b) load: GET /v1/campaigns/{{id}}, {args.connections} connections, {args.duration} s, "
          f"--workers {args.workers}, {mode}, generator {got['tool']} (load average before {load_before:.2f})")
    print(f"  {got['rps']:8,.0f} req/s   p50 {got['p50']:.1f} ms   p99 {got['p99']:.1f} ms   "
          f"errors {got['errors']}   ({got['requests']:,} requests)   "
          f"targets: ≥ {RPS_TARGET:,} req/s, p99 ≤ {P99_TARGET_MS:.0f} ms, no error")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("ingest", "load"))
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--db", choices=("sqlite", "pg"), default="sqlite", help="for --workers 1")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--asyncio", action="store_true", help="the asyncio generator even when wrk is installed")
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--generator", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generator:
        from urllib.parse import urlsplit

        u = urlsplit(args.generator)
        result = asyncio.run(_generate(u.hostname, u.port, u.path, os.environ["BENCH_TOKEN"], args.connections,
                                       args.duration))
        print(json.dumps(result))
        return
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.only in (None, "ingest"):
        bench_ingest(args)
    if args.only in (None, "load"):
        bench_load(args)


if __name__ == "__main__":
    main()
