"""Tokens and idempotency keys, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import select

from campaigns.services.idempotency import IdempotencyConflict, submit_once
from campaigns.services.tokens import TokenError, TokenNotFound, create_token, list_tokens, revoke_token, verify_token
from campaigns.store.models import ApiToken, IdempotencyKey


def test_a_token_verifies_until_revoked_and_only_its_hash_is_stored(uow_factory):
    name = f"crm-{uuid.uuid4().hex[:8]}"
    token, entry = create_token(name, "submit", uow_factory)
    assert entry["scope"] == "submit" and token.startswith("cmp_")
    identity = verify_token(token, uow_factory)
    assert identity.name == name and identity.allows("read") and identity.allows("submit")
    assert not identity.allows("admin")
    with uow_factory() as uow:
        stored = uow.session.scalar(select(ApiToken).where(ApiToken.name == name))
        assert token.split("_", 2)[2] not in (stored.secret_hash, stored.name)
    prefix, token_id, secret = token.split("_", 2)
    other = "A" if secret[-1] != "A" else "B"  # one character changed
    assert verify_token(f"{prefix}_{token_id}_{secret[:-1]}{other}", uow_factory) is None
    assert verify_token(f"{prefix}_{int(token_id) + 1}_{secret}", uow_factory) is None
    assert verify_token("", uow_factory) is None
    revoke_token(name, uow_factory)
    assert verify_token(token, uow_factory) is None
    assert [t["revoked_at"] for t in list_tokens(uow_factory) if t["name"] == name][0]


def test_token_names_and_scopes_are_checked(uow_factory):
    name = f"one-{uuid.uuid4().hex[:8]}"
    create_token(name, "read", uow_factory)
    with pytest.raises(TokenError, match="already exists"):
        create_token(name, "admin", uow_factory)
    with pytest.raises(TokenError, match="scope"):
        create_token("two", "root", uow_factory)
    with pytest.raises(TokenError, match="name"):
        create_token("../x", "read", uow_factory)
    with pytest.raises(TokenNotFound):
        revoke_token("nobody", uow_factory)


def test_a_key_runs_its_submission_once_and_refuses_another_request(uow_factory):
    calls = []

    def submit():
        calls.append(1)
        return 41

    scope = f"token:{uuid.uuid4().hex[:20]}"
    first = submit_once(scope, "k", "print-a", submit, uow_factory)
    again = submit_once(scope, "k", "print-a", submit, uow_factory)
    assert (first.campaign_id, first.created, again.campaign_id, again.created) == (41, True, 41, False)
    assert len(calls) == 1
    with pytest.raises(IdempotencyConflict):
        submit_once(scope, "k", "print-b", submit, uow_factory)
    # another scope is another key space
    assert submit_once(scope + "x", "k", "print-b", submit, uow_factory).created


def test_a_failed_submission_releases_its_key(uow_factory):
    def refuse():
        raise ValueError("file refused")

    scope = f"release-{uuid.uuid4().hex}"
    with pytest.raises(ValueError):
        submit_once(scope, "k", "p", refuse, uow_factory)
    with uow_factory() as uow:
        assert uow.session.scalars(select(IdempotencyKey).where(IdempotencyKey.scope == scope)).all() == []
    assert submit_once(scope, "k", "p", lambda: 7, uow_factory).campaign_id == 7


def test_requests_arriving_together_wait_for_the_first(uow_factory):
    started, release = threading.Event(), threading.Event()
    runs = []

    def slow():
        runs.append(1)
        started.set()
        release.wait(10)
        return 99

    results = []
    scope = f"together-{uuid.uuid4().hex}"
    first = threading.Thread(target=lambda: results.append(submit_once(scope, "k", "p", slow, uow_factory)))
    first.start()
    started.wait(10)
    second = threading.Thread(target=lambda: results.append(submit_once(scope, "k", "p", slow, uow_factory, every=0.02)))
    second.start()
    release.set()
    first.join(10)
    second.join(10)
    assert sorted((r.campaign_id, r.created) for r in results) == [(99, False), (99, True)]
    assert len(runs) == 1
