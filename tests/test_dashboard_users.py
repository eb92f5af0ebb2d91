"""Dashboard users and sessions (campaigns.services.users) on SQLite and PostgreSQL, and
the ``campaigns user`` commands."""

from __future__ import annotations

import subprocess
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from campaigns.services.users import (
    UserError, UserNotFound, add_user, list_users, remove_user, session_user, set_password, set_role, sign_in,
    sign_out,
)
from campaigns.store.users import DashboardSession, DashboardUser
from tests.cluster import CAMPAIGNS
from tests.serve import embedded_env


def run_cli(env: dict[str, str], *args: str, input: str = "") -> subprocess.CompletedProcess:
    """``campaigns ARGS`` with ``input`` on stdin (the passwords)."""
    return subprocess.run([CAMPAIGNS, *args], env=env, input=input, capture_output=True, text=True, timeout=120)


def _name() -> str:
    return f"u{uuid.uuid4().hex[:10]}"


def test_a_user_signs_in_and_out_and_only_the_hash_is_stored(uow_factory):
    name = _name()
    add_user(name, "operator", "correct horse", uow_factory)

    assert sign_in(name, "wrong horse", uow_factory) is None
    assert sign_in(_name(), "correct horse", uow_factory) is None
    cookie, who = sign_in(name, "correct horse", uow_factory)

    assert (who.name, who.role) == (name, "operator")
    assert session_user(cookie, uow_factory) == who
    with uow_factory() as uow:
        stored_password = uow.session.scalar(select(DashboardUser.password_hash).where(DashboardUser.name == name))
        stored = uow.session.scalar(select(DashboardSession.secret_hash).where(DashboardSession.id == who.session_id))
    assert stored_password.startswith("$argon2id$") and "correct horse" not in stored_password
    assert cookie.split(".", 1)[1] not in stored
    sign_out(who.session_id, uow_factory)
    assert session_user(cookie, uow_factory) is None


def test_forged_expired_and_token_shaped_cookies_open_no_session(uow_factory):
    name = _name()
    add_user(name, "viewer", "a long password", uow_factory)
    cookie, who = sign_in(name, "a long password", uow_factory)
    session_id, secret = cookie.split(".", 1)

    assert session_user(f"{session_id}.{secret[:-2]}xx", uow_factory) is None
    assert session_user(f"{int(session_id) + 1000}.{secret}", uow_factory) is None
    assert session_user(f"cmp_{session_id}_{secret}", uow_factory) is None  # an API token's shape
    assert session_user("", uow_factory) is None and session_user(None, uow_factory) is None
    with uow_factory() as uow:
        uow.session.execute(update(DashboardSession).where(DashboardSession.id == who.session_id)
                            .values(expires_at=datetime.now(timezone.utc) - timedelta(minutes=1)))
        uow.commit()
    assert session_user(cookie, uow_factory) is None


def test_removing_a_user_or_changing_its_password_ends_its_sessions(uow_factory):
    name = _name()
    add_user(name, "admin", "first password", uow_factory)
    cookie, _ = sign_in(name, "first password", uow_factory)

    set_password(name, "second password", uow_factory)
    assert session_user(cookie, uow_factory) is None
    assert sign_in(name, "first password", uow_factory) is None
    cookie, _ = sign_in(name, "second password", uow_factory)
    assert set_role(name, "viewer", uow_factory)["role"] == "viewer"
    assert session_user(cookie, uow_factory).role == "viewer"

    remove_user(name, uow_factory)
    assert session_user(cookie, uow_factory) is None
    assert name not in [u["name"] for u in list_users(uow_factory)]
    with pytest.raises(UserNotFound):
        remove_user(name, uow_factory)


def test_bad_names_roles_passwords_and_taken_names_are_refused(uow_factory):
    name = _name()
    add_user(name, "viewer", "password one", uow_factory)
    for bad in [("", "viewer", "password one"), ("../x", "viewer", "password one"), (_name(), "boss", "password one"),
                (_name(), "viewer", "short"), (name, "viewer", "password two")]:
        with pytest.raises(UserError):
            add_user(*bad, uow_factory)


def test_roles_are_ordered(uow_factory):
    name = _name()
    add_user(name, "operator", "password one", uow_factory)
    _, who = sign_in(name, "password one", uow_factory)
    assert who.allows("viewer") and who.allows("operator") and not who.allows("admin")


def test_the_user_commands(tmp_path):
    # Given an empty embedded database
    env = embedded_env(tmp_path)

    # When users are added, listed, re-passworded and removed through the CLI
    added = run_cli(env, "user", "add", "ann", "--role", "admin", "--password-stdin", input="s3cret-password\n")
    assert added.returncode == 0, added.stderr
    assert run_cli(env, "user", "add", "bob", "--role", "boss", "--password-stdin", input="x" * 10 + "\n").returncode == 2
    short = run_cli(env, "user", "add", "bob", "--password-stdin", input="short\n")
    assert short.returncode == 1 and "8 to 1024" in short.stderr and "short" not in short.stderr
    listed = run_cli(env, "user", "list", "--json")
    passwd = run_cli(env, "user", "passwd", "ann", "--password-stdin", input="another-password\n")
    removed = run_cli(env, "user", "remove", "ann")
    missing = run_cli(env, "user", "remove", "ann")

    # Then each does what it says, and no password is ever printed
    import json

    assert [(u["name"], u["role"]) for u in json.loads(listed.stdout)] == [("ann", "admin")]
    assert passwd.returncode == 0 and removed.returncode == 0
    assert missing.returncode == 1 and "no user named 'ann'" in missing.stderr
    for done in (added, listed, passwd, removed):
        assert "s3cret" not in done.stdout + done.stderr and "another-password" not in done.stdout + done.stderr


def test_failed_sign_ins_are_throttled_by_name_and_by_address():
    from campaigns.web.dashboard.throttle import SignInThrottle

    now = [1000.0]
    throttle = SignInThrottle(per_name=3, per_address=5, window=60, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.wait("Ann", "10.0.0.1") == 0
        throttle.failed("ann", "10.0.0.1")
    assert throttle.wait("ANN ", "10.0.0.2") == 60  # the name, whatever its case and address
    assert throttle.wait("bob", "10.0.0.1") == 0
    throttle.failed("bob", "10.0.0.1")
    throttle.failed("carl", "10.0.0.1")
    assert throttle.wait("dora", "10.0.0.1") == 60  # five failures from one address
    now[0] += 30
    assert throttle.wait("ann", "10.0.0.9") == 30
    now[0] += 30
    assert throttle.wait("ann", "10.0.0.9") == 0 and throttle.wait("dora", "10.0.0.1") == 0
    throttle.failed("eve", None)
    throttle.succeeded("eve")
    assert throttle.wait("eve", None) == 0
