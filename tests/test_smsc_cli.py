"""The commands with ``--provider smsc``: ``campaigns check`` says in one line whether the
SMSC account answers, and ``campaigns submit`` runs an SMSC campaign at its pace to done
(embedded mode), never showing the password."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from campaigns.cli import check
from campaigns.simulator.faults import FaultRule
from campaigns.simulator.server import SimulatorServer
from campaigns.simulator.smsc import SmscConfig, SmscSimulator, create_smsc_app

LOGIN, PASSWORD = "shop", "Cli-secret-pass9"
CAMPAIGNS = str(Path(sys.executable).with_name("campaigns"))
CLEAN = {k: None for k in ("SMSC_LOGIN", "SMSC_PASSWORD", "SMSC_API_KEY", "SMSC_API_URL", "CAMPAIGNS_HTTP_TIMEOUT")}


@pytest.fixture
def sim():
    return SmscSimulator(SmscConfig(login=LOGIN, password=PASSWORD, balance=500))


@pytest.fixture
def url(sim):
    with SimulatorServer(create_smsc_app(sim)) as server:
        yield server.base_url


def run_check(**env):
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """The command group, as in campaigns.cli."""

    check.register(app)
    result = CliRunner().invoke(app, ["check", "--provider", "smsc"], env={**CLEAN, **env})
    assert "Traceback" not in result.output and PASSWORD not in result.output
    return result


def test_check_says_the_account_answers(url):
    result = run_check(SMSC_LOGIN=LOGIN, SMSC_PASSWORD=PASSWORD, SMSC_API_URL=url)
    assert result.exit_code == 0 and result.output.startswith("ok: SMSC account at 127.0.0.1") and "500.00" in result.output


def test_check_says_why_not(url, sim):
    missing = run_check()
    assert missing.exit_code == 1 and "SMSC_LOGIN" in missing.output
    wrong = run_check(SMSC_LOGIN=LOGIN, SMSC_PASSWORD="not-the-password", SMSC_API_URL=url)
    assert wrong.exit_code == 1 and "code 2" in wrong.output and "not-the-password" not in wrong.output
    sim.faults.add(FaultRule("http_error", method="balance", status=503))
    failing = run_check(SMSC_API_KEY="some-api-key", SMSC_API_URL=url)
    assert failing.exit_code == 1 and "HTTP 503" in failing.output
    unreachable = run_check(SMSC_API_KEY="some-api-key", SMSC_API_URL="http://127.0.0.1:9")
    assert unreachable.exit_code == 1 and "unreachable" in unreachable.output


def test_submit_runs_an_smsc_campaign_at_its_pace_to_done(url, sim, tmp_path):
    # Given a file of 30 recipients and the SMSC account in the environment (no broker: embedded)
    numbers = [f"7701{i:07d}" for i in range(30)]
    source = tmp_path / "r.csv"
    source.write_text("phone\n" + "\n".join(numbers) + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAMPAIGNS_", "MOBIZON_", "SMSC_"))}
    env.update(CAMPAIGNS_DATABASE_URL=f"sqlite:///{tmp_path / 'c.db'}", CAMPAIGNS_POLL_SECONDS="0.2",
               SMSC_LOGIN=LOGIN, SMSC_PASSWORD=PASSWORD, SMSC_API_URL=url)
    subprocess.run([CAMPAIGNS, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=60)
    # When it is submitted with a pace of 1200 a minute
    done = subprocess.run(
        [CAMPAIGNS, "submit", str(source), "--text", "Sale today", "--provider", "smsc", "--country", "KZ",
         "--rate-limit", "1200", "--rate-period", "60", "--json"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    # Then it ends done, each recipient sent once, in packets of 10 half a second apart
    assert done.returncode == 0, done.stdout + done.stderr
    status = json.loads(done.stdout)
    assert status["state"] == "done" and status["provider"] == "smsc" and status["chunks"]["total"] == 3
    assert status["counters"]["sent"] == 30 and status["counters"]["waiting"] == 0
    assert sim.sent_counts() == {p: 1 for p in numbers}
    sent = sorted(m.sent_at for m in sim.messages)
    assert sent[-1] - sent[0] >= 0.5
    assert PASSWORD not in done.stdout + done.stderr
