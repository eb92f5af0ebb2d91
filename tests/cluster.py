"""Real pipeline processes for the integration tests and the dispatch benchmark: `campaigns
worker` and `campaigns beat` subprocesses (each in its own process group, output captured
to a file), a private redis-server, and small helpers to submit and follow a campaign.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from campaigns.services.status import campaign_status
from campaigns.store.uow import UnitOfWork

CAMPAIGNS = str(Path(sys.executable).with_name("campaigns"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The pipeline's timing for integration tests: faults and killed workers recovered in
# seconds (a short poll and stall time, quick bounded retries).
FAST_PIPELINE = dict(
    CAMPAIGNS_POLL_SECONDS="0.3", CAMPAIGNS_STALL_SECONDS="3", CAMPAIGNS_HTTP_TIMEOUT="1.5",
    CAMPAIGNS_HTTP_CONNECT_TIMEOUT="1", CAMPAIGNS_RETRY_BASE_SECONDS="0.1", CAMPAIGNS_RETRY_CAP_SECONDS="1",
    CAMPAIGNS_MAX_RETRIES="30",
)


def busiest(times: list[float], span: float) -> int:
    """The most of ``times`` that fall within any window of ``span`` seconds."""
    times, best, j = sorted(times), 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - span:
            j += 1
        best = max(best, i - j + 1)
    return best


def clean_env(**overrides: str) -> dict[str, str]:
    """The current environment without any CAMPAIGNS_/MOBIZON_/SMSC_/CASCADE_ variable, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAMPAIGNS_", "MOBIZON_", "SMSC_", "CASCADE_"))}
    env.update({k: str(v) for k, v in overrides.items()})
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path
    _fh: object = field(repr=False, default=None)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""


class Cluster:
    """Worker and beat processes sharing one environment; every log kept in ``log_dir``."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env = env
        self.log_dir = log_dir
        self.procs: list[Proc] = []
        log_dir.mkdir(parents=True, exist_ok=True)

    def _spawn(self, name: str, args: list[str]) -> Proc:
        log = self.log_dir / f"{name}.log"
        fh = log.open("ab")
        popen = subprocess.Popen(
            [CAMPAIGNS, *args], env=self.env, stdout=fh, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        proc = Proc(name, popen, log, fh)
        self.procs.append(proc)
        return proc

    def start_worker(self, name: str, *, concurrency: int = 2, loglevel: str = "info") -> Proc:
        return self._spawn(name, ["worker", "--concurrency", str(concurrency), "--loglevel", loglevel,
                                  "--hostname", f"{name}@%h", "--without-gossip", "--without-mingle"])

    def start_beat(self, name: str = "beat") -> Proc:
        return self._spawn(name, ["beat", "--loglevel", "info"])

    def wait_ready(self, proc: Proc, marker: str, timeout: float = 60.0) -> None:
        """Wait until ``marker`` appears in the process's log; raises RuntimeError with the log's end."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker in proc.text():
                return
            if not proc.alive():
                break
            time.sleep(0.1)
        raise RuntimeError(f"{proc.name} did not become ready ({marker!r}):\n{proc.text()[-3000:]}")

    def start(self, workers: int = 2, *, concurrency: int = 2, beat: bool = True, prefix: str = "worker") -> None:
        started = [self.start_worker(f"{prefix}{i + 1}", concurrency=concurrency) for i in range(workers)]
        beat_proc = self.start_beat() if beat else None
        for proc in started:
            self.wait_ready(proc, " ready.")
        if beat_proc is not None:
            self.wait_ready(beat_proc, "beat: Starting")

    @staticmethod
    def kill(proc: Proc, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the process's whole group (the Celery parent and its pool children)."""
        try:
            os.killpg(proc.popen.pid, sig)
        except ProcessLookupError:
            pass
        if sig == signal.SIGKILL:
            proc.popen.wait(timeout=10)

    def stop(self, timeout: float = 15.0) -> None:
        """Warm shutdown for everything still running (SIGTERM), then SIGKILL what remains."""
        for proc in self.procs:
            if proc.alive():
                self.kill(proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            try:
                proc.popen.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self.kill(proc, signal.SIGKILL)
            try:  # pool children left behind by a SIGTERM'd parent
                os.killpg(proc.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if proc._fh is not None:
                proc._fh.close()
                proc._fh = None

    def logs(self) -> dict[str, str]:
        return {p.name: p.text() for p in self.procs}


def run_cli(env: dict[str, str], *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
    """``campaigns ARGS`` as a subprocess; returns the completed process (text output)."""
    return subprocess.run([CAMPAIGNS, *args], env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def submit(env: dict[str, str], path: Path, *options: str) -> dict:
    """``campaigns submit PATH OPTIONS --json``; returns the printed object. Raises
    AssertionError with the output when the command fails."""
    done = run_cli(env, "submit", str(path), *options, "--json")
    assert done.returncode == 0, f"submit exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)


class RedisServer:
    """A private redis-server (no persistence) on a free port, so a test can kill it."""

    def __init__(self, workdir: Path):
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.workdir = workdir
        self.popen: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        if self.binary is None:
            raise RuntimeError("redis-server is not installed")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.popen = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)
        self.popen = None


def wait_for(engine, campaign_id: int, condition, timeout: float, what: str) -> dict:
    """Poll the campaign's status until ``condition`` holds; fail fast when it stopped."""
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = campaign_status(campaign_id, lambda: UnitOfWork(engine))
        if condition(status):
            return status
        if status["state"] in ("failed", "paused", "cancelled"):
            break
        time.sleep(0.2)
    raise AssertionError(f"campaign {campaign_id} did not reach {what}: {status}")
