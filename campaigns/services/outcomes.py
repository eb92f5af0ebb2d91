"""Writing many recipients' results at once: what the provider said about each uploaded
recipient, and each message's final status.

One statement for a whole batch: on PostgreSQL an ``UPDATE … FROM unnest(arrays)`` (one
round trip whatever the batch size), elsewhere an ``executemany`` keyed by recipient id
(on SQLite straight through the driver: SQLAlchemy's per-row parameter handling doubled
its time). Never one ORM flush per recipient.

The PostgreSQL statements also say ``r.id = ANY(:ids)``: without it the planner, which has
no statistics for a freshly loaded table, hashes the whole table (a sequential scan of every
campaign's recipients, ~40 ms a chunk at 100,000 rows); with it the primary key finds the
batch's rows whatever the statistics (~4 ms).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Sequence

from sqlalchemy import bindparam, func, text, update
from sqlalchemy.orm import Session

from campaigns.providers.port import RecipientOutcome
from campaigns.store.models import Recipient

recipients_t = Recipient.__table__

_PG_OUTCOMES = text(
    """
    UPDATE recipients AS r
    SET provider_code = v.code, provider_meaning = v.meaning, message_id = COALESCE(v.message_id, r.message_id)
    FROM unnest(CAST(:ids AS bigint[]), CAST(:codes AS integer[]), CAST(:meanings AS text[]),
                CAST(:message_ids AS text[])) AS v(id, code, meaning, message_id)
    WHERE r.id = v.id AND r.id = ANY(CAST(:ids AS bigint[]))
    """
)
_PG_FINAL = text(
    """
    UPDATE recipients AS r
    SET final_status = v.status, message_id = COALESCE(r.message_id, v.message_id),
        final_at = COALESCE(r.final_at, now())
    FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS text[]), CAST(:message_ids AS text[]))
        AS v(id, status, message_id)
    WHERE r.id = v.id AND r.id = ANY(CAST(:ids AS bigint[]))
    """
)


def _postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _int_array(values: Sequence[int]) -> str:
    """A PostgreSQL array literal of integers, for ``CAST(:x AS bigint[])``. Arrays travel
    as one literal built in C: psycopg's list dumper takes ~1 ms per 500-element array in
    Python, a quarter of the whole UPDATE."""
    return "{" + ",".join(map(str, map(int, values))) + "}"


def _text_array(values: Sequence[str | None]) -> str:
    """A PostgreSQL array literal of texts (None -> NULL): every element double-quoted with
    backslash and double quote escaped, as array input reads them."""
    return "{" + ",".join([_element(v) for v in values]) + "}"


def _element(value: str | None) -> str:
    if value is None:
        return "NULL"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def record_outcomes(session: Session, pairs: Sequence[tuple[int, RecipientOutcome]]) -> None:
    """Store each (recipient id, outcome): the provider's code, its meaning and the
    messageId. A missing messageId (a resend's code 4 carries none) keeps the stored one."""
    if not pairs:
        return
    if _postgresql(session):
        session.execute(
            _PG_OUTCOMES,
            {
                "ids": _int_array([rid for rid, _ in pairs]),
                "codes": _int_array([o.code for _, o in pairs]),
                "meanings": _text_array([o.meaning for _, o in pairs]),
                "message_ids": _text_array([o.message_id for _, o in pairs]),
            },
        )
        return
    if _sqlite(session):
        session.connection().exec_driver_sql(
            "UPDATE recipients SET provider_code = ?, provider_meaning = ?, message_id = coalesce(?, message_id) "
            "WHERE id = ?",
            [(o.code, o.meaning, o.message_id, rid) for rid, o in pairs],
        )
        return
    r = recipients_t.c
    session.execute(
        update(recipients_t)
        .where(r.id == bindparam("b_id"))
        .values(
            provider_code=bindparam("b_code"),
            provider_meaning=bindparam("b_meaning"),
            message_id=func.coalesce(bindparam("b_message_id"), r.message_id),
        ),
        [{"b_id": rid, "b_code": o.code, "b_meaning": o.meaning, "b_message_id": o.message_id} for rid, o in pairs],
    )


def record_final_statuses(session: Session, rows: Sequence[tuple[int, str, str | None]]) -> None:
    """Store each (recipient id, final status, messageId); the messageId only fills a
    missing one, and the time it arrived (``final_at``) only a missing one."""
    if not rows:
        return
    # SQLAlchemy's own text form of a DateTime on SQLite (this path bypasses it)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    if _postgresql(session):
        session.execute(
            _PG_FINAL,
            {
                "ids": _int_array([r[0] for r in rows]),
                "statuses": _text_array([r[1] for r in rows]),
                "message_ids": _text_array([r[2] for r in rows]),
            },
        )
        return
    if _sqlite(session):
        session.connection().exec_driver_sql(
            "UPDATE recipients SET final_status = ?, message_id = coalesce(message_id, ?), "
            "final_at = coalesce(final_at, ?) WHERE id = ?",
            [(status, mid, now, rid) for rid, status, mid in rows],
        )
        return
    r = recipients_t.c
    session.execute(
        update(recipients_t)
        .where(r.id == bindparam("b_id"))
        .values(final_status=bindparam("b_status"), message_id=func.coalesce(r.message_id, bindparam("b_message_id")),
                final_at=func.coalesce(r.final_at, func.now())),
        [{"b_id": rid, "b_status": status, "b_message_id": mid} for rid, status, mid in rows],
    )
