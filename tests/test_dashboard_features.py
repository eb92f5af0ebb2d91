"""The dashboard's pages of the other features against a real ``campaigns serve``: a
schedule, a watched folder's drops, a reply and an opt-out as their services stored them,
all shown as text; and a run awaiting approval approved from its page, then sent."""

from __future__ import annotations

import re
from contextlib import closing
from datetime import datetime, timezone

import httpx
import pytest

from campaigns.store.engine import make_engine
from campaigns.store.uow import UnitOfWork
from tests.browser import add_user
from tests.pipeline_data import make_campaign
from tests.serve import Server, auth, embedded_env, make_token, wait_state

pytestmark = pytest.mark.integration
PASSWORD = "a good long password"
HOSTILE = "<b>bold</b>"


def _signed_in(url: str, name: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    assert client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token}).status_code == 303
    return client


def test_the_other_features_pages_and_approval(tmp_path):
    from campaigns.schedules.manage import ScheduleSpec, add_schedule
    from campaigns.services.suppression import add_suppression
    from campaigns.settings import Settings
    from campaigns.store.callbacks import CallbackEvent, InboundMessage

    # Given a watched folder with a file waiting, and a database holding a schedule, a reply,
    # an opt-out and a sandbox campaign awaiting approval (each stored by its own service)
    watched = tmp_path / "drop"
    watched.mkdir()
    (watched / "spring.csv").write_text("phone\n77011234567\n")
    env = embedded_env(tmp_path, CAMPAIGNS_WATCH=str(watched))
    for name, role in (("vic", "viewer"), ("otto", "operator")):
        add_user(env, name, role, PASSWORD)
    engine = make_engine(env["CAMPAIGNS_DATABASE_URL"])
    uow = lambda: UnitOfWork(engine)  # noqa: E731
    settings = Settings.from_env(env)
    add_schedule(ScheduleSpec(name=f"Weekly {HOSTILE}", cron="0 9 * * 1", tz="Asia/Almaty",
                              source=str(watched / "spring.csv"), text="Hi"), uow, settings,
                 now=datetime.now(timezone.utc))
    add_suppression(uow, "+7 701 765 43 21", reason="STOP reply")
    with uow() as u:
        event = CallbackEvent(provider="smsc", kind="inbound", event_key="e1", payload={}, outcome="applied")
        u.session.add(event)
        u.session.flush()
        u.session.add(InboundMessage(event_id=event.id, provider="smsc", phone="77017654321", text=f"STOP {HOSTILE}",
                                     opted_out=True))
        u.commit()
    waiting = make_campaign(uow, count=12, chunk_size=5, state="awaiting_approval", provider="sandbox",
                            name="Approve me", now=datetime.now(timezone.utc))
    engine.dispose()

    with Server(env, tmp_path) as server, closing(_signed_in(server.url, "vic")) as viewer, \
            closing(_signed_in(server.url, "otto")) as operator:
        # When each page is read
        pages = {path: viewer.get(path) for path in ("/schedules", "/bucket", "/inbound", "/opt-outs")}
        menu = viewer.get("/campaigns").text
        # Then each shows what its feature stored, as text
        assert all(r.status_code == 200 for r in pages.values())
        assert "Weekly &lt;b&gt;bold&lt;/b&gt;" in pages["/schedules"].text and "0 9 * * 1" in pages["/schedules"].text
        assert "spring.csv" in pages["/bucket"].text
        assert "STOP &lt;b&gt;bold&lt;/b&gt;" in pages["/inbound"].text and "77017654321" in pages["/inbound"].text
        assert "77017654321" in pages["/opt-outs"].text and "STOP reply" in pages["/opt-outs"].text
        for path in pages:
            assert f'href="{path}"' in menu

        # When the viewer, then the operator, approve the waiting run
        page = viewer.get(f"/campaigns/{waiting}")
        assert 'id="approve"' not in page.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        assert viewer.post(f"/campaigns/{waiting}/approve", data={"csrf_token": csrf}).status_code == 403
        page = operator.get(f"/campaigns/{waiting}")
        assert 'id="approve"' in page.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        approved = operator.post(f"/campaigns/{waiting}/approve", data={"csrf_token": csrf})
        again = operator.post(f"/campaigns/{waiting}/approve", data={"csrf_token": csrf})

        # Then it is sent to the end; approving twice is refused with the reason
        assert approved.status_code == 303
        assert again.status_code == 409 and "only a campaign awaiting approval" in again.text
        token = make_token(env, "features-read", "read")
        with httpx.Client(base_url=server.url, headers=auth(token), timeout=30) as api:
            assert wait_state(api, waiting, {"done"})["recipients"]["added"] == 12
