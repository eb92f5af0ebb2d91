"""The simulator as an ASGI app (Starlette): Mobizon's ``/service/{module}/{method}`` and
the control routes under ``/_sim/`` that tests use to inspect and steer it.

A Mobizon request goes through, in order: method lookup (code 4/5), faults that act before
the work, the API key (code 8), the home domain (code 13), the per-method call rate (code
30), the method itself (in a worker thread, so AddRecipients' latency overlaps other
calls), then faults that act after the work (a lost response). Application answers are
always HTTP 200 with the envelope ``{"code", "data", "message"}``.

Control routes (not part of Mobizon):
  GET  /_sim/health                    {"ok": true}
  GET  /_sim/state                     clock, config, every campaign, tasks, calls per method, faults
  GET  /_sim/campaigns/{id}            one campaign with each phone's added/sent counts
  GET  /_sim/faults                    the active fault rules
  POST /_sim/faults                    {"rules": [...], "replace": false} or one rule
  DELETE /_sim/faults                  remove every rule
  POST /_sim/clock                     {"speed": 600, "advance": 3600}
  POST /_sim/config                    {"moderation": false, "stop_list": ["77011234567"], ...}
  POST /_sim/reset                     forget everything; {"config": {...}} applies changes to the start config
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from typing import Any, Iterable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from campaigns.simulator import inspection
from campaigns.simulator.clock import SimClock
from campaigns.simulator.config import SimConfig
from campaigns.simulator.faults import FaultPlan, FaultRule
from campaigns.simulator.forms import parse_php_form, parse_query
from campaigns.simulator.mobizon import MobizonSimulator, Reply
from campaigns.simulator.recipients import Upload
from campaigns.simulator.throttle import MethodThrottle

_QUERY_ONLY = ("output", "api", "apiKey")
_MODULES = ("campaign", "message", "taskqueue", "user")
_HTML_ERROR = (
    "<html>\r\n<head><title>{status} Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>{status} Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


class Simulator:
    """One simulator: the account, its fault plan, the per-method throttle and call counts."""

    def __init__(self, config: SimConfig | None = None, *, faults: Iterable[FaultRule] = ()) -> None:
        self.initial_config = config or SimConfig()
        self.account = MobizonSimulator(self.initial_config)
        self.faults = FaultPlan(faults, seed=self.initial_config.seed)
        self.throttle = MethodThrottle()
        self.calls: Counter[str] = Counter()
        self.releasing = threading.Event()  # set when the server stops: hanging calls answer at once

    @property
    def config(self) -> SimConfig:
        return self.account.config

    @property
    def clock(self) -> SimClock:
        return self.account.clock

    def configure(self, **changes: Any) -> SimConfig:
        """Change settings (see SimConfig); raises ValueError for a bad one."""
        config = self.config.updated(changes)
        self.account.configure(config)
        return config

    def reset(self, **changes: Any) -> None:
        """Back to an empty account with the starting configuration (plus ``changes``), and
        the clock back at the real time."""
        config = self.initial_config.updated(changes) if changes else self.initial_config
        self.account.reset(config, clock=SimClock(config.speed))
        self.faults.replace([], seed=config.seed)
        self.throttle.reset()
        self.calls.clear()

    def state(self) -> dict[str, Any]:
        data = inspection.summary(self.account)
        data["config"] = self.config.as_json()
        data["calls"] = dict(self.calls)
        data["faults"] = self.faults.rules()
        return data


def _envelope(reply: Reply) -> dict[str, Any]:
    return {"code": reply.code, "data": reply.data, "message": reply.message}


class _DroppedResponse(Response):
    """Starts an answer and closes the connection before the body is complete."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope, receive, send) -> None:
        await send({
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"512")],
        })
        await send({"type": "http.response.body", "body": b'{"code":0,"da', "more_body": True})
        # returning now leaves the response incomplete: the server closes the connection


def _fault_response(rule: FaultRule, envelope: dict[str, Any] | None) -> Response:
    if rule.kind == "drop" or (rule.kind == "lost" and rule.drop):
        return _DroppedResponse()
    if rule.kind in ("http_error", "lost"):
        return Response(_HTML_ERROR.format(status=rule.status), status_code=rule.status, media_type="text/html")
    if rule.kind == "malformed":
        if rule.body == "html":
            return Response(_HTML_ERROR.format(status=502), status_code=200, media_type="text/html")
        text = json.dumps(envelope or {"code": 0, "data": {"id": "1"}, "message": ""})
        return Response(text[: max(1, len(text) // 2)], status_code=200, media_type="application/json")
    if rule.kind == "code":
        return JSONResponse({"code": rule.code, "data": rule.data, "message": f"Simulated error {rule.code}"})
    raise AssertionError(f"no response for fault kind {rule.kind}")


async def _hang(sim: Simulator, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not sim.releasing.is_set() and loop.time() < deadline:
        await asyncio.sleep(min(0.05, max(0.0, deadline - loop.time())))


async def _read_params(request: Request) -> dict[str, Any]:
    pairs: list[tuple[str, Any]] = [(k, v) for k, v in request.query_params.multi_items() if k not in _QUERY_ONLY]
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        async with request.form(max_files=10, max_fields=100_000) as form:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    value = Upload(value.filename or "", await value.read())
                pairs.append((key, value))
    else:
        body = await request.body()
        if body:
            pairs.extend(parse_query(body.decode("utf-8", "replace")))
    return parse_php_form(pairs)


def _api_key(request: Request, params: dict[str, Any]) -> str | None:
    key = request.query_params.get("apiKey")
    if key is None and isinstance(params.get("apiKey"), str):
        key = params.pop("apiKey")
    return key


def _wrong_domain(request: Request, home: str | None) -> bool:
    if not home:
        return False
    host = request.headers.get("host", "").lower()
    home = home.lower()
    return host != home if ":" in home else host.rsplit(":", 1)[0] != home


async def service(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    module = request.path_params["module"].lower()
    method = request.path_params["method"].lower()
    name = f"{module}/{method}"
    if module not in _MODULES:
        return JSONResponse(_envelope(Reply(4, None, f"Unknown module {module}")))
    if name not in sim.account.methods:
        return JSONResponse(_envelope(Reply(5, None, f"Unknown method {method}")))
    sim.calls[name] += 1
    # the whole request is read first: a hang then holds a request the server has received
    try:
        params = await _read_params(request)
    except ClientDisconnect:
        return Response(status_code=400)
    rule = sim.faults.pick(name)
    if rule is not None and not rule.after_work:
        if rule.kind == "hang":
            await _hang(sim, rule.seconds)
        else:
            return _fault_response(rule, None)
    config = sim.config
    key = _api_key(request, params)
    output = request.query_params.get("output", "json").lower()
    if config.api_key is not None and key != config.api_key:
        reply = Reply(8, None, "Authorization failed: check your API key")
    elif output != "json":
        reply = Reply(6, None, f"The simulator answers in json, not {output}")
    elif _wrong_domain(request, config.home_domain):
        # code 13: "wrong API server for this user"; data names the right domain
        reply = Reply(13, config.home_domain, f"Use the API server {config.home_domain} for this account")
    elif not sim.throttle.allow(name, config.rate_limits):
        reply = Reply(30, None, "Too many calls of this method; slow down")
    else:
        reply = await run_in_threadpool(sim.account.call, name, params)
    envelope = _envelope(reply)
    if rule is not None and rule.after_work:
        if rule.kind == "hang":
            await _hang(sim, rule.seconds)
        else:
            return _fault_response(rule, envelope)
    return JSONResponse(envelope)


# -- control routes ---------------------------------------------------------------------


async def _json_body(request: Request) -> Any:
    body = await request.body()
    if not body.strip():
        return {}
    return json.loads(body)


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


async def sim_health(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def sim_state(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    return JSONResponse(await run_in_threadpool(sim.state))


async def sim_campaign(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    try:
        campaign_id = int(request.path_params["campaign_id"])
    except ValueError:
        return _bad("campaign ids are numbers")
    data = await run_in_threadpool(inspection.campaign_detail, sim.account, campaign_id)
    if data is None:
        return JSONResponse({"error": f"no campaign {campaign_id}"}, status_code=404)
    return JSONResponse(data)


async def sim_faults(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    if request.method == "DELETE":
        sim.faults.clear()
    elif request.method == "POST":
        try:
            body = await _json_body(request)
            replace = False
            if isinstance(body, dict) and "rules" in body:
                replace = bool(body.get("replace", False))
                body = body["rules"]
            rules = [FaultRule.from_json(r) for r in (body if isinstance(body, list) else [body])]
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
        if replace:
            sim.faults.replace(rules)
        else:
            sim.faults.add(*rules)
    return JSONResponse({"rules": sim.faults.rules()})


async def sim_clock(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    try:
        body = await _json_body(request)
        if "speed" in body:
            sim.configure(speed=float(body["speed"]))
        if "advance" in body:
            sim.clock.advance(float(body["advance"]))
    except (ValueError, TypeError, AttributeError) as exc:
        return _bad(str(exc))
    return JSONResponse({"now": sim.clock.now(), "speed": sim.clock.speed})


async def sim_config(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    try:
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise ValueError("send the settings to change as a JSON object")
        config = sim.configure(**body)
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))
    return JSONResponse(config.as_json())


async def sim_reset(request: Request) -> Response:
    sim: Simulator = request.app.state.simulator
    try:
        body = await _json_body(request)
        sim.reset(**(body.get("config") or {}))
    except (ValueError, TypeError, AttributeError) as exc:
        return _bad(str(exc))
    return JSONResponse({"ok": True})


def create_app(simulator: Simulator | SimConfig | None = None) -> Starlette:
    """The ASGI app serving ``simulator`` (a new one from a config, or the defaults)."""
    sim = simulator if isinstance(simulator, Simulator) else Simulator(simulator)
    app = Starlette(routes=[
        Route("/service/{module}/{method}", service, methods=["GET", "POST"]),
        Route("/_sim/health", sim_health, methods=["GET"]),
        Route("/_sim/state", sim_state, methods=["GET"]),
        Route("/_sim/campaigns/{campaign_id}", sim_campaign, methods=["GET"]),
        Route("/_sim/faults", sim_faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sim/clock", sim_clock, methods=["POST"]),
        Route("/_sim/config", sim_config, methods=["POST"]),
        Route("/_sim/reset", sim_reset, methods=["POST"]),
    ])
    app.state.simulator = sim
    return app
