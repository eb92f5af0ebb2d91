"""The results written beside a drop, in its location:

- ``processed/<path>`` and ``processed/<stem>.result.json`` (the campaign's id, state,
  recipient counts, error; rewritten as it moves and when it ends);
- ``rejected/<path>``, ``rejected/<stem>.error.txt`` (one line: what is wrong) and, when
  rows were invalid, ``rejected/<stem>.rejects.csv``;
- ``reports/<stem>.report.csv`` once the campaign ended.

A drop's ``stem`` is its path without the extension, or ``<stem> (<drop id>)`` when an
earlier drop's results already use that name: results are never overwritten.
"""

from __future__ import annotations

import hashlib
import json

from campaigns.intake.listing import stem_of, suffix_of
from campaigns.intake.locations import Storage

PROCESSED, REJECTED, REPORTS = "processed", "rejected", "reports"
ENDED = frozenset({"done", "failed", "cancelled"})


def free_stem(storage: Storage, folder: str, path: str, drop_id: int) -> str:
    """The stem for ``path``'s results under ``folder``: its own, unless taken."""
    stem = stem_of(path)
    sidecar = ".result.json" if folder == PROCESSED else ".error.txt"
    taken = [f"{folder}/{stem}{suffix_of(path)}", f"{folder}/{stem}{sidecar}"]
    if folder == PROCESSED:
        taken.append(f"{REPORTS}/{stem}.report.csv")
    if any(storage.exists(p) for p in taken):
        return f"{stem} ({drop_id})"
    return stem


def result_document(status: dict, *, location: str, path: str, report: str | None) -> dict:
    """The ``result.json`` of a processed drop, from the campaign's status object."""
    return {
        "campaign_id": status["id"],
        "name": status["name"],
        "state": status["state"],
        "provider": status["provider"],
        "provider_status": status.get("provider_status"),
        "recipients": status["recipients"],
        "counters": status.get("counters") or {},
        "error": status.get("error"),
        "file": path,
        "location": location,
        "report": report,
        "updated_at": status.get("updated_at"),
    }


def encoded(document: dict) -> bytes:
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def signature(state: str, updated_at) -> str:
    """What the scan compares to tell a campaign moved since its result.json was written
    (its state and the time of its last change, as stored)."""
    from campaigns.services.moves import as_utc

    stamp = as_utc(updated_at).timestamp() if updated_at is not None else 0
    return hashlib.sha256(f"{state}|{stamp:.6f}".encode()).hexdigest()
