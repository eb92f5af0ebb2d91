"""Every migration after 0003 keeps what is stored: SQLite's batch rebuilds of a table must
not cascade-delete the rows that refer to it (chunks, counter samples)."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import text

from campaigns.store.engine import make_engine, upgrade


def test_upgrading_every_head_keeps_campaigns_chunks_and_samples(tmp_path):
    # Given a database at 0003 holding a campaign, its chunk and a counter sample
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0003")
    engine = make_engine(url)
    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO campaigns (id, name, provider, text, type, placeholders, state, state_changed_at,"
            " create_attempts, launch_attempts, retries, rows, valid, invalid, duplicates, segments,"
            " created_at, updated_at) VALUES (7, 'old', 'sandbox', 'hi', 2, 'keep', 'done', :t, 0, 0, 0,"
            " 1, 1, 0, 0, 1, :t, :t)"), {"t": now})
        conn.execute(text(
            "INSERT INTO chunks (campaign_id, seq, size, state, state_changed_at, attempts, added, rejected,"
            " retries, maybe_sent, first_row, last_row) VALUES (7, 0, 1, 'added', :t, 1, 1, 0, 0, 0, 2, 2)"),
            {"t": now})
        conn.execute(text("INSERT INTO counter_samples (campaign_id, taken_at, counters) VALUES (7, :t, '{}')"),
                     {"t": now})
    engine.dispose()
    # When every later migration runs
    upgrade(url)
    # Then nothing was lost
    engine = make_engine(url)
    with engine.connect() as conn:
        counts = [conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in ("campaigns", "chunks", "counter_samples")]
    engine.dispose()
    assert counts == [1, 1, 1]
