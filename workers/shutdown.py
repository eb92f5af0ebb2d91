"""A flag that every process of one Celery worker sees, set when the worker begins a warm
shutdown.

A warm shutdown waits for the running tasks, and an add task goes on with its campaign for
up to ``workers.tasks.CONTINUE_SECONDS``; with this flag it hands the campaign back after
the chunk in flight instead. The flag is one byte of anonymous shared memory made in the
worker's main process before the pool forks its children, so the children read what the
main process writes (Celery sends ``worker_shutting_down`` in the main process only).
"""

from __future__ import annotations

import mmap


class ShutdownFlag:
    """Set once, read by any process forked after it was made."""

    def __init__(self) -> None:
        self._byte = mmap.mmap(-1, 1)  # anonymous and shared: inherited through fork

    def set(self) -> None:
        self._byte[0] = 1

    def is_set(self) -> bool:
        return self._byte[0] == 1
