"""MobizonProvider, the provider port over MobizonClient, against a scripted Mobizon on
httpx.MockTransport."""

from __future__ import annotations

import random
from datetime import date

import httpx
import pytest

from campaigns.providers.errors import PermanentError, TemporaryError
from campaigns.providers.mobizon import MobizonProvider, mobizon_provider_from_settings
from campaigns.providers.port import CampaignSpec, ChunkRecipient, Provider
from campaigns.redact import redact
from campaigns.settings import Settings, SettingsError
from tests.mobizon_fake import KEY, FakeMobizon, Seen, make_client, ok

TODAY = date(2025, 3, 1)


@pytest.fixture
def fake():
    return FakeMobizon()


@pytest.fixture
def provider(fake):
    provider = MobizonProvider(make_client(fake), today=lambda: TODAY)
    yield provider
    provider.close()


def spec(**changes) -> CampaignSpec:
    values = dict(local_id=1, name="Spring sale", text="Hello {name}!", type=3, sender="Shop", placeholders_flag=3)
    values.update(changes)
    return CampaignSpec(**values)


def item(id_, *, name="Spring sale", text="Hello {name}!", status="NEW", created="2025-03-01 10:00:00", **extra):
    return {"id": id_, "name": name, "text": text, "status": status, "createTs": created, **extra}


def test_it_is_a_provider_with_server_side_campaigns(provider):
    assert isinstance(provider, Provider)
    assert provider.server_side_campaigns is True and provider.name == "mobizon"
    assert KEY not in repr(provider)


def test_create_campaign_sends_the_spec(fake, provider):
    fake.reply("campaign/create", ok("321"))
    campaign_id = provider.create_campaign(
        spec(rate_limit=3600, rate_period=3600, validity=600, mclass=1, deferred_to=None)
    )
    assert campaign_id == "321"
    assert fake.seen[0].form == [
        ("data[type]", "3"),
        ("data[from]", "Shop"),
        ("data[text]", "Hello {name}!"),
        ("data[name]", "Spring sale"),
        ("data[rateLimit]", "3600"),
        ("data[ratePeriod]", "3600"),
        ("data[mclass]", "1"),
        ("data[validity]", "600"),
    ]


def test_create_campaign_with_a_broken_spec_is_permanent_and_calls_nothing(fake, provider):
    with pytest.raises(PermanentError, match="placeholder") as caught:
        provider.create_campaign(spec(text="Hi {recipient}", rate_limit=10))
    assert len(caught.value.data) == 2
    assert fake.seen == []


def test_find_campaign_picks_the_newest_matching_new_campaign(fake, provider):
    # Given the list holds the campaign twice (one owned by another local campaign),
    # a launched one, one with another name and an older copy
    fake.reply(
        "campaign/list",
        ok(
            {
                "items": [
                    item("10", created="2025-03-01 09:00:00"),
                    item("11", created="2025-03-01 09:30:00"),
                    item("12", created="2025-03-01 09:40:00"),
                    item("13", created="2025-03-01 09:50:00", status="RUNNING"),
                    item("14", created="2025-03-01 09:55:00", name="Other"),
                    item("15", created="2025-03-01 09:56:00", text="Hello {name}!!"),
                    item("16", created="2025-03-01 09:57:00", isDeleted="1"),
                ],
                "totalItemCount": "7",
            }
        ),
    )
    # When we look for it, excluding the id another local campaign owns
    found = provider.find_campaign(spec(), exclude=["12"])
    # Then the newest candidate not excluded is chosen, searched by text and date
    assert found == "11"
    fields = fake.seen[0].fields
    assert fields["criteria[text]"] == "Hello {name}!"
    assert (fields["criteria[createDateFrom]"], fields["criteria[createDateTo]"]) == ("2025-02-28", "2025-03-02")


def test_find_campaign_pages_through_and_returns_none_when_absent(fake, provider):
    fake.reply(
        "campaign/list",
        ok({"items": [item(str(i), name="x") for i in range(50)], "totalItemCount": "60"}),
        ok({"items": [item(str(i), name="x") for i in range(50, 60)], "totalItemCount": "60"}),
    )
    assert provider.find_campaign(spec()) is None
    assert [s.fields["pagination[currentPage]"] for s in fake.seen] == ["0", "1"]


def recipients(n=3, fields=True):
    return [
        ChunkRecipient(phone=f"7701000000{i}", fields={"name": f"N{i}"} if fields else {}, row_number=i + 2)
        for i in range(n)
    ]


def test_add_chunk_sends_template_recipients_with_the_flag(fake, provider):
    fake.reply("campaign/addRecipients", ok([
        {"recipient": "77010000000", "code": 0, "messageId": "900", "number": "77010000000"},
        {"recipient": "77010000001", "code": 20, "number": "77010000001"},
        {"recipient": "77010000002", "code": 5, "number": "77010000002"},
    ], code=98))
    outcomes = provider.add_chunk("55", "c-1", recipients(), spec=spec())
    assert fake.seen[0].form[:4] == [
        ("id", "55"),
        ("recipients[0][recipient]", "77010000000"),
        ("recipients[0][name]", "N0"),
        ("recipients[1][recipient]", "77010000001"),
    ]
    assert fake.seen[0].fields["params[placeholdersFlag]"] == "3"
    assert [(o.phone, o.code, o.added, o.message_id) for o in outcomes] == [
        ("77010000000", 0, True, "900"),
        ("77010000001", 20, False, None),
        ("77010000002", 5, False, None),
    ]
    assert outcomes[1].meaning == "placeholder values are missing for this recipient"


def test_add_chunk_sends_plain_numbers_for_a_mass_campaign(fake, provider):
    fake.reply("campaign/addRecipients", ok([{"recipient": r.phone, "code": 0, "messageId": i}
                                              for i, r in enumerate(recipients(2, fields=False))]))
    provider.add_chunk("55", "c-1", recipients(2, fields=False), spec=spec(type=2, text="Hi"))
    assert fake.seen[0].form == [("id", "55"), ("recipients[]", "77010000000"), ("recipients[]", "77010000001")]


def test_add_chunk_without_a_spec_infers_the_form_from_the_fields(fake, provider):
    fake.reply("campaign/addRecipients", ok([{"recipient": "77010000000", "code": 0}]))
    provider.add_chunk("55", "c-1", recipients(1))
    assert fake.seen[0].fields["recipients[0][name]"] == "N0"
    provider.add_chunk("55", "c-1", recipients(1, fields=False))
    assert fake.seen[1].form[1] == ("recipients[]", "77010000000")


def test_a_resent_chunk_counts_duplicates_as_already_added(fake, provider):
    answer = ok([{"recipient": "77010000000", "code": 4, "number": "77010000000"},
                 {"recipient": "77010000001", "code": 0, "messageId": "7", "number": "77010000001"}], code=0)
    fake.reply("campaign/addRecipients", answer)
    first_time = provider.add_chunk("55", "c-1", recipients(2), spec=spec())
    resent = provider.add_chunk("55", "c-1", recipients(2), spec=spec(), resend=True)
    assert [(o.code, o.added) for o in first_time] == [(4, False), (0, True)]
    assert first_time[0].meaning == "the number is already in the campaign (duplicate)"
    assert [(o.code, o.added) for o in resent] == [(4, True), (0, True)]
    assert resent[0].meaning.startswith("already added")


def test_nothing_added_is_data_not_an_error(fake, provider):
    fake.reply("campaign/addRecipients", ok([{"recipient": r.phone, "code": 3, "number": r.phone}
                                              for r in recipients(3)], code=99))
    outcomes = provider.add_chunk("55", "c-1", recipients(3), spec=spec())
    assert [o.added for o in outcomes] == [False] * 3


def test_results_out_of_order_are_matched_by_number(fake, provider):
    chunk = recipients(20)
    items = [{"recipient": r.phone, "code": 0, "messageId": f"m{r.phone}", "number": r.phone} for r in chunk]
    random.Random(3).shuffle(items)
    fake.reply("campaign/addRecipients", ok(items))
    outcomes = provider.add_chunk("55", "c-1", chunk, spec=spec())
    assert [o.message_id for o in outcomes] == [f"m{r.phone}" for r in chunk]


def test_results_that_do_not_match_the_chunk_are_temporary(fake, provider):
    fake.reply("campaign/addRecipients", ok([{"recipient": "1", "code": 0}]))
    with pytest.raises(TemporaryError, match="1 results for 3 recipients") as caught:
        provider.add_chunk("55", "c-9", recipients(3), spec=spec())
    assert caught.value.maybe_done


@pytest.mark.parametrize("resend", [False, True])
@pytest.mark.parametrize("as_object", [False, True])
def test_a_prepared_chunk_gives_its_counts_before_working_out_the_outcomes(fake, provider, resend, as_object):
    # Given results out of order, codes as numbers and as text, a duplicate; as a JSON
    # array or as a PHP array sent as an object (read in full at once)
    chunk = recipients(6)
    codes = [0, "3", 4, 0, 5, "0"]
    items = [{"recipient": r.phone, "code": c, "messageId": f"m{i}", "number": r.phone}
             for i, (r, c) in enumerate(zip(chunk, codes))]
    random.Random(5).shuffle(items)
    data = {str(i): item for i, item in enumerate(items)} if as_object else items
    fake.reply("campaign/addRecipients", ok(data, code=98))
    # When the chunk is prepared (encoded, nothing sent) and then sent
    prepared = provider.prepare_chunk("55", "c-1", chunk, spec=spec(), resend=resend)
    assert fake.calls("campaign/addRecipients") == []
    answer = prepared.send()
    # Then the counts given with the answer are those of the outcomes worked out after,
    # code 4 counting as added on a resend, and the outcomes are add_chunk's
    outcomes = answer.outcomes()
    assert answer.added == sum(o.added for o in outcomes) == (4 if resend else 3)
    assert answer.rejected == len(chunk) - answer.added
    assert outcomes == provider.add_chunk("55", "c-1", chunk, spec=spec(), resend=resend)
    assert [o.message_id for o in outcomes] == [f"m{i}" for i in range(6)]


@pytest.mark.parametrize("results", [
    pytest.param(lambda chunk: [{"recipient": "1", "code": 0}], id="fewer results, not the chunk's"),
    pytest.param(lambda chunk: [{"recipient": r.phone, "number": r.phone} for r in chunk], id="no codes"),
    pytest.param(lambda chunk: [{"recipient": r.phone, "code": "x", "number": r.phone} for r in chunk],
                 id="an unreadable code"),
])
def test_an_answer_that_cannot_be_read_is_refused_by_send_itself(fake, provider, results):
    # Given an answer with code 0 whose results cannot be paired with the chunk or read
    chunk = recipients(3)
    fake.reply("campaign/addRecipients", ok(results(chunk)))
    # When the prepared chunk is sent, then the refusal comes from send(), before the
    # pipeline could send anything else
    with pytest.raises(TemporaryError) as caught:
        provider.prepare_chunk("55", "c-1", chunk, spec=spec()).send()
    assert caught.value.maybe_done


def test_add_chunk_while_another_add_runs_is_temporary(fake, provider):
    fake.reply("campaign/addRecipients", ok(None, code=10))
    with pytest.raises(TemporaryError) as caught:
        provider.add_chunk("55", "c-1", recipients(1), spec=spec())
    assert caught.value.code == 10


@pytest.mark.parametrize("answer, status", [(1, "MODERATION"), ("2", "RUNNING")])
def test_launch_returns_the_status(fake, provider, answer, status):
    fake.reply("campaign/send", ok(answer))
    assert provider.launch("55") == status


def test_launch_with_an_undocumented_answer_reads_the_status(fake, provider):
    fake.reply("campaign/send", ok(7))
    fake.reply("campaign/list", ok({"items": [item("55", status="AUTO_READY_FOR_SEND")], "totalItemCount": 1}))
    assert provider.launch("55") == "AUTO_READY_FOR_SEND"


def test_campaign_statuses_batch_ten_ids_a_call(fake, provider):
    def answer(request):
        ids = [v for k, v in Seen(request).form if k.startswith("criteria[ids]")]
        return httpx.Response(200, json=ok({
            "items": [{"id": i, "status": "SENT", "counters": {"totalMsgNum": "10", "totalCost": "1.5"}}
                      for i in ids] + [{"id": "999", "status": "DONE"}],
            "totalItemCount": str(len(ids) + 1)}))

    fake.reply("campaign/list", answer)
    ids = [str(100 + i) for i in range(23)]
    statuses = provider.campaign_statuses(ids)
    assert [len([k for k, _ in s.form if k.startswith("criteria[ids]")]) for s in fake.seen] == [10, 10, 3]
    assert sorted(statuses) == ids
    assert statuses["100"].status == "SENT"
    assert statuses["100"].counters == {"totalMsgNum": 10, "totalCost": 1.5}


def test_message_statuses_page_to_the_end(fake, provider):
    page = [{"id": str(i), "to": "7701", "status": "DELIVRD" if i % 2 else "ACCEPTD"} for i in range(100)]
    fake.reply("message/list", ok({"items": page, "totalItemCount": "130"}),
               ok({"items": page[:30], "totalItemCount": "130"}))
    statuses = list(provider.message_statuses("55"))
    assert len(statuses) == 130
    assert (statuses[1].final, statuses[0].final) == (True, False)
    assert fake.seen[0].fields["criteria[campaignIds][0]"] == "55"
    assert fake.seen[0].fields["pagination[pageSize]"] == "100"


def test_cancel(fake, provider):
    fake.reply("campaign/delete", ok(True), ok(None, code=10), ok(None, code=2), ok(False))
    provider.cancel("55")
    with pytest.raises(PermanentError, match="can no longer be deleted") as caught:
        provider.cancel("55")
    assert caught.value.code == 10 and not isinstance(caught.value, TemporaryError)
    with pytest.raises(PermanentError) as caught:
        provider.cancel("55")
    assert caught.value.code == 2
    with pytest.raises(PermanentError, match="did not delete"):
        provider.cancel("55")


def test_provider_from_settings():
    settings = Settings().with_(mobizon_api_key=KEY, mobizon_api_url="https://api.mobizon.uz", http_timeout=7.0,
                                http_connect_timeout=2.0)
    provider = mobizon_provider_from_settings(settings)
    try:
        assert provider.client.api_url == "https://api.mobizon.uz" and provider.name == "mobizon"
        assert KEY not in repr(provider)
    finally:
        provider.close()
    sandbox = mobizon_provider_from_settings(Settings(), api_url="http://127.0.0.1:9", name="sandbox")
    try:
        assert (sandbox.name, sandbox.client.api_url) == ("sandbox", "http://127.0.0.1:9")
        assert redact("sandbox") == "sandbox"  # the placeholder key is not a secret to mask
        assert KEY not in redact(f"key {KEY} here")
        with pytest.raises(TemporaryError) as caught:  # nothing listens on port 9
            sandbox.launch("1")
        assert caught.value.maybe_done is False
    finally:
        sandbox.close()
    with pytest.raises(SettingsError, match="MOBIZON_API_KEY"):
        mobizon_provider_from_settings(Settings())
