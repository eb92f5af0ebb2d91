"""The cascade gateway's client against the document's own examples (seed 001), for each
of its three interfaces, and its transport and error mapping with httpx.MockTransport."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from campaigns.pacing.limiter import Limiter
from campaigns.pacing.memory import MemoryBackend
from campaigns.providers.cascade import codes, wire
from campaigns.providers.cascade.client import CascadeClient
from campaigns.providers.cascade.wire import Abonent, Message
from campaigns.providers.errors import AuthError, PermanentError, RateLimited, TemporaryError

PASSWORD = "Cascade-secret-pw-9"

# seed 001, the JSON document's first message, its values as the example names them
DOC_FIRST = {
    "send_viber": "1", "send_vk": "2", "send_sms": "3", "name_delivery": "НАЗВАНИЕ_РАССЫЛКИ",
    "time_send": "ВРЕМЯ_ОТПРАВКИ", "sender_viber": "ИМЯ_ОТПРАВИТЕЛЯ_ВАЙБЕР", "text_viber": "ТЕКСТ_ВАЙБЕР",
    "button_text": "ТЕКСТ_КНОПКИ", "button_url": "ССЫЛКА_КНОПКИ", "image_url": "ИЗОБРАЖЕНИЕ",
    "validity_period_viber": "ВРЕМЯ_ЖИЗНИ_ВАЙБЕР_СООБЩЕНИЯ", "finale_viber_read": "1",
    "sender_sms": "ИМЯ_ОТПРАВИТЕЛЯ_СМС", "text_sms": "ТЕКСТ_СМС", "templateId": "100",
    "templateData": {"Name": "Имя", "Where": "Москва"},
    "phones": [{"phone": "79801234567", "client_id_message": "111"}, {"phone": "79800000001", "client_id_message": "112"}],
}


def doc_first_message(**changes) -> Message:
    values = dict(
        phones=(Abonent("79801234567", 111), Abonent("79800000001", 112)), order={"viber": 1, "vk": 2, "sms": 3},
        name_delivery="НАЗВАНИЕ_РАССЫЛКИ", time_send="ВРЕМЯ_ОТПРАВКИ", sender_viber="ИМЯ_ОТПРАВИТЕЛЯ_ВАЙБЕР",
        text_viber="ТЕКСТ_ВАЙБЕР", button_text="ТЕКСТ_КНОПКИ", button_url="ССЫЛКА_КНОПКИ", image_url="ИЗОБРАЖЕНИЕ",
        viber_read_final=True, sender_sms="ИМЯ_ОТПРАВИТЕЛЯ_СМС", text_sms="ТЕКСТ_СМС", template_id=100,
        template_data={"Name": "Имя", "Where": "Москва"},
    )
    values.update(changes)
    message = Message(**values)
    return message


def test_the_json_send_document_is_the_documents_example():
    m = doc_first_message()
    body = wire.json_send({"login": "login", "password": "password"}, [m])
    first = body["message"][0]
    expected = {k: v for k, v in DOC_FIRST.items() if k != "validity_period_viber"}  # validity is a number of minutes
    assert body["login"] == "login" and body["password"] == "password"
    assert first == expected
    assert list(first)[:3] == ["send_viber", "send_vk", "send_sms"]
    assert wire.json_send({}, [doc_first_message(validity_viber=60)])["message"][0]["validity_period_viber"] == "60"
    # the second example message: Viber only, the other channels sent as 0 (off)
    second = wire.json_send({}, [Message(phones=(Abonent("79800000002", 113),), order={"viber": 1},
                                         name_delivery="НАЗВАНИЕ_РАССЫЛКИ_2", sender_viber="ИМЯ_ОТПРАВИТЕЛЯ_ВАЙБЕР_2",
                                         text_viber="ТЕКСТ_ВАЙБЕР_2")])["message"][0]
    assert second == {"send_viber": "1", "send_vk": "0", "send_sms": "0", "name_delivery": "НАЗВАНИЕ_РАССЫЛКИ_2",
                      "sender_viber": "ИМЯ_ОТПРАВИТЕЛЯ_ВАЙБЕР_2", "text_viber": "ТЕКСТ_ВАЙБЕР_2",
                      "phones": [{"phone": "79800000002", "client_id_message": "113"}]}


def test_the_json_send_answer_of_the_document_reads_per_message_and_per_phone():
    answer = {"message": [
        [{"id_message": "1179038981", "client_id_message": "111", "phone": "79801234567", "count_message": "1",
          "id_viber": "55", "id_sms": "0", "id_vk": "0"},
         {"client_id_message": "112", "phone": "79800000001", "error": "Ошибка в отправке сообщения на указанный номер"}],
        [{"id_message": "1179038982", "client_id_message": "113", "phone": "79800000002", "count_message": "2",
          "id_viber": "56", "id_sms": "57", "id_vk": "0"}],
        {"error": "Текст ошибки"},
    ]}
    first, second, third = wire.json_send_answer(answer, 3)
    assert first[0].accepted and first[0].id_message == "1179038981" and first[0].ids["viber"] == "55"
    assert first[0].client_id == "111" and first[0].parts == 1
    assert not first[1].accepted and first[1].error == "Ошибка в отправке сообщения на указанный номер"
    assert second[0].ids == {"viber": "56", "vk": "0", "sms": "57"} and second[0].parts == 2
    assert third == "Текст ошибки"
    with pytest.raises(wire.WireError) as caught:
        wire.json_send_answer({"error": "текст ошибки"}, 1)
    assert caught.value.text == "текст ошибки"
    with pytest.raises(wire.Unreadable):
        wire.json_send_answer({"message": [[]]}, 2)


def test_json_states_as_the_document_shows_them():
    assert wire.json_state({"login": "login", "password": "password"}, ["111", "112"]) == {
        "login": "login", "password": "password", "state": [{"id_message": "111"}, {"id_message": "112"}]}
    states = wire.json_state_answer({"state": [
        {"id_message": "111", "time_change_state": "2017-11-23 13:15:25", "state": "deliver", "state_sms": "send",
         "state_viber": "not_deliver", "state_vk": "deliver", "num_parts_sms": "", "price_sms": "",
         "price_viber": "0.00", "price_vk": "0,35"},
        {"id_message": "112", "time_change_state": "", "state": "Сообщение с таким ID не принималось"},
    ]})
    assert states[0].channels == {"viber": "not_deliver", "vk": "deliver", "sms": "send"}
    assert states[0].prices == {"viber": 0.0, "vk": 0.35} and states[0].changed_at == "2017-11-23 13:15:25"
    assert codes.state_name(states[0].state) == ("DELIVRD", True)
    assert codes.state_name(states[1].state) == ("REJECTD", True)
    assert codes.state_name("send") == ("ACCEPTD", False)
    assert codes.state_name("partly_deliver") == ("UNDELIV", True)
    assert codes.state_name("expired") == ("EXPIRED", True)


def test_the_get_send_url_is_the_documents_example():
    message = doc_first_message(phones=(Abonent("ТЕЛЕФОН"),), validity_viber=60, viber_read_final=False)
    params = wire.get_send_params({"login": "ЛОГИН", "password": "ПАРОЛЬ"}, message, message.phones)
    example = ("login=ЛОГИН&password=ПАРОЛЬ&phone=ТЕЛЕФОН&send_viber=1&sender_viber=ИМЯ_ОТПРАВИТЕЛЯ_ВАЙБЕР"
               "&text_viber=ТЕКСТ_ВАЙБЕР&button_text=ТЕКСТ_КНОПКИ&button_url=ССЫЛКА_КНОПКИ&image_url=ИЗОБРАЖЕНИЕ"
               "&send_sms=3&sender_sms=ИМЯ_ОТПРАВИТЕЛЯ_СМС&text_sms=ТЕКСТ_СМС&validity_period_viber=60"
               "&finale_viber_read=0&send_vk=2&templateId=100&templateData={\"Name\":\"Имя\",\"Where\":\"Москва\"}")
    documented = dict(part.split("=", 1) for part in example.split("&"))
    ours = dict(params)
    documented["phone"] = ""  # a phone is digits: "ТЕЛЕФОН" has none
    documented.update(name_delivery="НАЗВАНИЕ_РАССЫЛКИ", time_send="ВРЕМЯ_ОТПРАВКИ")  # JSON/XML fields, sent too
    assert {k: v for k, v in ours.items() if k != "templateData"} == {k: v for k, v in documented.items() if k != "templateData"}
    assert json.loads(ours["templateData"]) == json.loads(documented["templateData"])
    # the answers: one id, ids in phone order, or an error text
    one = wire.get_send_answer("1179038981", [Abonent("79801234567", 1)])
    assert one[0].id_message == "1179038981" and one[0].client_id == "1"
    two = wire.get_send_answer("1178440060,1178440061\n", [Abonent("79801234567"), Abonent("79800000001")])
    assert [a.id_message for a in two] == ["1178440060", "1178440061"]
    with pytest.raises(wire.WireError):
        wire.get_send_answer("error: Попытка отправки более одного одинакового запроса в течение минуты |", [Abonent("1")])
    assert wire.get_state_answer("deliver", "1179038981").state == "deliver"


def test_get_requests_are_split_before_a_url_passes_2000_characters():
    base = "https://gateway.example/sendmessage.php"
    phones = tuple(Abonent(f"7701{i:07d}", 10**15 + i) for i in range(200))
    message = Message(phones=phones, order={"sms": 1}, text_sms="Sale today")
    groups = wire.split_for_get(base, {"login": "l", "password": "p"}, message)
    assert [a for g in groups for a in g] == list(phones) and len(groups) > 1
    for group in groups:
        length = wire.get_url_length(base, wire.get_send_params({"login": "l", "password": "p"}, message, group))
        assert length <= wire.MAX_URL
    too_long = Message(phones=phones[:1], order={"sms": 1}, text_sms="Привет " * 60)
    with pytest.raises(ValueError, match="2000"):
        wire.split_for_get(base, {}, too_long)


def _flat(xml: str) -> str:
    return re.sub(r">\s+<", "><", xml.strip()).replace("<?xml version=\"1.0\" encoding=\"utf-8\" ?>", "")


DOC_XML_SEND = """<?xml version="1.0" encoding="utf-8" ?> <request> <security> <login value="логин" /> <password value="пароль" /> </security> <message> <send_viber>1</send_viber> <send_vk>2</send_vk> <send_sms>3</send_sms> <name_delivery>НАЗВАНИЕ_РАССЫЛКИ</name_delivery> <time_send>ВРЕМЯ_ОТПРАВКИ</time_send> <sender_viber>ИМЯ_ОТПРАВИТЕЛЯ_ВАЙБЕР</sender_viber> <text_viber>ТЕКСТ_ВАЙБЕР</text_viber> <button_text>ТЕКСТ_КНОПКИ</button_text> <button_url>ССЫЛКА_КНОПКИ</button_url> <image_url>ИЗОБРАЖЕНИЕ</image_url> <validity_period_viber>60</validity_period_viber> <finale_viber_read>1</finale_viber_read> <sender_sms>ИМЯ_ОТПРАВИТЕЛЯ_СМС</sender_sms> <text_sms>ТЕКСТ_СМС</text_sms> <templateId>100</templateId> <templateData> <Name>Имя</Name> <Where>Москва</Where> </templateData> <abonent phone="79801234567" client_id_message="111" /> <abonent phone="79800000001" client_id_message="112" /> </message> </request>"""  # noqa: E501


def test_the_xml_send_document_is_the_documents_example_on_one_line():
    body = wire.xml_send({"login": "логин", "password": "пароль"}, [doc_first_message(validity_viber=60)])
    text = body.decode("utf-8")
    assert "\n" not in text and text.startswith('<?xml version="1.0" encoding="utf-8"?>')
    ours = ET.fromstring(body)
    theirs = ET.fromstring(_flat(DOC_XML_SEND).encode())
    assert ET.tostring(ours) == ET.tostring(theirs)
    # line breaks in the data travel as \n
    broken = wire.xml_send({}, [Message(phones=(Abonent("7701"),), order={"sms": 1}, text_sms="a\r\nb")])
    assert b"<text_sms>a\\nb</text_sms>" in broken


def test_the_xml_answers_of_the_document_read_like_the_json_ones():
    answer = ('<?xml version="1.0" encoding="utf-8" ?> <response> <message> <information id_message="501" '
              'client_id_message="111" id_sms="0" id_viber="77" id_vk="0" phone="79801234567">send</information> '
              '<information client_id_message="112" phone="79800000001">Неверный формат номера</information> '
              '</message> <message> <information id_message="502" client_id_message="113" id_sms="0" id_viber="78" '
              'id_vk="0" phone="79800000002">send</information> </message> <message> <error>Текст ошибки</error> '
              '</message> </response>')
    first, second, third = wire.xml_send_answer(answer.encode(), 3)
    assert first[0].accepted and first[0].ids["viber"] == "77" and first[0].error is None
    assert not first[1].accepted and first[1].error == "Неверный формат номера"
    assert second[0].id_message == "502" and third == "Текст ошибки"
    with pytest.raises(wire.WireError):
        wire.xml_send_answer('<?xml version="1.0" encoding="utf-8"?> <response> <error>текст ошибки</error> </response>'.encode(), 1)
    state_doc = wire.xml_state({"login": "логин", "password": "пароль"}, ["111", "112", "113"])
    expected = ('<request><security><login value="логин" /><password value="пароль" /></security><state>'
                '<id_message>111</id_message><id_message>112</id_message><id_message>113</id_message></state></request>')
    assert ET.tostring(ET.fromstring(state_doc)) == ET.tostring(ET.fromstring(expected.encode()))
    states = wire.xml_state_answer(
        '<?xml version="1.0" encoding="utf-8" ?> <response> <state id_message="111" time_change_state="2017-11-23 13:15:25" '
        'state_sms="deliver" state_viber="not_deliver" state_vk="send" num_parts_sms="2" price_sms="2.40" '
        'price_viber="0" price_vk="">deliver</state> <state id_message="112" time_change_state="">Сообщение с таким '
        'ID не принималось</state> </response>'.encode())
    assert states[0].state == "deliver" and states[0].channels["sms"] == "deliver" and states[0].sms_parts == 2
    assert states[0].prices == {"viber": 0.0, "sms": 2.4}
    assert codes.state_name(states[1].state)[0] == "REJECTD"


@pytest.mark.parametrize(
    "text, kind",
    [
        ("Попытка отправки более одного одинакового запроса в течение минуты", codes.Repeated),
        ("Неверный логин или пароль", AuthError),
        ("Недостаточно средств на балансе", codes.NoFunds),
        ("Сервис временно недоступен, попробуйте позже", TemporaryError),
        ("Не указан текст VIBER сообщения", PermanentError),
    ],
)
def test_error_texts_map_onto_the_provider_errors(text, kind):
    error = codes.request_error(text, method="send", sending=True)
    assert type(error) is kind
    if kind is codes.Repeated:
        assert isinstance(error, RateLimited) and error.maybe_done and error.retry_after == 60
    assert codes.about_whole_request(error) == (kind is not PermanentError)
    assert codes.is_duplicate("Сообщение с таким client_id_message уже было отправлено")
    assert not codes.is_duplicate("Неверный формат номера телефона")


class Gateway:
    """A tiny scripted gateway for MockTransport: records requests, answers ``reply``."""

    def __init__(self, reply):
        self.reply = reply
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.reply(request)


def client_for(handler, **kw) -> CascadeClient:
    kw.setdefault("login", "shop")
    kw.setdefault("password", PASSWORD)
    return CascadeClient(httpx.Client(transport=httpx.MockTransport(handler)), api_url="https://gw.example", **kw)


def test_json_sends_post_the_document_and_a_bearer_token_replaces_login_and_password():
    gateway = Gateway(lambda r: httpx.Response(200, json={"message": [[{"id_message": "9", "phone": "77010000001",
                                                                       "client_id_message": "5"}]]}))
    message = Message(phones=(Abonent("+7 701 000 00 01", 5),), order={"sms": 1}, text_sms="Hi")
    answers = client_for(gateway, login=None, password=None, token="tok-12345678").send([message])
    request = gateway.requests[0]
    assert request.url == "https://gw.example/sendmessagejson.php" and request.method == "POST"
    assert request.headers["authorization"] == "Bearer tok-12345678"
    assert request.headers["content-type"].startswith("application/json")
    body = json.loads(request.content)
    assert "login" not in body and body["message"][0]["phones"] == [{"phone": "77010000001", "client_id_message": "5"}]
    assert answers[0][0].id_message == "9"


def test_get_and_xml_go_to_their_own_addresses():
    seen = []

    def reply(request):
        seen.append((request.method, urlsplit(str(request.url)).path, request.headers.get("content-type", "")))
        if request.url.path.endswith("sendmessage.php"):
            params = dict(parse_qsl(request.url.query.decode()))
            return httpx.Response(200, text="deliver" if "id_message" in params else "101")
        if request.url.path.endswith("state_message.php"):
            return httpx.Response(200, text='<response><state id_message="101">deliver</state></response>')
        return httpx.Response(200, text='<response><message><information id_message="101" phone="77010000001">send'
                                        '</information></message></response>')

    message = Message(phones=(Abonent("77010000001", 5),), order={"sms": 1}, text_sms="Hi")
    for protocol in ("get", "xml"):
        client = client_for(reply, protocol=protocol)
        assert client.send([message])[0][0].id_message == "101"
        assert client.state(["101"])[0].state == "deliver"
    assert seen == [("GET", "/sendmessage.php", ""), ("GET", "/sendmessage.php", ""),
                    ("POST", "/xml/message.php", "text/xml; charset=utf-8"),
                    ("POST", "/xml/state_message.php", "text/xml; charset=utf-8")]


def test_transport_failures_say_whether_the_request_may_have_been_done_and_never_name_the_password():
    def fail(kind):
        def handler(request):
            if kind == "read":
                raise httpx.ReadTimeout("timed out", request=request)
            if kind == "connect":
                raise httpx.ConnectError(f"refused {request.url}", request=request)
            if kind == "500":
                return httpx.Response(503, text="busy")
            return httpx.Response(200, text="<html>proxy</html>")
        return handler

    message = Message(phones=(Abonent("77010000001", 5),), order={"sms": 1}, text_sms="Hi")
    outcomes = {}
    for kind in ("read", "connect", "500", "html"):
        with pytest.raises(TemporaryError) as caught:
            client_for(fail(kind), protocol="get").send([message])
        outcomes[kind] = caught.value.maybe_done
        assert PASSWORD not in str(caught.value)
    assert outcomes == {"read": True, "connect": False, "500": True, "html": True}


def test_an_identical_state_request_waits_out_the_minute_instead_of_earning_a_refusal():
    gateway = Gateway(lambda r: httpx.Response(200, json={"state": [{"id_message": "1", "state": "send"}]}))
    limiter = Limiter(MemoryBackend())
    client = client_for(gateway, limiter=limiter, repeat_seconds=60)
    assert client.state(["1"])[0].state == "send"
    with pytest.raises(codes.Repeated) as caught:
        client.state(["1"])
    assert 0 < caught.value.retry_after <= 60 and len(gateway.requests) == 1
    client.state(["1", "2"])  # another request: asked at once
    assert len(gateway.requests) == 2


def test_a_refusal_of_the_whole_request_is_raised_with_its_text():
    client = client_for(lambda r: httpx.Response(200, json={"error": "Неверный логин или пароль"}))
    with pytest.raises(AuthError, match="Неверный логин"):
        client.state(["1"])
    with pytest.raises(ValueError, match="CASCADE_LOGIN"):
        CascadeClient(httpx.Client(), api_url="https://gw.example")
    with pytest.raises(ValueError, match="CASCADE_API_URL"):
        CascadeClient(httpx.Client(), api_url="gw.example", token="t")


def test_a_get_error_text_refuses_its_phones_unless_it_concerns_the_request():
    reply = {"text": "Неверный формат номера телефона"}
    client = client_for(lambda r: httpx.Response(200, text=reply["text"]), protocol="get")
    message = Message(phones=(Abonent("77010000001", 5), Abonent("77010000002", 6)), order={"sms": 1}, text_sms="Hi")
    (answers,) = client.send([message])
    assert [(a.accepted, a.client_id, a.error) for a in answers] == [
        (False, "5", "Неверный формат номера телефона"), (False, "6", "Неверный формат номера телефона")]
    reply["text"] = "Недостаточно средств на балансе"
    with pytest.raises(codes.NoFunds):
        client.send([message])
