"""The cascade gateway simulator over real HTTP (seed 001): ``sendmessagejson.php`` (JSON),
``sendmessage.php`` (GET, plain-text answers) and ``xml/message.php`` /
``xml/state_message.php`` (XML), around ``cascade_gateway.CascadeGateway``.

    gateway = CascadeGateway(CascadeConfig(login="shop", password="secret", no_viber=frozenset({"77010000001"})))
    with SimulatorServer(create_cascade_app(gateway)) as server:
        ...                                    # CASCADE_API_URL=server.base_url
        assert gateway.sent_to("77010000001") == 1

Every request first passes the once-a-minute rule ("identical requests at most once a
minute": the same body, query and credentials within ``repeat_seconds`` get the
document's error text). Faults (``campaigns.simulator.faults.FaultRule``, methods "send"
and "state"): ``http_error``, ``hang``, ``malformed``, ``drop`` before the work, ``lost``
after it (sent, the client sees a 502 or a dropped connection), ``code`` for an error text
of the gateway (``data``, default "temporarily unavailable"). ``/_sim/state`` and
``/_sim/faults`` steer it from other processes.
"""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from campaigns.simulator.cascade_gateway import AUTH, REPEATED, CascadeConfig, CascadeGateway
from campaigns.simulator.faults import FaultRule

_BAD_GATEWAY = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>"
_LATER = "Сервис временно недоступен, попробуйте позже"


class _Dropped(Response):
    """Starts an answer and closes the connection before the body is complete."""

    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"256")]})
        await send({"type": "http.response.body", "body": b'{"message": [', "more_body": True})


async def _wait(gateway: CascadeGateway, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not gateway.releasing.is_set() and loop.time() < deadline:
        await asyncio.sleep(0.01)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


# --- the three interfaces: (method, auth, call) from a request; the answer back -----------


def _error_json(text: str) -> Response:
    return JSONResponse({"error": text})


def _error_xml(text: str) -> Response:
    root = ET.Element("response")
    ET.SubElement(root, "error").text = text
    return _xml(root)


def _xml(root: ET.Element) -> Response:
    body = '<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root, encoding="unicode")
    return Response(body, media_type="text/xml; charset=utf-8")


async def _json_interface(request: Request, gateway: CascadeGateway, raw: bytes):
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return "send", None, lambda: _error_json("Неверный формат JSON документа"), _error_json
    if not isinstance(body, dict):
        return "send", None, lambda: _error_json("Неверный формат JSON документа"), _error_json
    auth = (body.get("login"), body.get("password"), _bearer(request))
    if "state" in body:
        ids = [str(item.get("id_message", "")) for item in body.get("state") or [] if isinstance(item, dict)]
        return "state", auth, lambda: JSONResponse({"state": gateway.states(ids)}), _error_json
    messages = [m for m in body.get("message") or [] if isinstance(m, dict)]
    return "send", auth, lambda: JSONResponse({"message": gateway.send(messages)}), _error_json


def _get_interface(request: Request, gateway: CascadeGateway):
    params = dict(request.query_params)
    auth = (params.get("login"), params.get("password"), _bearer(request))
    if "id_message" in params:
        return "state", auth, lambda: PlainTextResponse(gateway.states([params["id_message"]])[0]["state"]), \
            PlainTextResponse
    phones = [p for p in params.get("phone", "").split(",") if p.strip()]
    clients = params.get("client_id_message", "").split(",") if params.get("client_id_message") else []
    message: dict[str, Any] = {k: v for k, v in params.items() if k not in ("login", "password", "phone", "client_id_message")}
    message["phones"] = [
        {"phone": p, "client_id_message": clients[i] if i < len(clients) else ""} for i, p in enumerate(phones)
    ]

    def answer() -> Response:
        result = gateway.send([message])[0]
        if isinstance(result, dict):
            return PlainTextResponse(result["error"])
        refused = next((a["error"] for a in result if "error" in a and "id_message" not in a), None)
        if refused or not result:
            return PlainTextResponse(refused or "Не указан номер телефона")
        return PlainTextResponse(",".join(a["id_message"] for a in result))

    return "send", auth, answer, PlainTextResponse


def _xml_interface(request: Request, gateway: CascadeGateway, raw: bytes, script: str):
    try:
        root = ET.fromstring(raw)
    except ET.ParseError:
        return "send", None, lambda: _error_xml("Неверный формат XML документа"), _error_xml
    security = root.find("security")
    login = security.find("login").get("value") if security is not None and security.find("login") is not None else None
    password = security.find("password").get("value") if security is not None and security.find("password") is not None \
        else None
    auth = (login, password, _bearer(request))
    if script == "state":
        ids = [(e.text or "").strip() for e in root.findall("state/id_message")]

        def states() -> Response:
            out = ET.Element("response")
            for item in gateway.states(ids):
                attrs = {k: str(v) for k, v in item.items() if k != "state"}
                ET.SubElement(out, "state", attrs).text = item["state"]
            return _xml(out)

        return "state", auth, states, _error_xml
    messages = []
    for element in root.findall("message"):
        message: dict[str, Any] = {}
        for child in element:
            if child.tag == "abonent":
                message.setdefault("phones", []).append(dict(child.attrib))
            elif child.tag == "templateData":
                message["templateData"] = {c.tag: (c.text or "").replace("\\n", "\n") for c in child}
            else:
                message[child.tag] = (child.text or "").replace("\\n", "\n")
        messages.append(message)

    def send() -> Response:
        out = ET.Element("response")
        for result in gateway.send(messages):
            element = ET.SubElement(out, "message")
            if isinstance(result, dict):
                ET.SubElement(element, "error").text = result["error"]
                continue
            for entry in result:
                attrs = {k: str(v) for k, v in entry.items() if k not in ("error", "count_message")}
                ET.SubElement(element, "information", attrs).text = entry.get("error") or "send"
        return _xml(out)

    return "send", auth, send, _error_xml


def _fault_response(rule: FaultRule, error) -> Response:
    if rule.kind == "drop" or (rule.kind == "lost" and rule.drop):
        return _Dropped()
    if rule.kind in ("http_error", "lost"):
        return Response(_BAD_GATEWAY, status_code=rule.status, media_type="text/html")
    if rule.kind == "malformed":
        return Response(_BAD_GATEWAY if rule.body == "html" else '{"message": [[{"id_mess', status_code=200,
                        media_type="text/html")
    return error(str(rule.data or _LATER))


async def _endpoint(request: Request) -> Response:
    gateway: CascadeGateway = request.app.state.simulator
    path = request.url.path
    raw = await request.body()
    if path == "/sendmessagejson.php":
        method, auth, work, error = await _json_interface(request, gateway, raw)
    elif path == "/sendmessage.php":
        method, auth, work, error = _get_interface(request, gateway)
    else:
        method, auth, work, error = _xml_interface(request, gateway, raw, "state" if "state" in path else "send")
    gateway.calls[method] += 1
    if gateway.config.latency:
        await _wait(gateway, gateway.config.latency)
    rule = gateway.faults.pick(method)
    if rule is not None and not rule.after_work:
        if rule.kind != "hang":
            return _fault_response(rule, error)
        await _wait(gateway, rule.seconds)
    if auth is not None:
        if not gateway.authorized(*auth):
            return error(AUTH)
        fingerprint = f"{path}?{request.url.query}|{request.headers.get('authorization', '')}|".encode() + raw
        if gateway.repeated(fingerprint):
            return error(REPEATED)
    answer = work()
    if rule is not None and rule.after_work:
        if rule.kind != "hang":
            return _fault_response(rule, error)
        await _wait(gateway, rule.seconds)
    return answer


async def _sim_state(request: Request) -> Response:
    return JSONResponse(request.app.state.simulator.state())


async def _sim_faults(request: Request) -> Response:
    gateway: CascadeGateway = request.app.state.simulator
    if request.method == "DELETE":
        gateway.faults.clear()
    elif request.method == "POST":
        try:
            body = json.loads(await request.body() or b"{}")
            rules = body.get("rules", [body]) if isinstance(body, dict) else body
            gateway.faults.add(*[FaultRule.from_json(r) for r in rules])
        except (ValueError, TypeError, AttributeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse({"rules": gateway.faults.rules()})


def create_cascade_app(gateway: CascadeGateway | CascadeConfig | None = None) -> Starlette:
    """The ASGI app serving ``gateway`` in its three interfaces, with /_sim/state and
    /_sim/faults for tests in other processes. Serve it with SimulatorServer(app)."""
    sim = gateway if isinstance(gateway, CascadeGateway) else CascadeGateway(gateway)
    app = Starlette(routes=[
        Route("/sendmessagejson.php", _endpoint, methods=["POST"]),
        Route("/sendmessage.php", _endpoint, methods=["GET"]),
        Route("/xml/message.php", _endpoint, methods=["POST"]),
        Route("/xml/state_message.php", _endpoint, methods=["POST"]),
        Route("/_sim/health", lambda request: JSONResponse({"ok": True}), methods=["GET"]),
        Route("/_sim/state", _sim_state, methods=["GET"]),
        Route("/_sim/faults", _sim_faults, methods=["GET", "POST", "DELETE"]),
    ])
    app.state.simulator = sim
    return app
