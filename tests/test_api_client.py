"""campaigns.client.CampaignsClient: unit tests of its retry rules against an
httpx.MockTransport playing the server, then end to end against a real `campaigns serve`
process (embedded mode) over real HTTP, with a lossy TCP proxy for the retry path."""

from __future__ import annotations

import csv
import io
import json
import socket
import sqlite3
import threading

import httpx
import pytest
from openpyxl import load_workbook

from campaigns.client import (AuthError, CampaignsClient, CampaignsError, NotFound, Refused, Retries,
                              Unavailable)
from tests.serve import Server, embedded_env, make_token

TOKEN = "cmp_1_" + "s" * 43
FAST = Retries(attempts=4, backoff=0.0)
STATUS = {"id": 7, "name": "x", "state": "queued"}


def problem(status: int, detail: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"type": "t", "title": "t", "status": status, "detail": detail},
                          headers={"content-type": "application/problem+json", **headers})


class Script(httpx.BaseTransport):
    """A server that answers from a list (a Response, or an exception to raise) and
    records each request with the body it received. A transport of its own rather than
    an httpx.MockTransport, which reads every body before its handler runs: a connection
    that is never made reads nothing."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.bodies: list[bytes] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, httpx.ConnectError):  # no connection: nothing of the body is read
            self.bodies.append(b"")
            raise answer
        self.bodies.append(request.read())
        if isinstance(answer, Exception):
            raise answer
        return answer


def client_for(script: Script, sleeps: list | None = None, retries: Retries = FAST) -> CampaignsClient:
    return CampaignsClient("http://api.test", TOKEN, retries=retries, transport=script,
                           sleep=(sleeps.append if sleeps is not None else lambda _: None))


# -- unit: the retry rules -------------------------------------------------------------


def test_submit_retries_transient_failures_with_one_generated_key_and_the_whole_file_each_time(tmp_path):
    source = tmp_path / "list.csv"
    source.write_bytes(b"phone\n+77011234567\n")
    sleeps: list[float] = []
    script = Script(httpx.ReadTimeout("slow"), problem(503, "down"),
                    problem(409, "the first request with this key is still running", **{"Retry-After": "2"}),
                    problem(429, "slow down"), )
    script.answers.append(httpx.Response(200, json=STATUS))
    with client_for(script, sleeps, Retries(attempts=5, backoff=0.0)) as api:
        assert api.submit(source, text="hi") == STATUS
    keys = {r.headers["Idempotency-Key"] for r in script.requests}
    assert len(script.requests) == 5 and len(keys) == 1
    assert all(b"+77011234567" in body for body in script.bodies)
    assert sleeps[2] == 2.0  # the 409's Retry-After


def test_a_file_object_is_sent_from_where_it_stood_on_every_attempt():
    fh = io.BytesIO(b"skipped|phone\n+77011234567\n")
    fh.seek(8)
    script = Script(problem(502, "bad gateway"), httpx.Response(201, json=STATUS))
    with client_for(script) as api:
        api.submit(fh, text="hi")
    assert [b.count(b"phone\n+77011234567") for b in script.bodies] == [1, 1]
    assert all(b"skipped" not in b for b in script.bodies)


class Pipe(io.RawIOBase):
    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size=-1):
        return self._data.read(size)


def test_a_file_that_cannot_seek_is_not_retried_after_its_bytes_were_sent():
    script = Script(problem(503, "down"), httpx.Response(201, json=STATUS))
    with client_for(script) as api, pytest.raises(CampaignsError) as err:
        api.submit(Pipe(b"phone\n+77011234567\n"), text="hi")
    assert err.value.status == 503 and len(script.requests) == 1


def test_a_file_that_cannot_seek_is_retried_when_nothing_was_sent():
    script = Script(httpx.ConnectError("refused"), httpx.Response(201, json=STATUS))
    with client_for(script) as api:
        assert api.submit(Pipe(b"phone\n+77011234567\n"), text="hi") == STATUS
    assert len(script.requests) == 2 and b"+77011234567" in script.bodies[1]


def test_cancel_retries_a_connection_never_made_but_not_a_lost_answer():
    script = Script(httpx.ConnectError("refused"), httpx.Response(200, json=STATUS))
    with client_for(script) as api:
        assert api.cancel(7) == STATUS
    lost = Script(httpx.ReadTimeout("slow"), httpx.Response(200, json=STATUS))
    with client_for(lost) as api, pytest.raises(Unavailable) as err:
        api.resume(7)
    assert len(lost.requests) == 1 and err.value.status is None
    busy = Script(problem(503, "down"), httpx.Response(200, json=STATUS))
    with client_for(busy) as api, pytest.raises(CampaignsError):
        api.cancel(7)
    assert len(busy.requests) == 1


def test_gets_give_up_after_the_attempts_and_errors_map_to_their_classes():
    script = Script(*[problem(504, "timeout")] * 4)
    with client_for(script) as api, pytest.raises(CampaignsError) as err:
        api.get(1)
    assert len(script.requests) == 4 and err.value.status == 504
    for status, kind in ((401, AuthError), (403, AuthError), (404, NotFound), (422, Refused), (409, CampaignsError)):
        one = Script(problem(status, f"no {TOKEN}"))
        with client_for(one) as api, pytest.raises(kind) as err:
            api.get(1)
        assert len(one.requests) == 1  # not transient: no retry
        assert TOKEN not in str(err.value) and TOKEN not in json.dumps(err.value.problem)


def test_backoff_grows_and_is_capped():
    policy = Retries(attempts=10, backoff=0.5, max_delay=4.0)
    assert [0.25 <= policy.delay(1) <= 0.5, 2.0 <= policy.delay(4) <= 4.0, 2.0 <= policy.delay(9) <= 4.0] == [True] * 3
    assert policy.delay(1, retry_after=100) == 4.0 and policy.delay(3, retry_after=1) == 1.0


# -- end to end: a real server ---------------------------------------------------------


def write_file(path, rows: int, *, first: int = 1000000) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("phone,name\n")
        for i in range(rows):
            fh.write(f"+7 701 {first + i:07d},Name {i}\n")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api-client")
    env = embedded_env(tmp)
    tokens = {scope: make_token(env, f"client-{scope}", scope) for scope in ("read", "submit")}
    with Server(env, tmp) as srv:
        yield srv, tokens, tmp


@pytest.fixture
def api(server):
    srv, tokens, _ = server
    with CampaignsClient(srv.url, tokens["submit"], retries=Retries(attempts=3, backoff=0.1)) as client:
        yield client


@pytest.mark.integration
def test_a_file_goes_to_done_with_its_ledger_and_reports(api, tmp_path):
    # Given a template file of 1,100 rows, given as a path
    source = tmp_path / "customers.csv"
    write_file(source, 1100)
    # When it is submitted and waited for
    created = api.submit(source, text="Hello {name}", country="KZ")
    assert created["name"] == "customers.csv" and created["recipients"]["valid"] == 1100
    done = api.wait(created["id"], timeout=90, every=0.2)
    # Then it is done, its ledger pages through every row, and both reports download
    assert done["state"] == "done" and done["recipients"]["added"] == 1100
    rows = list(api.recipients(created["id"], page_size=300))
    assert [r["row"] for r in rows] == list(range(2, 1102))
    assert list(api.recipients(created["id"], status="invalid")) == []
    report_csv = api.report(created["id"], tmp_path / "report.csv")
    table = list(csv.reader(io.StringIO(report_csv.read_text(encoding="utf-8-sig"))))
    assert table[0][0] == "row" and len(table) == 1101
    report_xlsx = api.report(created["id"], tmp_path / "report.xlsx")
    assert sum(1 for _ in load_workbook(report_xlsx, read_only=True).active.iter_rows()) == 1101
    assert sorted(p.name for p in tmp_path.iterdir()) == ["customers.csv", "report.csv", "report.xlsx"]


@pytest.mark.integration
def test_json_recipients_and_an_open_file_and_listing(api, tmp_path):
    made = api.submit(recipients=[{"recipient": f"+7 702 {3000000 + i:07d}", "name": f"N{i}"} for i in range(25)],
                      text="Hi {name}", name="from the CRM")
    source = tmp_path / "open.csv"
    write_file(source, 10, first=4000000)
    with source.open("rb") as fh:
        from_fh = api.submit(fh, text="Hi {name}")
    assert from_fh["name"] == "open.csv" and from_fh["recipients"]["valid"] == 10
    assert api.wait(made["id"], timeout=90, every=0.2)["recipients"]["added"] == 25
    api.wait(from_fh["id"], timeout=90, every=0.2)
    # the listing follows its cursors across pages of 1, newest first
    listed = [c["id"] for c in api.list(page_size=1)]
    assert listed == sorted(listed, reverse=True) and {made["id"], from_fh["id"]} <= set(listed)
    assert [c["id"] for c in api.list(limit=2, page_size=1)] == listed[:2]
    assert all(c["state"] == "done" for c in api.list(state="done"))
    assert api.get(made["id"])["name"] == "from the CRM"


@pytest.mark.integration
def test_errors_of_a_real_server(server, api, tmp_path):
    srv, tokens, _ = server
    with CampaignsClient(srv.url, "cmp_999_" + "x" * 43) as bad, pytest.raises(AuthError) as err:
        bad.get(1)
    assert err.value.status == 401 and "cmp_999" not in str(err.value)
    with CampaignsClient(srv.url, tokens["read"]) as reader, pytest.raises(AuthError) as err:
        reader.submit(recipients=[{"recipient": "+77010000001"}], text="x")
    assert err.value.status == 403
    with pytest.raises(NotFound):
        api.get(999_999)
    with pytest.raises(NotFound):
        list(api.recipients(999_999))
    with pytest.raises(NotFound):
        api.report(999_999, tmp_path / "none.csv")
    assert not (tmp_path / "none.csv").exists() and list(tmp_path.iterdir()) == []
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 this is no workbook" * 10)
    with pytest.raises(Refused) as err:
        api.submit(broken, text="hi")
    assert err.value.status == 422 and err.value.detail.startswith("broken.xlsx")
    assert "XLSX" in err.value.detail and err.value.problem["errors"][0]["field"] == "file"
    with pytest.raises(Refused) as err:
        api.submit(recipients=[{"recipient": "+77010000001"}], text="x", placeholders="sometimes")
    assert err.value.problem["errors"][0]["field"] == "placeholders"
    with pytest.raises(Unavailable):
        with CampaignsClient("http://127.0.0.1:9", tokens["read"], retries=Retries(attempts=2, backoff=0)) as gone:
            gone.get(1)


class LossyProxy:
    """A TCP proxy in front of the server that forwards the first ``POST /v1/campaigns``
    whole, waits for the server's answer, and then drops the connection instead of
    passing the answer on; every other connection is forwarded both ways. Keeps each
    connection's first bytes (the request head)."""

    def __init__(self, upstream_port: int):
        self.upstream = ("127.0.0.1", upstream_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.heads: list[bytes] = []
        self.dropped = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        up = socket.create_connection(self.upstream)
        first = conn.recv(65536)
        self.heads.append(first)
        drop = first.startswith(b"POST /v1/campaigns") and self.dropped == 0
        if drop:
            self.dropped += 1
        up.sendall(first)
        threading.Thread(target=self._pump, args=(conn, up), daemon=True).start()
        try:
            if drop:
                up.recv(65536)  # the server's answer: the work is done; lose it
                return
            self._pump(up, conn)
        finally:
            for s in (conn, up):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()


@pytest.mark.integration
def test_a_lost_answer_is_retried_with_the_same_key_and_makes_one_campaign(server, tmp_path):
    srv, tokens, tmp = server
    source = tmp_path / "once.csv"
    write_file(source, 50, first=5000000)
    proxy = LossyProxy(srv.port)
    try:
        with CampaignsClient(srv.url, tokens["submit"]) as direct:
            before = {c["id"] for c in direct.list()}
            # Given a proxy that loses the answer of the first submit after the server made the campaign
            with CampaignsClient(proxy.url, tokens["submit"], retries=Retries(attempts=3, backoff=0.1)) as api:
                # When the client submits without a key of its own
                created = api.submit(source, text="Hello {name}", name="sent once")
            # Then it retried with the key it generated and got the first campaign back
            assert proxy.dropped == 1
            posts = [h for h in proxy.heads if h.startswith(b"POST /v1/campaigns")]
            keys = {line.split(b":", 1)[1].strip().decode() for h in posts for line in h.split(b"\r\n")
                    if line.lower().startswith(b"idempotency-key:")}
            assert len(posts) == 2 and len(keys) == 1
            after = [c for c in direct.list() if c["id"] not in before]
            assert [c["id"] for c in after] == [created["id"]] and after[0]["name"] == "sent once"
    finally:
        proxy.close()
    with sqlite3.connect(tmp / "campaigns.db") as db:
        rows = db.execute("SELECT campaign_id FROM idempotency_keys WHERE key = ?", (keys.pop(),)).fetchall()
    assert rows == [(created["id"],)]
