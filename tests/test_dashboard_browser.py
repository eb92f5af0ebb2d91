"""The dashboard in real headless Chromium against a real ``campaigns serve`` (embedded
mode, the in-process sandbox): sign in, upload, preview, launch, watch the campaign reach
``done`` without reloading, the charts drawn, the report downloaded; a viewer has no
upload page; a form posted from another site is refused; hostile names show as text.
Screenshots are saved in the test's temporary folder."""

from __future__ import annotations

import csv
import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.browser import add_user, canvas_painted, launch, require_browser, sign_in
from tests.serve import Server, auth, embedded_env, make_token

pytestmark = pytest.mark.integration
HOSTILE = "<script>alert(1)</script>"
HOSTILE_CELL = "<img src=x onerror=alert(2)>"
PASSWORD = "a good long password"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_browser()
    tmp = tmp_path_factory.mktemp("dashboard")
    env = embedded_env(tmp)
    for name, role in (("olga", "operator"), ("vera", "viewer"), ("adam", "admin")):
        add_user(env, name, role, PASSWORD)
    with Server(env, tmp) as running:
        yield running


@pytest.fixture(scope="module")
def api_token(server):
    return make_token(server.env, "browser-tests", "submit")


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


def _recipients(path, n: int = 30) -> None:
    rows = [["phone", "name"]] + [[f"+7 701 {100_0000 + i:07d}", f"Client {i}"] for i in range(n)]
    rows[3][1] = HOSTILE  # a cell holding HTML
    rows.append(["not a phone", "Nobody"])
    rows.append([HOSTILE_CELL, "Nobody"])  # a phone cell holding HTML: invalid, shown as given
    rows.append([rows[1][0], "Again"])  # a duplicate
    with open(path, "w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(rows)


def test_upload_preview_launch_watch_done_charts_and_report(server, browser, tmp_path):
    from playwright.sync_api import expect

    # Given an operator signed in, and a file with 30 phones, two bad ones and a duplicate
    path = tmp_path / "spring sale.csv"
    _recipients(path)
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    problems: list[str] = []  # script errors and console errors (a CSP violation is one)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    sign_in(page, server.url, "olga", PASSWORD)

    # When the file is uploaded with a text and a hostile campaign name
    page.click("text=New campaign")
    page.set_input_files("input[name=file]", str(path))
    page.fill("textarea[name=text]", "Hello {name},\nspring sale!")  # two lines, kept to the end
    page.fill("input[name=name]", HOSTILE)
    page.click("#check-file")

    # Then the validation report shows before anything is stored
    page.wait_for_selector("#report")
    assert page.inner_text("#report-rows") == "33" and page.inner_text("#report-valid") == "30"
    assert "not a number" in page.inner_text("#report") and HOSTILE_CELL in page.inner_text("#report")
    page.screenshot(path=str(tmp_path / "1-preview.png"), full_page=True)

    # When it is launched, the campaign page follows it to done by itself
    page.click("#launch")
    page.wait_for_url(f"{server.url}/campaigns/*")
    assert page.inner_text("#campaign-name") == HOSTILE
    # (locators, not wait_for_function: the page's Content-Security-Policy forbids eval)
    expect(page.locator("#campaign-state")).to_have_text("done", timeout=120_000)
    expect(page.locator("#funnel-chart")).to_have_attribute("data-drawn", "1")
    expect(page.locator("td[data-step='delivered']")).not_to_have_text("0", timeout=60_000)
    delivered = page.inner_text("td[data-step='delivered']")
    expect(page.locator("#funnel-chart")).to_have_attribute("data-delivered", delivered.replace(",", ""))
    expect(page.locator("#series-chart")).to_have_attribute("data-drawn", "1")
    expect(page.locator("#ledger")).to_have_attribute("data-final", "1")
    page.screenshot(path=str(tmp_path / "2-campaign-done.png"), full_page=True)

    # Then the funnel is drawn (painted pixels), the counts add up, nothing ran
    assert canvas_painted(page, "#funnel-chart") > 500 and canvas_painted(page, "#series-chart") > 500
    assert page.inner_text("td[data-step='valid']") == "30"
    assert page.inner_text("td[data-step='added at the provider']") == "30"
    assert page.inner_text("td[data-step='invalid']") == "2" and page.inner_text("td[data-step='duplicates']") == "1"
    assert dialogs == []
    assert HOSTILE_CELL in page.inner_text("#recipients")  # the cell shows as text
    assert page.inner_text(".message-text") == "Hello {name},\nspring sale!"
    assert "DELIVRD" in page.inner_text("#recipients")  # read again once the campaign ended

    # When the report is downloaded
    with page.expect_download() as download:
        page.click("text=Report (CSV)")
    saved = tmp_path / "report.csv"
    assert download.value.failure() is None, download.value.failure()
    download.value.save_as(saved)
    rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert len(rows) == 34  # a header, one row per source row

    # And the list shows the campaign done, its name as text
    page.goto(f"{server.url}/campaigns")
    assert HOSTILE in page.inner_text("#campaign-rows") and "done" in page.inner_text("#campaign-rows")
    page.screenshot(path=str(tmp_path / "3-list.png"), full_page=True)
    assert dialogs == [] and problems == []
    context.close()


def test_a_viewer_reads_but_cannot_upload(server, browser, tmp_path):
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, server.url, "vera", PASSWORD)

    assert page.locator("nav >> text=New campaign").count() == 0
    response = page.goto(f"{server.url}/campaigns/new")

    assert response.status == 403
    assert "operator role" in page.inner_text("main")
    page.screenshot(path=str(tmp_path / "viewer-refused.png"))
    context.close()


class _Evil(BaseHTTPRequestHandler):
    target = ""

    def do_GET(self):  # noqa: N802 - http.server's name
        body = (f"<form id=f method=post action='{self.target}/admin/users'>"
                "<input name=name value=mallory><input name=role value=admin>"
                "<input name=password value=mallory-password><input name=csrf_token value=guess></form>"
                "<script>document.getElementById('f').submit()</script>").encode()
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_form_posted_from_another_site_is_refused(server, browser, tmp_path):
    # Given an admin signed in, and a page of another origin that posts a form to the dashboard
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, server.url, "adam", PASSWORD)
    handler = type("Evil", (_Evil,), {"target": server.url})
    evil = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        # When the admin opens that page (the session cookie goes along: same site, other port)
        with page.expect_response(f"{server.url}/admin/users") as answer:
            page.goto(f"http://127.0.0.1:{evil.server_address[1]}/")
        # Then the dashboard refuses it and no user was added
        assert answer.value.status == 403
        page.wait_for_load_state()
        assert "another site" in page.inner_text("main")
        page.screenshot(path=str(tmp_path / "cross-site-refused.png"))
        page.goto(f"{server.url}/admin")
        assert "mallory" not in page.inner_text("main")
        page.screenshot(path=str(tmp_path / "admin.png"), full_page=True)
    finally:
        evil.shutdown()
        evil.server_close()
        context.close()


def test_the_list_follows_a_running_campaign_to_done_without_reloading(server, browser, api_token, tmp_path):
    import httpx
    from playwright.sync_api import expect

    # Given a campaign that stays running a few seconds: 60 recipients at one a minute on the
    # sandbox's 600x clock
    phones = "".join(f"7701123{i:04d}\n" for i in range(60))
    made = httpx.post(f"{server.url}/v1/campaigns", headers=auth(api_token), timeout=60, data={
        "text": "Slowly", "name": "Paced one", "rate_limit": "1", "rate_period": "60"},
        files={"file": ("slow.csv", f"phone\n{phones}".encode())})
    assert made.status_code == 201, made.text
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, server.url, "vera", PASSWORD)
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)

    # When the list is open while it runs
    row = page.locator("#campaign-rows tr", has_text="Paced one")
    assert row.locator(".badge").inner_text() != "done"
    page.screenshot(path=str(tmp_path / "list-running.png"), full_page=True)

    # Then its row turns done by itself, the page never reloaded
    expect(row.locator(".badge")).to_have_text("done", timeout=90_000)
    assert navigations == []
    page.screenshot(path=str(tmp_path / "list-done.png"), full_page=True)
    context.close()
