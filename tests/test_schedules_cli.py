"""`campaigns schedule …` and `campaigns approve` as a user types them: usage errors name
what is wrong (exit 2, no traceback), preview prints ISO times with offsets, the
management commands round-trip, and header values never show."""

from __future__ import annotations

import json

import pytest

from tests.cluster import clean_env, run_cli

pytestmark = [pytest.mark.integration]


@pytest.fixture
def env(tmp_path):
    return clean_env(CAMPAIGNS_DATABASE_URL=f"sqlite:///{tmp_path / 'c.db'}", CAMPAIGNS_DATA_DIR=str(tmp_path / "d"),
                     CAMPAIGNS_SECRET_KEY="a-long-random-secret-for-tests")


def test_preview_json_is_iso_times_with_offsets(env):
    done = run_cli(env, "schedule", "preview", "--cron", "0 9 31 * *", "--tz", "Asia/Almaty",
                   "--from", "2027-01-01T00:00", "--count", "3", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["2027-01-31T09:00:00+05:00", "2027-03-31T09:00:00+05:00",
                                       "2027-05-31T09:00:00+05:00"]


@pytest.mark.parametrize("args, words", [
    (["--cron", "0 9 * *", "--tz", "UTC"], "has 4 fields; expected 5"),
    (["--cron", "0 9 * * FUNDAY", "--tz", "UTC"], "invalid cron expression '0 9 * * FUNDAY'"),
    (["--cron", "0 9 * * *", "--tz", "Europe/Atlantis"], "unknown time zone 'Europe/Atlantis'"),
    (["--cron", "0 9 * * *", "--tz", "UTC", "--from", "tomorrow"], "--from must be an ISO 8601 time"),
])
def test_bad_input_is_a_usage_error_naming_it(env, args, words):
    done = run_cli(env, "schedule", "preview", *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert words in done.stderr and "Traceback" not in done.stderr + done.stdout


def test_add_list_show_edit_runs_pause_delete_and_approve(env, tmp_path):
    source = tmp_path / "crm.csv"
    source.write_text("phone\n77011234567\n")
    added = run_cli(env, "schedule", "add", "monday promo", "--cron", "0 10 * * MON", "--tz", "Asia/Almaty",
                    "--source", str(source), "--text", "Sale", "--country", "KZ", "--exclude-sent-within", "7",
                    "--source-header", "Authorization: Bearer very-secret-token", "--json")
    assert added.returncode == 0, added.stderr
    view = json.loads(added.stdout)
    assert view["source_headers"] == ["Authorization"] and view["exclude_sent_within_days"] == 7
    assert view["next_fire"]["local"].endswith("T10:00:00+05:00")
    listed = run_cli(env, "schedule", "list", "--json")
    assert [v["name"] for v in json.loads(listed.stdout)] == ["monday promo"]
    shown = run_cli(env, "schedule", "show", str(view["id"]))
    assert "0 10 * * MON  in Asia/Almaty" in shown.stdout and "very-secret" not in shown.stdout
    assert "very-secret-token" not in (tmp_path / "c.db").read_bytes().decode("latin-1")
    edited = run_cli(env, "schedule", "edit", str(view["id"]), "--cron", "@daily", "--tz", "UTC", "--json")
    assert json.loads(edited.stdout)["next_fire"]["utc"].endswith("T00:00:00+00:00")
    nxt = run_cli(env, "schedule", "next", str(view["id"]), "--count", "2", "--json")
    assert len(json.loads(nxt.stdout)) == 2
    assert run_cli(env, "schedule", "runs", str(view["id"])).stdout.strip() == "no runs yet"
    assert "paused" in run_cli(env, "schedule", "pause", str(view["id"])).stdout
    again = run_cli(env, "schedule", "add", "monday promo", "--cron", "@daily", "--tz", "UTC", "--source",
                    str(source), "--text", "x")
    assert again.returncode == 2 and "already exists" in again.stderr
    assert run_cli(env, "schedule", "delete", str(view["id"])).returncode == 0
    missing = run_cli(env, "schedule", "show", str(view["id"]))
    assert missing.returncode == 1 and f"no schedule with id {view['id']}" in missing.stderr
    nothing = run_cli(env, "approve", "42")
    assert nothing.returncode == 1 and "no campaign with id 42" in nothing.stderr
