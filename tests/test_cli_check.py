"""``campaigns check``: one line for each outcome, exit 0 or 1, never the key, never a
traceback. The account is the Mobizon simulator over real HTTP."""

from __future__ import annotations

import socket

import pytest
import typer
from typer.testing import CliRunner

from campaigns.cli import check
from campaigns.simulator import FaultRule, SimConfig, SimulatorServer

KEY = "c7" * 20
OTHER_KEY = "w3" * 20
CLEAN_ENV = {
    "MOBIZON_API_KEY": None,
    "MOBIZON_API_URL": None,
    "CAMPAIGNS_SANDBOX_URL": None,
    "CAMPAIGNS_HTTP_TIMEOUT": None,
    "CAMPAIGNS_HTTP_CONNECT_TIMEOUT": None,
}


def run(*args: str, **env: str):
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """The command group, as in campaigns.cli."""

    check.register(app)
    result = CliRunner().invoke(app, ["check", *args], env={**CLEAN_ENV, **env})
    assert "Traceback" not in result.output
    for key in (KEY, OTHER_KEY):
        assert key not in result.output
    return result


@pytest.fixture(scope="module")
def account():
    with SimulatorServer(SimConfig(api_key=KEY)) as server:
        yield server


@pytest.fixture
def sim(account):
    account.simulator.reset()
    return account.simulator


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ok(account, sim):
    result = run("--provider", "mobizon", MOBIZON_API_KEY=KEY, MOBIZON_API_URL=account.base_url)
    assert result.exit_code == 0
    assert result.output.strip() == f"ok: Mobizon account at 127.0.0.1:{account.port} answers"
    assert sim.calls == {"campaign/list": 1}  # one cheap read call


def test_wrong_key(account, sim):
    result = run(MOBIZON_API_KEY=OTHER_KEY, MOBIZON_API_URL=account.base_url)
    assert result.exit_code == 1
    assert "refused" in result.output and "code 8" in result.output and "MOBIZON_API_KEY" in result.output


def test_wrong_domain_names_the_right_one(account, sim):
    right = f"127.0.0.1:{account.port}"
    sim.configure(home_domain=right)
    result = run(MOBIZON_API_KEY=KEY, MOBIZON_API_URL=f"http://localhost:{account.port}")
    assert result.exit_code == 1
    assert f"your account is on {right}: set MOBIZON_API_URL=http://{right}" in result.output
    # a domain that is not Mobizon's is named but not followed with the key
    sim.configure(home_domain="api.example.org")
    result = run(MOBIZON_API_KEY=KEY, MOBIZON_API_URL=account.base_url)
    assert result.exit_code == 1
    assert "your account is on api.example.org: set MOBIZON_API_URL=https://api.example.org" in result.output
    assert sim.calls["campaign/list"] == 3  # two at the wrong domain, one after the switch


def test_unreachable():
    result = run(MOBIZON_API_KEY=KEY, MOBIZON_API_URL=f"http://127.0.0.1:{closed_port()}")
    assert result.exit_code == 1
    assert result.output.startswith("error: unreachable: cannot connect to 127.0.0.1:")


def test_timed_out(account, sim):
    sim.faults.add(FaultRule(kind="hang", seconds=3, method="campaign/list"))
    result = run(MOBIZON_API_KEY=KEY, MOBIZON_API_URL=account.base_url, CAMPAIGNS_HTTP_TIMEOUT="0.3")
    assert result.exit_code == 1
    assert f"timed out: 127.0.0.1:{account.port} did not answer within 0.3 s" in result.output


def test_failing_service(account, sim):
    sim.faults.add(FaultRule(kind="http_error", status=503, method="campaign/list"))
    result = run(MOBIZON_API_KEY=KEY, MOBIZON_API_URL=account.base_url)
    assert result.exit_code == 1
    assert "is not answering properly" in result.output and "HTTP 503" in result.output


def test_no_key_configured():
    result = run(MOBIZON_API_URL="https://api.mobizon.kz")
    assert result.exit_code == 1
    assert "MOBIZON_API_KEY is not set" in result.output


def test_sandbox_starts_its_simulator_or_uses_the_configured_one(account, sim):
    started = run("--provider", "sandbox")
    assert started.exit_code == 0 and "ok: sandbox (Mobizon simulator started in-process)" in started.output
    with SimulatorServer(SimConfig.sandbox()) as sandbox:
        configured = run("--provider", "sandbox", CAMPAIGNS_SANDBOX_URL=sandbox.base_url)
        assert configured.exit_code == 0
        assert configured.output.strip() == f"ok: sandbox (Mobizon simulator) at 127.0.0.1:{sandbox.port} answers"
    gone = run("--provider", "sandbox", CAMPAIGNS_SANDBOX_URL=f"http://127.0.0.1:{closed_port()}")
    assert gone.exit_code == 1 and "CAMPAIGNS_SANDBOX_URL" in gone.output


def test_unknown_provider_is_a_usage_error():
    result = run("--provider", "nope")
    assert result.exit_code == 2 and "known: mobizon, sandbox" in result.output
