"""The dashboard over HTTP against a real ``campaigns serve``: sign-in, sessions and API
tokens kept apart, roles, CSRF and origin checks on every form, the cookie's flags,
escaping, security headers, the static files shipped in the package."""

from __future__ import annotations

import os
import re
from contextlib import closing

import httpx
import pytest

from tests.browser import add_user
from tests.serve import Server, auth, embedded_env, make_token

pytestmark = pytest.mark.integration
PASSWORD = "a good long password"
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dashboard-web")
    env = embedded_env(tmp)
    for name, role in (("vic", "viewer"), ("otto", "operator"), ("ada", "admin"), ("tina", "viewer")):
        add_user(env, name, role, PASSWORD)
    server = Server(env, tmp)
    server.api_token = make_token(env, "web-admin", "admin")
    with server:
        yield server


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def signed_in(server, name: str) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30)
    form = client.get("/login")
    answer = client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": _csrf(form.text),
                                         "next": "/campaigns"})
    assert answer.status_code == 303 and answer.headers["location"] == "/campaigns", answer.text
    return client


def test_pages_need_a_session_and_an_api_token_is_not_one(server):
    with httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.get("/").headers["location"] == "/campaigns"
        for path in ("/campaigns", "/campaigns/new", "/admin", "/campaigns/1", "/campaigns/1/charts.json"):
            answer = anonymous.get(path)
            assert answer.status_code == 303 and answer.headers["location"].startswith("/login"), path
        with_token = anonymous.get("/campaigns", headers=auth(server.api_token))
        assert with_token.status_code == 303 and with_token.headers["location"].startswith("/login")
        assert anonymous.get("/login").status_code == 200


def test_a_session_is_not_an_api_token(server):
    with closing(signed_in(server, "ada")) as client:
        assert client.get("/campaigns").status_code == 200
        assert client.get("/v1/campaigns").status_code == 401
        cookie = client.cookies["campaigns_session"]
        assert httpx.get(f"{server.url}/v1/campaigns", headers=auth(cookie)).status_code == 401


def test_the_session_cookie_is_http_only_same_site_and_ends_at_sign_out(server):
    client = httpx.Client(base_url=server.url, timeout=30)
    form = client.get("/login")
    answer = client.post("/login", data={"name": "vic", "password": PASSWORD, "csrf_token": _csrf(form.text)})
    header = answer.headers["set-cookie"].lower()
    assert "campaigns_session=" in header and "httponly" in header and "samesite=lax" in header
    assert "secure" not in header  # plain http here; https or CAMPAIGNS_SECURE_COOKIES add it
    page = client.get("/campaigns")
    stolen = client.cookies["campaigns_session"]
    assert client.post("/logout", data={"csrf_token": _csrf(page.text)}).status_code == 303
    replay = httpx.get(f"{server.url}/campaigns", cookies={"campaigns_session": stolen})
    assert replay.status_code == 303  # the session ended on the server, not only in the browser
    client.close()


def test_behind_a_tls_proxy_the_cookie_is_secure(server):
    # uvicorn believes X-Forwarded-Proto from 127.0.0.1, where a TLS proxy would be
    with httpx.Client(base_url=server.url, headers={"X-Forwarded-Proto": "https"}) as client:
        form = client.get("/login")
        assert "; secure" in form.headers["set-cookie"].lower()
        token = _csrf(form.text)
        # (the client itself speaks http, so it would not send a Secure cookie back: given by hand)
        answer = client.post("/login", data={"name": "vic", "password": PASSWORD, "csrf_token": token},
                             headers={"Cookie": f"campaigns_csrf={token}"})
        assert answer.status_code == 303
        assert "; secure" in answer.headers["set-cookie"].lower()


def test_wrong_passwords_and_forged_sign_in_forms_are_refused(server):
    with httpx.Client(base_url=server.url) as client:
        form = client.get("/login")
        wrong = client.post("/login", data={"name": "vic", "password": "nope nope", "csrf_token": _csrf(form.text)})
        unknown = client.post("/login", data={"name": "nobody", "password": PASSWORD, "csrf_token": _csrf(form.text)})
        assert wrong.status_code == unknown.status_code == 401
        assert "Wrong name or password" in wrong.text and "Wrong name or password" in unknown.text
        no_token = client.post("/login", data={"name": "vic", "password": PASSWORD})
        assert no_token.status_code == 403 and "campaigns_session" not in client.cookies
        elsewhere = client.post("/login", data={"name": "vic", "password": PASSWORD, "csrf_token": _csrf(form.text)},
                                headers={"Origin": "http://evil.example"})
        assert elsewhere.status_code == 403
        # no open redirect after signing in
        fine = client.post("/login", data={"name": "vic", "password": PASSWORD, "csrf_token": _csrf(form.text),
                                           "next": "//evil.example/x"})
        assert fine.status_code == 303 and fine.headers["location"] == "/"


def test_repeated_wrong_passwords_lock_the_name_for_a_while(server):
    with httpx.Client(base_url=server.url) as client:
        token = _csrf(client.get("/login").text)
        answers = [client.post("/login", data={"name": "tina", "password": "guess number", "csrf_token": token})
                   for _ in range(5)]
        locked = client.post("/login", data={"name": "tina", "password": PASSWORD, "csrf_token": token})
        assert [a.status_code for a in answers] == [401] * 5
        assert locked.status_code == 429 and "Too many failed sign-ins" in locked.text
        assert "campaigns_session" not in client.cookies
        other = client.post("/login", data={"name": "vic", "password": PASSWORD, "csrf_token": token})
        assert other.status_code == 303


def test_roles_decide_what_each_user_may_do(server):
    with (closing(signed_in(server, "vic")) as viewer, closing(signed_in(server, "otto")) as operator,
          closing(signed_in(server, "ada")) as admin):
        csrf = _csrf(viewer.get("/campaigns").text)
        assert viewer.get("/campaigns/new").status_code == 403
        assert viewer.post("/campaigns/1/cancel", data={"csrf_token": csrf}).status_code == 403
        assert viewer.get("/admin").status_code == 403
        assert operator.get("/campaigns/new").status_code == 200
        assert operator.get("/admin").status_code == 403
        assert admin.get("/admin").status_code == 200
        assert "New campaign" not in viewer.get("/campaigns").text
        assert "Users and tokens" in admin.get("/campaigns").text


def test_every_form_needs_the_session_csrf_token_and_our_origin(server):
    with closing(signed_in(server, "ada")) as admin:
        csrf = _csrf(admin.get("/admin").text)
        without = admin.post("/admin/users", data={"name": "eve", "role": "admin", "password": "eve-password"})
        wrong = admin.post("/admin/users", data={"name": "eve", "role": "admin", "password": "eve-password",
                                                 "csrf_token": "x" * 43})
        cross = admin.post("/admin/users", data={"name": "eve", "role": "admin", "password": "eve-password",
                                                 "csrf_token": csrf}, headers={"Origin": "http://127.0.0.1:1"})
        upload = admin.post("/campaigns/new", data={"text": "hi"}, files={"file": ("a.csv", b"phone\n77011234567\n")})
        assert [r.status_code for r in (without, wrong, cross, upload)] == [403, 403, 403, 403]
        assert "eve" not in admin.get("/admin").text
        made = admin.post("/admin/users", data={"name": "eve", "role": "viewer", "password": "eve-password",
                                                "csrf_token": csrf})
        assert made.status_code == 303 and "eve" in admin.get("/admin").text


def test_an_admin_makes_a_token_shown_once_that_works_on_the_api(server):
    with closing(signed_in(server, "ada")) as admin:
        csrf = _csrf(admin.get("/admin").text)
        page = admin.post("/admin/tokens", data={"name": "from-dashboard", "scope": "read", "csrf_token": csrf})
        token = re.search(r'<pre id="new-token">([^<]+)</pre>', page.text).group(1)
        assert page.headers["cache-control"] == "no-store"
        assert httpx.get(f"{server.url}/v1/campaigns", headers=auth(token)).status_code == 200
        assert token not in admin.get("/admin").text
        admin.post("/admin/tokens/from-dashboard/revoke", data={"csrf_token": csrf})
        assert httpx.get(f"{server.url}/v1/campaigns", headers=auth(token)).status_code == 401


def test_names_and_cells_from_files_are_text_and_pages_forbid_inline_script(server):
    # Given a campaign named with HTML and a recipient cell holding HTML, submitted over the API
    body = f"phone\n77011234567\n{HOSTILE}\n".encode()
    made = httpx.post(f"{server.url}/v1/campaigns", headers=auth(server.api_token),
                      files={"file": ("x.csv", body)}, data={"text": "Hi", "name": HOSTILE}, timeout=60)
    assert made.status_code == 201, made.text
    campaign_id = made.json()["id"]
    with closing(signed_in(server, "vic")) as viewer:
        listing = viewer.get(f"/campaigns?q={HOSTILE}")
        page = viewer.get(f"/campaigns/{campaign_id}")
        rows = viewer.get(f"/campaigns/rows?q={HOSTILE}")
    # Then they show escaped, never as markup, and no inline script may run anyway
    for html in (listing.text, page.text, rows.text):
        assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_the_chart_library_is_served_from_the_package(server):
    chart = httpx.get(f"{server.url}/static/vendor/chartjs/chart.umd.min.js")
    assert chart.status_code == 200 and "Chart.js v4" in chart.text[:200]
    assert chart.headers["content-type"].startswith("text/javascript")
    assert httpx.get(f"{server.url}/static/vendor/chartjs/LICENSE.md").status_code == 200
    assert httpx.get(f"{server.url}/static/../app.py").status_code == 404
    assert httpx.get(f"{server.url}/static/%2e%2e/dashboard/auth.py").status_code == 404


def test_a_refused_file_shows_its_report_and_leaves_nothing_behind(server):
    with closing(signed_in(server, "otto")) as operator:
        csrf = _csrf(operator.get("/campaigns/new").text)
        spool = server.env["CAMPAIGNS_DATA_DIR"] + "/spool"
        before = set(os.listdir(spool)) if os.path.isdir(spool) else set()
        refused = operator.post("/campaigns/new", data={"csrf_token": csrf, "text": "Hi {name}"},
                                files={"file": ("bad.csv", b"name,name\nx,y\n")})
        empty = operator.post("/campaigns/new", data={"csrf_token": csrf, "text": "Hi"},
                              files={"file": ("none.csv", b"phone\nnope\n")})
        no_text = operator.post("/campaigns/new", data={"csrf_token": csrf, "text": " "},
                                files={"file": ("a.csv", b"phone\n77011234567\n")})
        after = set(os.listdir(spool))
    assert refused.status_code == 200 and "The file is refused" in refused.text and 'id="launch"' not in refused.text
    assert empty.status_code == 200 and 'id="launch"' not in empty.text
    assert "No valid recipient" in empty.text or "The file is refused" in empty.text
    assert no_text.status_code == 422 and "text" in no_text.text
    assert after == before
