"""Where the in-process sandbox keeps its state for a database, and what the database says
it must keep (campaigns.simulator.statefile).

The folder sits next to a SQLite file (``campaigns.db`` -> ``campaigns.db.sandbox/``); for
another database it is under ``$XDG_STATE_HOME/campaigns/`` (``~/.local/state``), named
after the database's URL without its password. An in-memory SQLite database has none: its
campaigns end with the process anyway.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url

from campaigns.domain import TERMINAL
from campaigns.store.models import Campaign

SANDBOX = "sandbox"


def state_folder(database_url: str) -> Path | None:
    """The sandbox's state folder for ``database_url`` (None for in-memory SQLite)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file::memory:"):
            return None
        path = Path(database).expanduser().resolve()
        return path.with_name(path.name + ".sandbox")
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    name = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:16]
    return base / "campaigns" / f"sandbox-{name}"


def _sandbox_ids(engine: Engine, *, live_only: bool) -> list[int]:
    c = Campaign.__table__.c
    query = select(c.provider_campaign_id).where(c.provider == SANDBOX, c.provider_campaign_id.is_not(None))
    if live_only:
        query = query.where(c.state.not_in([s.value for s in TERMINAL]))
    with engine.connect() as conn:
        return [int(v) for v in conn.scalars(query) if str(v).isdigit()]


def highest_id(engine: Engine) -> int:
    """The highest sandbox campaign id the database knows (0 when none)."""
    return max(_sandbox_ids(engine, live_only=False), default=0)


def live_ids(engine: Engine) -> set[int]:
    """The sandbox campaign ids of campaigns that have not ended: the ones to keep."""
    return set(_sandbox_ids(engine, live_only=True))
