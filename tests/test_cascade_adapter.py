"""The cascade adapter with a fake gateway client: what it sends for plain and template
campaigns, how each recipient's answer is recorded (ids, duplicate refusals, error texts),
how a resend stays safe, and how states become statuses with channel and prices."""

from __future__ import annotations

import pytest

from campaigns.providers.cascade import codes
from campaigns.providers.cascade.adapter import CascadeProvider, client_id
from campaigns.providers.cascade.wire import PhoneAnswer, State
from campaigns.providers.errors import AuthError, PermanentError
from campaigns.providers.port import CampaignSpec, ChunkRecipient

OPTIONS = {"channels": ["viber", "sms"], "sms_text": "SMS: {name}", "viber_sender": "Shop", "button_text": "Open",
           "button_url": "https://shop.example/x"}


class FakeClient:
    """Plays the gateway: accepts every phone (ids from 1000), remembers client ids and
    refuses a repeat of one as a duplicate; ``script`` replaces the next answers."""

    def __init__(self):
        self.sent: list = []
        self.script: list = []
        self.seen: dict[str, str] = {}
        self.states: dict[str, State] = {}
        self.next_id = 1000

    def send(self, messages):
        self.sent.append(list(messages))
        if self.script:
            answer = self.script.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        out = []
        for m in messages:
            answers = []
            for a in m.phones:
                cid = str(a.client_id)
                if cid in self.seen:
                    answers.append(PhoneAnswer(a.phone, cid, self.seen[cid], error="Сообщение с таким client_id_message уже было отправлено"))
                    continue
                self.next_id += 1
                self.seen[cid] = str(self.next_id)
                answers.append(PhoneAnswer(a.phone, cid, str(self.next_id), ids={"viber": "7", "sms": "0"}))
            out.append(answers)
        return out

    def state(self, ids):
        return [self.states.get(i, State(i, "send")) for i in ids]

    def close(self):
        pass


@pytest.fixture
def fake():
    return FakeClient()


@pytest.fixture
def provider(fake):
    return CascadeProvider(fake, nonce=lambda: 42)


def spec(text="Hello {name}", type=3, options=OPTIONS, **kw):
    return CampaignSpec(local_id=12, name="spring", text=text, type=type, sender="ShopSMS", options=options, **kw)


def people(*names):
    return [ChunkRecipient(f"7701000000{i}", {"name": n} if n else {}, row_number=i + 2) for i, n in enumerate(names)]


def test_client_ids_are_derived_from_the_campaign_and_the_row_and_differ_for_every_recipient():
    assert client_id("12.42", 2) == client_id("12.42", 2)
    ids = {client_id(f"{c}.{n}", row) for c in (1, 2, 3) for n in (1, 2) for row in range(50)}
    assert len(ids) == 3 * 2 * 50 and max(ids) < 2**63
    with pytest.raises(ValueError):
        client_id("c12.abc", 2)


def test_a_template_campaign_sends_one_message_per_text_with_the_channels_in_order(provider, fake):
    campaign = provider.create_campaign(spec())
    assert campaign == "12.42"
    outcomes = provider.add_chunk(campaign, "12:0", people("Ann", "Bob", "Ann"), spec=spec())
    assert [o.added for o in outcomes] == [True, True, True]
    assert [o.message_id for o in outcomes] == ["1001", "1003", "1002"]  # Ann's message first, then Bob's
    messages = fake.sent[0]
    assert len(messages) == 2  # Ann twice shares a text
    ann = messages[0]
    assert ann.order == {"viber": 1, "sms": 2} and ann.text_viber == "Hello Ann" and ann.text_sms == "SMS: Ann"
    assert ann.sender_viber == "Shop" and ann.sender_sms == "ShopSMS" and ann.button_text == "Open"
    assert [a.client_id for a in ann.phones] == [client_id(campaign, 2), client_id(campaign, 4)]
    assert ann.name_delivery == "spring"


def test_a_plain_campaign_is_one_message_and_vk_gets_its_template(provider, fake):
    options = {"channels": ["vk", "sms"], "vk_template_id": 100, "vk_template_data": {"Where": "Almaty"}}
    outcomes = provider.add_chunk("12.42", "12:0", people("", "", ""), spec=spec("Sale today", 2, options))
    assert all(o.added for o in outcomes)
    (message,) = fake.sent[0]
    assert len(message.phones) == 3 and message.order == {"vk": 1, "sms": 2}
    assert message.template_id == 100 and message.template_data == {"Where": "Almaty"}
    assert message.text_viber is None and message.text_sms == "Sale today"


def test_a_resend_is_refused_by_the_gateway_as_duplicates_and_recorded_as_sent_once(provider, fake):
    first = provider.add_chunk("12.42", "12:0", people("Ann", "Bob"), spec=spec())
    again = provider.add_chunk("12.42", "12:0", people("Ann", "Bob"), spec=spec(), resend=True)
    assert [o.message_id for o in again] == [o.message_id for o in first]
    assert all(o.added and o.meaning == codes.ALREADY_SENT for o in again)
    # a duplicate refusal without ids: sent, its state unknown
    fake.script.append([[PhoneAnswer("77010000000", str(client_id("12.42", 2)), None,
                                     error="Сообщение с таким client_id_message уже было отправлено")]])
    (lost,) = provider.add_chunk("12.42", "12:0", people("Ann"), spec=spec(), resend=True)
    assert lost.added and lost.message_id is None and "cannot be read" in lost.meaning


def test_error_texts_refuse_a_phone_a_message_or_the_whole_request(provider, fake):
    fake.script.append([[PhoneAnswer("77010000000", None, None, error="Неверный формат номера телефона"),
                         PhoneAnswer("77010000001", None, "55")]])
    outcomes = provider.add_chunk("12.42", "12:0", people("", ""), spec=spec("Sale", 2))
    assert [(o.added, o.code) for o in outcomes] == [(False, codes.REFUSED), (True, codes.SENT)]
    assert outcomes[0].meaning == "Неверный формат номера телефона"
    fake.script.append(["Не указан текст VIBER сообщения"])
    outcomes = provider.add_chunk("12.42", "12:1", people("", ""), spec=spec("Sale", 2))
    assert not any(o.added for o in outcomes) and "VIBER" in outcomes[0].meaning
    fake.script.append(["Попытка отправки более одного одинакового запроса в течение минуты"])
    with pytest.raises(codes.Repeated):
        provider.add_chunk("12.42", "12:2", people(""), spec=spec("Sale", 2))
    fake.script.append(["Неверный логин или пароль"])
    with pytest.raises(AuthError):
        provider.add_chunk("12.42", "12:3", people(""), spec=spec("Sale", 2))


def test_missing_placeholders_are_rejected_before_sending_when_asked(provider, fake):
    rejecting = CampaignSpec(local_id=12, name="n", text="Hi {name}", type=3, placeholders_flag=3, options=OPTIONS)
    outcomes = provider.add_chunk("12.42", "12:0", people("Ann", ""), spec=rejecting)
    assert outcomes[0].added and outcomes[1].code == codes.MISSING_PLACEHOLDERS and not outcomes[1].added
    assert [len(m.phones) for m in fake.sent[0]] == [1]
    with pytest.raises(PermanentError):
        provider.add_chunk("12.42", "12:0", people("Ann"))


def test_states_become_statuses_with_the_channel_that_delivered_and_its_price(provider, fake):
    fake.states = {
        "1": State("1", "deliver", {"viber": "not_deliver", "vk": "send", "sms": "deliver"}, {"viber": 0.0, "sms": 1.2}),
        "2": State("2", "send", {"viber": "send"}),
        "3": State("3", "Сообщение с таким ID не принималось"),
        "4": State("4", "partly_deliver", {"sms": "partly_deliver"}),
    }
    one, two, three, four = provider.message_states(["1", "2", "3", "4"])
    assert (one.status, one.final, one.channel, dict(one.prices)) == ("DELIVRD", True, "sms", {"viber": 0.0, "sms": 1.2})
    assert one.detail == "viber not_deliver, vk send, sms deliver"
    assert (two.status, two.final) == ("ACCEPTD", False)
    assert (three.status, three.final, three.detail) == ("REJECTD", True, "Сообщение с таким ID не принималось")
    assert (four.status, four.final, four.channel) == ("UNDELIV", True, None)


def test_messages_asked_about_within_the_minute_are_still_pending_without_a_call(provider, fake):
    def refuse(ids):
        raise codes.Repeated("asked within the minute", retry_after=30)

    fake.state = refuse
    statuses = provider.message_states(["1", "2"])
    assert [(s.message_id, s.status, s.final) for s in statuses] == [("1", "ACCEPTD", False), ("2", "ACCEPTD", False)]
