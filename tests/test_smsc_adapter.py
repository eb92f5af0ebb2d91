"""The SMSC adapter (provider port) against the SMSC simulator over HTTP: chunks sent
once, template texts, recipient outcomes, and the reconciliation of lost responses and
error 9 through status.php before anything is resent."""

from __future__ import annotations

import httpx
import pytest

from campaigns.providers.errors import AuthError, PermanentError, TemporaryError
from campaigns.providers.port import CampaignSpec, ChunkRecipient, Provider
from campaigns.providers.smsc import codes
from campaigns.providers.smsc.adapter import (
    SmscProvider,
    render,
    request_id,
    smsc_provider_from_settings,
    split_message_id,
)
from campaigns.providers.smsc.client import SmscClient, valid_request_id
from campaigns.settings import Settings, SettingsError
from campaigns.simulator.faults import FaultRule
from campaigns.simulator.server import SimulatorServer
from campaigns.simulator.smsc import SmscConfig, SmscSimulator, create_smsc_app

LOGIN, PASSWORD = "shop", "Very-secret-pw1"
PHONES = ["77011234567", "77021234567", "77031234567"]
PLAIN = CampaignSpec(local_id=7, name="sale", text="Sale today", sender="Shop")
TEMPLATE = CampaignSpec(local_id=8, name="bill", text="Hi {name}, you owe {sum}", type=3, placeholders_flag=3)


@pytest.fixture
def sim():
    return SmscSimulator(SmscConfig(login=LOGIN, password=PASSWORD))


@pytest.fixture
def provider(sim):
    with SimulatorServer(create_smsc_app(sim)) as server:
        client = SmscClient(httpx.Client(timeout=5), login=LOGIN, password=PASSWORD, api_url=server.base_url)
        p = SmscProvider(client, token=lambda: "ab12cd")
        yield p
        p.close()


def people(*phones, **fields):
    return [ChunkRecipient(phone=p, fields=dict(fields)) for p in phones]


def test_it_is_a_message_by_message_provider(provider):
    assert isinstance(provider, Provider) and provider.server_side_campaigns is False
    cid = provider.create_campaign(PLAIN)
    assert cid == "c7.ab12cd" and provider.find_campaign(PLAIN) is None
    assert provider.launch(cid) == "RUNNING" and provider.cancel(cid) is None
    assert provider.campaign_statuses([cid])[cid].status == "RUNNING"


def test_request_ids_are_deterministic_and_valid():
    assert request_id("c7.ab12cd", "7:12") == "c7.ab12cd-7.12"
    long = request_id("c" + "9" * 30 + ".ab12cd", "1234567:99999")
    assert len(long) == 40 and valid_request_id(long)
    assert long == request_id("c" + "9" * 30 + ".ab12cd", "1234567:99999")
    assert split_message_id("c7.ab12cd-7.12:77011234567") == ("c7.ab12cd-7.12", "77011234567")
    with pytest.raises(ValueError):
        split_message_id("12345")


def test_a_plain_chunk_is_one_request_and_each_recipient_gets_an_outcome(provider, sim):
    sim.configure(undeliverable=frozenset({PHONES[2]}))
    outcomes = provider.add_chunk("c7.ab12cd", "7:0", people(*PHONES, "123"), spec=PLAIN)
    assert [(o.phone, o.code, o.added) for o in outcomes] == [
        (PHONES[0], 0, True), (PHONES[1], 0, True), (PHONES[2], 8, False), ("123", 7, False),
    ]
    assert outcomes[0].message_id == f"c7.ab12cd-7.0:{PHONES[0]}" and outcomes[2].message_id is None
    assert sim.calls["send"] == 1
    assert [(m.id, m.text, m.sender) for m in sim.messages] == [("c7.ab12cd-7.0", "Sale today", "Shop")] * 2


def test_a_template_chunk_renders_each_text_and_rejects_rows_missing_values(provider, sim):
    recipients = [
        ChunkRecipient(PHONES[0], {"name": "Ann", "sum": "10"}),
        ChunkRecipient(PHONES[1], {"name": "Bob"}),
        ChunkRecipient(PHONES[2], {"name": "Cy", "sum": "7"}),
    ]
    outcomes = provider.add_chunk("c8.ab12cd", "8:0", recipients, spec=TEMPLATE)
    assert [(o.code, o.added) for o in outcomes] == [(0, True), (20, False), (0, True)]
    assert "{sum}" in outcomes[1].meaning
    assert {m.phone: m.text for m in sim.messages} == {PHONES[0]: "Hi Ann, you owe 10", PHONES[2]: "Hi Cy, you owe 7"}


@pytest.mark.parametrize("flag, text, missing", [(1, "Hi {name}!", ["name"]), (2, "Hi !", ["name"])])
def test_placeholders_kept_or_stripped(flag, text, missing):
    assert render("Hi {name}!", {}, flag) == (text, missing)
    assert render("Hi {name}!", {"name": "Ann"}, flag) == ("Hi Ann!", [])


def test_add_chunk_needs_the_spec(provider):
    with pytest.raises(PermanentError, match="spec"):
        provider.add_chunk("c7.ab12cd", "7:0", people(*PHONES))


def test_no_funds_and_wrong_login_stop_the_campaign_with_the_reason(provider, sim):
    sim.configure(balance=1)
    with pytest.raises(PermanentError) as err:
        provider.add_chunk("c7.ab12cd", "7:0", people(*PHONES), spec=PLAIN)
    assert err.value.code == 3 and "funds" in str(err.value)
    sim.configure(balance=None, password="changed-password")
    with pytest.raises(AuthError) as err:
        provider.add_chunk("c7.ab12cd", "7:1", people(*PHONES), spec=PLAIN)
    assert PASSWORD not in str(err.value)
    assert sim.messages == []


# --- nothing sent twice ----------------------------------------------------------------


def test_a_lost_response_then_a_resend_a_minute_later_sends_nothing_twice(provider, sim):
    # Given a chunk SMSC sent but whose answer was lost
    sim.faults.add(FaultRule("lost", method="send"))
    with pytest.raises(TemporaryError) as err:
        provider.add_chunk("c7.ab12cd", "7:0", people(*PHONES), spec=PLAIN)
    assert err.value.maybe_done
    # When the pipeline resends it after SMSC has forgotten the identical request
    sim.clock.advance(120)
    outcomes = provider.add_chunk("c7.ab12cd", "7:0", people(*PHONES), resend=True, spec=PLAIN)
    # Then status.php says SMSC has them all, and nothing is sent again
    assert [(o.code, o.added, o.meaning) for o in outcomes] == [(0, True, codes.ALREADY_SENT)] * 3
    assert all(o.message_id for o in outcomes)
    assert sim.sent_counts() == {p: 1 for p in PHONES} and sim.calls["send"] == 1


def test_a_resend_sends_only_what_smsc_does_not_have(provider, sim):
    provider.add_chunk("c7.ab12cd", "7:0", people(PHONES[0]), spec=PLAIN)
    outcomes = provider.add_chunk("c7.ab12cd", "7:0", people(*PHONES), resend=True, spec=PLAIN)
    assert [o.meaning for o in outcomes] == [codes.ALREADY_SENT, codes.SENT_MEANING, codes.SENT_MEANING]
    assert sim.sent_counts() == {p: 1 for p in PHONES}


def test_error_9_after_a_lost_response_is_reconciled_not_resent(provider, sim):
    # Given a lost answer, and a retry within the minute that did not know it might be a resend
    sim.configure(undeliverable=frozenset({PHONES[2]}))
    sim.faults.add(FaultRule("lost", method="send", drop=True))
    with pytest.raises(TemporaryError):
        provider.add_chunk("c7.ab12cd", "7:0", people(*PHONES), spec=PLAIN)
    # When SMSC answers 9 to the identical request
    outcomes = provider.add_chunk("c7.ab12cd", "7:0", people(*PHONES), spec=PLAIN)
    # Then the two it has count as sent, and only the third is asked again (and refused again)
    assert [(o.code, o.added) for o in outcomes] == [(0, True), (0, True), (8, False)]
    assert outcomes[0].meaning == codes.ALREADY_SENT
    assert sim.sent_counts() == {PHONES[0]: 1, PHONES[1]: 1}
    assert sim.calls["send"] == 3 and sim.calls["status"] == 1


def test_error_9_with_nothing_at_smsc_is_retried_later(provider, sim):
    sim.faults.add(FaultRule("code", method="send", code=9))
    with pytest.raises(TemporaryError) as err:
        provider.add_chunk("c7.ab12cd", "7:0", people(*PHONES), spec=PLAIN)
    assert err.value.maybe_done and err.value.code == 9
    assert sim.messages == [] and sim.calls["status"] == 1
    outcomes = provider.add_chunk("c7.ab12cd", "7:0", people(*PHONES), resend=True, spec=PLAIN)
    assert all(o.added and o.meaning == codes.SENT_MEANING for o in outcomes)
    assert sim.sent_counts() == {p: 1 for p in PHONES}


# --- following -------------------------------------------------------------------------


def test_message_states_follow_each_message_to_its_final_status(provider, sim):
    sim.configure(delivery_seconds=10, fail_delivery=frozenset({PHONES[1]}))
    outcomes = provider.add_chunk("c7.ab12cd", "7:0", people(*PHONES), spec=PLAIN)
    ids = [o.message_id for o in outcomes]
    assert [(s.status, s.final) for s in provider.message_states(ids)] == [("ENQUEUD", False)] * 3
    sim.clock.advance(10)
    states = provider.message_states(ids)
    assert [(s.message_id, s.status, s.final) for s in states] == [
        (ids[0], "DELIVRD", True), (ids[1], "UNDELIV", True), (ids[2], "DELIVRD", True),
    ]


def test_message_statuses_reads_the_campaigns_messages_from_the_history(provider, sim):
    provider.add_chunk("c7.ab12cd", "7:0", people(*PHONES[:2]), spec=PLAIN)
    provider.add_chunk("c9.ffffff", "9:0", people(PHONES[2]), spec=PLAIN)
    found = list(provider.message_statuses("c7.ab12cd"))
    assert sorted(m.phone for m in found) == sorted(PHONES[:2])
    assert all(m.status == "DELIVRD" and m.final for m in found)


def test_the_factory_needs_credentials_and_never_shows_them():
    with pytest.raises(SettingsError, match="SMSC_LOGIN"):
        smsc_provider_from_settings(Settings())
    p = smsc_provider_from_settings(Settings(smsc_login="shop", smsc_password="Very-secret-pw1"))
    try:
        assert "Very-secret-pw1" not in repr(p) and p.server_side_campaigns is False
    finally:
        p.close()
    assert "Very-secret-pw1" not in repr(Settings(smsc_login="shop", smsc_password="Very-secret-pw1"))
