"""The cascade gateway from the command line: ``campaigns check --provider cascade``
against the gateway simulator over real HTTP (right and wrong credentials, never the
password shown), cascade options refused for another provider, and the status table's
channels line."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from campaigns.cli import check
from campaigns.cli.progress import status_table
from campaigns.simulator.cascade import create_cascade_app
from campaigns.simulator.cascade_gateway import CascadeConfig, CascadeGateway
from campaigns.simulator.server import SimulatorServer
from campaigns.services.channels import channels_view

PASSWORD = "Cascade-cli-pw-5521"
WRONG = "Wrong-cli-pw-0042"


@pytest.fixture(scope="module")
def gateway_url():
    with SimulatorServer(create_cascade_app(CascadeGateway(CascadeConfig(login="shop", password=PASSWORD)))) as server:
        yield server.base_url


def run(*args: str, **env: str):
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """The command group, as in campaigns.cli."""

    check.register(app)
    clean = {k: None for k in ("CASCADE_API_URL", "CASCADE_LOGIN", "CASCADE_PASSWORD", "CASCADE_TOKEN",
                               "CASCADE_PROTOCOL")}
    result = CliRunner().invoke(app, ["check", *args], env={**clean, **env})
    assert "Traceback" not in result.output
    assert PASSWORD not in result.output and WRONG not in result.output
    return result


@pytest.mark.parametrize("protocol", ["json", "get", "xml"])
def test_check_says_the_gateway_answers_with_the_right_credentials(gateway_url, protocol):
    result = run("--provider", "cascade", CASCADE_API_URL=gateway_url, CASCADE_LOGIN="shop",
                 CASCADE_PASSWORD=PASSWORD, CASCADE_PROTOCOL=protocol)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: cascade gateway at 127.0.0.1 answers") and protocol in result.output


def test_check_says_why_not_without_showing_the_password(gateway_url):
    wrong = run("--provider", "cascade", CASCADE_API_URL=gateway_url, CASCADE_LOGIN="shop", CASCADE_PASSWORD=WRONG)
    assert wrong.exit_code == 1 and "refused" in wrong.output and "Неверный логин или пароль" in wrong.output
    missing = run("--provider", "cascade")
    assert missing.exit_code == 1 and "CASCADE_API_URL" in missing.output
    bad_protocol = run("--provider", "cascade", CASCADE_API_URL=gateway_url, CASCADE_TOKEN="t" * 8,
                       CASCADE_PROTOCOL="soap")
    assert bad_protocol.exit_code != 0 and "CASCADE_PROTOCOL" in f"{bad_protocol.output}{bad_protocol.exception}"


def test_cascade_options_for_another_provider_are_a_usage_error(tmp_path):
    from campaigns.cli import main

    source = tmp_path / "people.csv"
    source.write_text("phone\n+77010000001\n", encoding="utf-8")
    with pytest.raises(SystemExit) as caught:
        main(["submit", str(source), "--text", "Hi", "--provider", "smsc", "--channels", "viber,sms",
              "--sms-text", "S"])
    assert caught.value.code == 2


def test_the_status_table_has_a_channels_line():
    counters = {"sent": 4, "delivered": 3, "undelivered": 1, "expired": 0, "rejected": 0, "viber_delivered": 2, "viber_cost": 0.9, "vk_delivered": 0, "vk_cost": 0,
                "sms_delivered": 1, "sms_cost": 1.2, "cost": 2.1}
    status = {"id": 7, "name": "spring", "provider": "cascade", "provider_campaign_id": "7.12", "state": "done",
              "provider_status": "DONE", "recipients": {"rows": 3, "valid": 3, "invalid": 0, "duplicates": 0,
                                                        "added": 4, "rejected_by_provider": 0},
              "chunks": {"total": 1, "added": 1, "failed": 0, "pending": 0, "adding": 0}, "counters": counters,
              "channels": channels_view(counters), "error": None}
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(status_table(status))
    text = console.export_text()
    assert "viber 2 delivered (0.9), vk 0 delivered (0), sms 1 delivered (1.2); cost 2.1" in text
    assert "4 sent, 3 delivered of 4" in text and "1 undelivered, 0 expired, 0 rejected" in text
