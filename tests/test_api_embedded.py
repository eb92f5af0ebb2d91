"""The HTTP API end to end on the embedded default: a real `campaigns serve` process
(SQLite, no broker, the in-process sandbox), called over the network as another
application would."""

from __future__ import annotations

import csv
import io
import json

import httpx
import pytest
from openpyxl import load_workbook

from tests.cluster import run_cli
from tests.serve import Server, auth, embedded_env, make_token, wait_state

pytestmark = [pytest.mark.integration]

FINAL = {"done", "failed", "paused", "cancelled"}


def write_file(path, rows: int, *, invalid: int = 0) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("phone,name\n")
        for i in range(rows):
            fh.write(f"+7 701 {1000000 + i:07d},Name {i}\n")
        for i in range(invalid):
            fh.write(f"not a phone {i},Nobody\n")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api-embedded")
    env = embedded_env(tmp)
    tokens = {scope: make_token(env, f"app-{scope}", scope) for scope in ("read", "submit")}
    with Server(env, tmp) as srv:
        yield srv, env, tokens, tmp


@pytest.fixture
def client(server):
    srv, _, tokens, _ = server
    with httpx.Client(base_url=srv.url, headers=auth(tokens["submit"]), timeout=60) as c:
        yield c


def test_an_uploaded_file_becomes_a_done_campaign_with_a_ledger_and_a_report(server, client, tmp_path):
    # Given a template file of 1,200 valid rows and 3 that are no phone
    source = tmp_path / "customers.csv"
    write_file(source, 1200, invalid=3)
    # When it is uploaded
    with source.open("rb") as fh:
        answer = client.post("/v1/campaigns", files={"file": ("customers.csv", fh, "text/csv")},
                             data={"text": "Hello {name}", "country": "KZ"})
    # Then it is accepted, stored and queued, and goes to done with nothing else started
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert answer.headers["location"] == f"/v1/campaigns/{created['id']}"
    assert created["name"] == "customers.csv"
    assert created["recipients"]["rows"] == 1203 and created["recipients"]["valid"] == 1200
    assert created["chunks"]["total"] == 3
    done = wait_state(client, created["id"], FINAL)
    assert done["state"] == "done", done
    assert done["recipients"]["added"] == 1200
    assert done["provider_status"] == "DONE"
    # The ledger pages through every row in row order
    rows, cursor = [], None
    while True:
        page = client.get(f"/v1/campaigns/{created['id']}/recipients",
                          params={"limit": 500, **({"cursor": cursor} if cursor else {})}).json()
        rows += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [r["row"] for r in rows] == list(range(2, 1205))
    assert sum(r["verdict"] == "valid" for r in rows) == 1200
    assert all(r["final_status"] for r in rows if r["verdict"] == "valid")
    invalid = client.get(f"/v1/campaigns/{created['id']}/recipients", params={"status": "invalid"}).json()
    assert [r["phone_as_given"] for r in invalid["items"]] == [f"not a phone {i}" for i in range(3)]
    # The report downloads as CSV and XLSX, one row per source row
    report = client.get(f"/v1/campaigns/{created['id']}/report", params={"format": "csv"})
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert table[0][0] == "row" and len(table) == 1204
    xlsx = client.get(f"/v1/campaigns/{created['id']}/report", params={"format": "xlsx"})
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True).active
    assert sum(1 for _ in sheet.iter_rows()) == 1204


def test_json_recipients_become_a_campaign(client):
    body = {"text": "Hi {name}, code {code}", "name": "from the CRM",
            "recipients": [{"recipient": f"+7 702 {2000000 + i:07d}", "name": f"N{i}", "code": i} for i in range(30)]}
    answer = client.post("/v1/campaigns", json=body)
    assert answer.status_code == 201, answer.text
    status = wait_state(client, answer.json()["id"], FINAL)
    assert status["state"] == "done" and status["name"] == "from the CRM"
    assert status["recipients"]["added"] == 30


def test_dry_run_answers_what_validate_prints_and_stores_nothing(server, client, tmp_path):
    _, env, _, _ = server
    source = tmp_path / "list.csv"
    write_file(source, 40, invalid=2)
    before = client.get("/v1/campaigns", params={"limit": 500}).json()["items"]
    with source.open("rb") as fh:
        answer = client.post("/v1/campaigns", params={"dry_run": "true"}, files={"file": ("list.csv", fh)},
                             data={"text": "Hello {name}", "country": "KZ"})
    assert answer.status_code == 200, answer.text
    cli = run_cli(env, "validate", str(source), "--text", "Hello {name}", "--country", "KZ", "--json")
    assert answer.json() == json.loads(cli.stdout)
    assert client.get("/v1/campaigns", params={"limit": 500}).json()["items"] == before


def test_list_filters_by_state_and_pages_with_a_cursor(client):
    ids = []
    for i in range(3):
        answer = client.post("/v1/campaigns", json={"text": "x", "recipients": [{"recipient": f"+7705300{i:04d}"}]})
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    for campaign_id in ids:
        wait_state(client, campaign_id, FINAL)
    first = client.get("/v1/campaigns", params={"limit": 2, "state": "done"})
    assert first.status_code == 200, first.text
    first = first.json()
    assert [c["id"] for c in first["items"]] == sorted(ids, reverse=True)[:2]
    second = client.get("/v1/campaigns", params={"limit": 2, "state": "done", "cursor": first["next_cursor"]}).json()
    assert second["items"][0]["id"] == min(ids)
    assert all(c["state"] == "done" for c in first["items"] + second["items"])
    bad = client.get("/v1/campaigns", params={"state": "sleeping"})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


def test_unknown_campaigns_and_refused_moves_are_problems(client):
    missing = client.get("/v1/campaigns/999999")
    assert missing.status_code == 404 and missing.json()["detail"] == "no campaign with id 999999"
    answer = client.post("/v1/campaigns", json={"text": "x", "recipients": [{"recipient": "+77074000001"}]})
    campaign_id = answer.json()["id"]
    wait_state(client, campaign_id, FINAL)
    for action in ("cancel", "resume"):
        refused = client.post(f"/v1/campaigns/{campaign_id}/{action}")
        assert refused.status_code == 409, refused.text
        assert refused.json()["status"] == 409 and refused.json()["detail"]


def test_json_recipients_may_name_their_phone_column_as_a_file_would(client):
    body = {"text": "Hi {name}", "recipients": [{"phone": "+7 708 111 22 33", "name": "A"},
                                                {"phone": "+7 708 111 22 34", "name": "B"}]}
    answer = client.post("/v1/campaigns", params={"dry_run": "true"}, json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["valid"] == 2 and answer.json()["file"]["phone_column"] == "phone"
