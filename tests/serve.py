"""A real ``campaigns serve`` process for the HTTP tests: started on a free port with its
own environment, waited for on /healthz, stopped with SIGTERM; output kept in a log file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.cluster import CAMPAIGNS, clean_env, free_port, run_cli


class Server:
    def __init__(self, env: dict[str, str], log_dir: Path, *, workers: int = 1):
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / f"serve-{self.port}.log"
        self.workers = workers
        self.popen: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> "Server":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.log.open("ab")
        self.popen = subprocess.Popen(
            [CAMPAIGNS, "serve", "--port", str(self.port), "--workers", str(self.workers), "--no-access-log"],
            env=self.env, stdout=self._fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                break
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"campaigns serve did not start:\n{self.text()[-3000:]}")

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
        if getattr(self, "_fh", None) is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def embedded_env(tmp: Path, **overrides) -> dict[str, str]:
    """An environment for the embedded default in ``tmp``: SQLite, no broker, the in-process sandbox."""
    return clean_env(CAMPAIGNS_DATABASE_URL=f"sqlite:///{tmp / 'campaigns.db'}", CAMPAIGNS_DATA_DIR=str(tmp / "data"),
                     **overrides)


def make_token(env: dict[str, str], name: str, scope: str) -> str:
    """``campaigns token create NAME --scope SCOPE --json``; returns the token."""
    done = run_cli(env, "token", "create", name, "--scope", scope, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["token"]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_state(client: httpx.Client, campaign_id: int, states: set[str], timeout: float = 90.0) -> dict:
    """Poll GET /v1/campaigns/{id} until its state is one of ``states``."""
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = client.get(f"/v1/campaigns/{campaign_id}").json()
        if status["state"] in states:
            return status
        time.sleep(0.2)
    raise AssertionError(f"campaign {campaign_id} did not reach {states}: {status}")
