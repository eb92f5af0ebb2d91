"""Queue names, task names and the timing bounds the broker configuration depends on.

Everything that names something in Redis lives here, so a reader sees the whole
footprint of the pipeline in the broker in one place.
"""

from __future__ import annotations

from campaigns.services.backoff import MAX_COUNTDOWN_SECONDS

# Queues. Chunk work (create, add, launch, final statuses) and the periodic tick are
# kept apart so a tick is never stuck behind a long backlog of adds.
QUEUE_WORK = "campaigns.work"
QUEUE_TICK = "campaigns.tick"
QUEUES = (QUEUE_WORK, QUEUE_TICK)

# Task names: one per kind of Next a service returns, plus the beat's tick.
TASK_CREATE = "campaigns.create"
TASK_ADD = "campaigns.add"
TASK_LAUNCH = "campaigns.launch"
TASK_FINAL_STATUSES = "campaigns.final_statuses"
TASK_FIRE = "campaigns.fire"  # a schedule's run: read its source into its campaign (issue 13)
TASK_DROP = "campaigns.drop"  # a watched bucket's drop: take it, move it, follow it (issue 12)
TASK_TICK = "campaigns.tick"
# For other applications sharing the broker: send_task("campaigns.submit", kwargs={…}).
TASK_SUBMIT = "campaigns.submit"
TASK_FOR_ACTION = {
    "create": TASK_CREATE,
    "add": TASK_ADD,
    "launch": TASK_LAUNCH,
    "final_statuses": TASK_FINAL_STATUSES,
    "fire": TASK_FIRE,
    "drop": TASK_DROP,
}

# Every countdown the runtime schedules is capped here. Redis redelivers a message that
# stays unacknowledged longer than the visibility timeout, and a task scheduled with a
# countdown stays unacknowledged in a worker until it runs (late acknowledgement), so the
# visibility timeout must exceed the longest countdown plus the longest task. A service
# asking for more than the cap is called earlier; every service re-checks its claim, and
# the scanner re-issues anything that still needs doing.
MAX_COUNTDOWN = MAX_COUNTDOWN_SECONDS  # the services bound their countdowns by the same value
VISIBILITY_TIMEOUT = 3600

# The periodic tick runs under this lease (leases table) so two beat processes never
# both run the scanner and the poller in one period.
TICK_LEASE = "campaigns.tick"

# Transient database errors inside a task: retry the task after this many seconds,
# doubling, at most this many times; after that the scanner picks the work up.
DB_RETRY_COUNTDOWN = 1.0
DB_MAX_RETRIES = 5
