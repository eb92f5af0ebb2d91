"""Hostile and careless requests to a real `campaigns serve`: each gets a 4xx problem
with a clear detail, never a 500; nothing is written outside the spool folder and the
spool is left empty."""

from __future__ import annotations

import concurrent.futures
import os

import httpx
import pytest

from tests.serve import Server, auth, embedded_env, make_token

pytestmark = [pytest.mark.integration]

LIMIT = 400_000
GOOD = b"phone,name\n+7 701 111 22 33,Ann\n+7 701 111 22 34,Bob\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api-hostile")
    env = embedded_env(tmp, CAMPAIGNS_MAX_FILE_BYTES=str(LIMIT))
    token = make_token(env, "app", "submit")
    with Server(env, tmp) as srv:
        with httpx.Client(base_url=srv.url, headers=auth(token), timeout=60) as client:
            yield srv, client, tmp


def _problem(answer: httpx.Response, status: int) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["status"] == status and body["title"] and body["type"] and body["detail"]
    return body


def test_missing_empty_and_oversized_files(server):
    _, client, _ = server
    body = _problem(client.post("/v1/campaigns", data={"text": "hi"}, files={"other": ("x", b"1")}), 422)
    assert "file" in body["detail"]
    body = _problem(client.post("/v1/campaigns", data={"text": "hi"}, files={"file": ("e.csv", b"")}), 422)
    assert body["detail"] == "e.csv: the file is empty"
    big = b"phone\n" + b"+77011112233\n" * (LIMIT // 13 + 10)
    body = _problem(client.post("/v1/campaigns", data={"text": "hi"}, files={"file": ("big.csv", big)}), 413)
    assert f"{LIMIT:,}" in body["detail"]

    def chunked():  # no Content-Length: the limit is found while streaming
        boundary = b"xyzzy"
        yield b"--xyzzy\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nhi\r\n"
        yield b"--xyzzy\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n\r\n"
        for _ in range(80):
            yield b"+77011112233\n" * 1000
        yield b"\r\n--" + boundary + b"--\r\n"

    answer = client.post("/v1/campaigns", content=chunked(),
                         headers={"Content-Type": "multipart/form-data; boundary=xyzzy"})
    _problem(answer, 413)


def test_hostile_file_names_stay_labels(server):
    srv, client, tmp = server
    before = _tree(tmp)
    answer = client.post("/v1/campaigns", data={"text": "hi"}, files={"file": ("../../etc/passwd", GOOD)})
    assert answer.status_code == 201, answer.text
    assert answer.json()["name"] == "passwd"
    raw = (b"--b\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nhi\r\n"
           b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"..\\\\..\\\\x\x00y.csv\"\r\n\r\n"
           + GOOD + b"\r\n--b--\r\n")
    answer = client.post("/v1/campaigns", content=raw, headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert answer.status_code == 201, answer.text
    assert "\x00" not in answer.json()["name"] and "/" not in answer.json()["name"]
    assert answer.json()["name"] == "xy.csv"
    # nothing new outside the spool but the database's own files; the spool is empty
    new = _tree(tmp) - before
    assert all(p.startswith(("campaigns.db", "serve-", "data/spool", "sandbox")) for p in new), new
    assert not any(os.scandir(tmp / "data" / "spool"))
    assert not os.path.exists("/etc/passwd.csv")


def _tree(root) -> set[str]:
    found = set()
    for folder, dirs, files in os.walk(root):
        for name in files + dirs:
            found.add(os.path.relpath(os.path.join(folder, name), root))
    return found


def test_every_bad_field_is_listed_at_once(server):
    _, client, _ = server
    fields = {"text": "hi", "rate_limit": "abc", "mclass": "5", "validity": "x", "placeholders": "maybe",
              "country": "XX", "encoding": "nope", "excel_engine": "foo", "surprise": "1"}
    body = _problem(client.post("/v1/campaigns", data=fields, files={"file": ("a.csv", GOOD)}), 422)
    named = {e["field"] for e in body["errors"]}
    assert {"rate_limit", "mclass", "validity", "placeholders", "country", "encoding", "excel_engine",
            "surprise"} <= named
    body = _problem(client.post("/v1/campaigns", json={"text": 5, "rate_period": [1], "recipients": "x"}), 422)
    assert {"text", "rate_period", "recipients"} <= {e["field"] for e in body["errors"]}
    body = _problem(client.post("/v1/campaigns", json={"recipients": [{"recipient": "+77011112233"}]}), 422)
    assert "text" in {e["field"] for e in body["errors"]}
    body = _problem(client.post("/v1/campaigns", json={"text": "hi", "provider": "pigeon",
                                                       "recipients": [{"recipient": "+77011112233"}]}), 422)
    assert "pigeon" in body["detail"]
    body = _problem(client.post("/v1/campaigns", json={"text": "hi", "rate_limit": 10, "rate_period": 7,
                                                       "recipients": [{"recipient": "+77011112233"}]}), 422)
    assert "rate" in body["detail"]


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"5", b"null", b"{not json", b"\xff\xfe"])
def test_a_json_body_must_be_an_object(server, raw):
    _, client, _ = server
    _problem(client.post("/v1/campaigns", content=raw, headers={"Content-Type": "application/json"}), 422)


def test_other_media_types_and_broken_forms(server):
    _, client, _ = server
    _problem(client.post("/v1/campaigns", content=b"text=hi", headers={"Content-Type": "text/plain"}), 415)
    _problem(client.post("/v1/campaigns", content=b"--b\r\nnonsense", headers={"Content-Type": "multipart/form-data; boundary=b"}), 422)
    _problem(client.post("/v1/campaigns", content=b"x", headers={"Content-Type": "multipart/form-data"}), 422)
    _problem(client.get("/v1/campaigns", params={"limit": "many"}), 422)
    _problem(client.get("/v1/campaigns", params={"cursor": "'; drop table campaigns"}), 422)
    _problem(client.get("/v1/campaigns/abc"), 422)
    _problem(client.get("/v1/campaigns/1/report", params={"format": "exe"}), 422)
    _problem(client.get("/v1/campaigns/1/recipients", params={"status": "happy"}), 422)


def test_ten_thousand_bad_phones_are_refused_with_the_reason(server):
    _, client, _ = server
    body = {"text": "hi", "recipients": [{"recipient": f"12{i}"} for i in range(10_000)]}
    problem = _problem(client.post("/v1/campaigns", json=body), 422)
    assert problem["detail"].startswith("recipients.csv")
    assert "no valid recipients among 10000 rows" in problem["detail"] or "10,000" in problem["detail"]


def test_a_refused_file_names_the_file_row_and_reason_as_validate_does(server):
    _, client, _ = server
    bad = b"phone,name,name\n+77011112233,a,b\n"
    problem = _problem(client.post("/v1/campaigns", data={"text": "hi {name}"}, files={"file": ("dup.csv", bad)}), 422)
    assert problem["detail"].startswith("dup.csv, row 1: duplicate column header 'name'")


def test_a_reused_key_with_another_body_is_refused_and_concurrent_retries_make_one_campaign(server):
    _, client, _ = server
    first = client.post("/v1/campaigns", json={"text": "a", "recipients": [{"recipient": "+77011112299"}]},
                        headers={"Idempotency-Key": "order-1"})
    assert first.status_code == 201
    again = client.post("/v1/campaigns", json={"text": "a", "recipients": [{"recipient": "+77011112299"}]},
                        headers={"Idempotency-Key": "order-1"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    other = client.post("/v1/campaigns", json={"text": "b", "recipients": [{"recipient": "+77011112299"}]},
                        headers={"Idempotency-Key": "order-1"})
    _problem(other, 422)

    def post(i: int) -> tuple[int, int]:
        key = i % 4
        r = client.post("/v1/campaigns", json={"text": f"k{key}", "recipients": [{"recipient": f"+7701222{key:04d}"}]},
                        headers={"Idempotency-Key": f"burst-{key}"})
        assert r.status_code in (200, 201), r.text
        return key, r.json()["id"]

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(post, range(20)))
    assert len({cid for _, cid in results}) == 4
    assert all(len({cid for k, cid in results if k == key}) == 1 for key in range(4))
