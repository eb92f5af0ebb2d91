"""A simulated account kept on disk between processes: the sandbox's memory.

The in-process sandbox lives as long as its process, but the database that records its
campaigns lives on. Two things make them agree:

- **Ids.** Campaign, message and task ids come from sequences kept in ``ids.json`` and
  handed out under a file lock, never below ``floor`` (the highest sandbox campaign id the
  database knows). So no two sandbox campaigns of one database ever share an id, whichever
  processes made them, even at the same time: a campaign's recipients can never land in
  another's campaign.
- **Campaigns.** When a process stops its sandbox it saves the campaigns the database still
  needs (``put``); a later process takes a campaign out of the file the first time it is
  asked about it (``take``), so one process at a time owns it. A process killed without
  saving loses its campaigns: the simulator then answers "Campaign not found" for them, and
  the pipeline fails them with that reason instead of guessing.

Layout of the folder: ``lock`` (fcntl), ``ids.json`` (the sequences and the latest
simulated time), ``campaigns.pickle`` (id -> campaign with its messages, and its import
tasks). The pickle is as trusted as the database beside it: both belong to the user.
"""

from __future__ import annotations

import fcntl
import json
import os
import pickle
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

FIRST_IDS = {"campaign": 1000, "message": 500_000, "task": 70}  # the last id handed out
FORMAT = 1


@dataclass
class Saved:
    """One saved campaign: the SimCampaign (its messages inside) and its import tasks."""

    campaign: object
    tasks: list = field(default_factory=list)


class StateFile:
    """The sandbox's folder of state; every method takes the folder's lock for its work."""

    def __init__(self, folder: Path, *, floor: int = 0) -> None:
        self.folder = Path(folder)
        self.floor = floor

    # -- files --------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read_ids(self) -> dict:
        try:
            data = json.loads((self.folder / "ids.json").read_text())
        except (FileNotFoundError, ValueError):
            data = {}
        return {**FIRST_IDS, "now": 0.0, **data}

    def _write(self, name: str, payload: bytes) -> None:
        # Written beside and renamed over: a reader sees the old file or the new one.
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(payload)
            os.replace(tmp, self.folder / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _read_campaigns(self) -> dict[int, Saved]:
        try:
            data = pickle.loads((self.folder / "campaigns.pickle").read_bytes())
        except FileNotFoundError:
            return {}
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return {}
        return data["campaigns"]

    def _write_campaigns(self, campaigns: dict[int, Saved]) -> None:
        self._write("campaigns.pickle", pickle.dumps({"format": FORMAT, "campaigns": campaigns},
                                                     protocol=pickle.HIGHEST_PROTOCOL))

    # -- ids ----------------------------------------------------------------------------

    def reserve(self, kind: str, count: int = 1) -> int:
        """Hand out ``count`` ids of ``kind`` ("campaign", "message", "task"); returns the
        first. Campaign ids never go below ``floor`` + 1."""
        with self._locked():
            ids = self._read_ids()
            last = int(ids[kind])
            if kind == "campaign":
                last = max(last, self.floor)
            ids[kind] = last + count
            self._write("ids.json", json.dumps(ids).encode())
        return last + 1

    def latest_time(self) -> float:
        """The latest simulated time a process saved (0 before any)."""
        with self._locked():
            return float(self._read_ids()["now"])

    # -- campaigns ----------------------------------------------------------------------

    def take(self, campaign_ids: Iterable[int]) -> tuple[list[Saved], float]:
        """Remove the saved campaigns among ``campaign_ids`` from the file and return them,
        with the simulated time they were saved at."""
        wanted = set(campaign_ids)
        with self._locked():
            if not (self.folder / "campaigns.pickle").exists():
                return [], 0.0
            saved = self._read_campaigns()
            found = [saved.pop(i) for i in sorted(wanted & saved.keys())]
            if found:
                self._write_campaigns(saved)
            return found, float(self._read_ids()["now"])

    def put(self, campaigns: Iterable[Saved], now: float, *, keep: set[int] | None = None) -> None:
        """Save ``campaigns`` beside those already saved (by other processes), keeping only
        the ids in ``keep`` when given (the campaigns the database still needs)."""
        with self._locked():
            saved = self._read_campaigns()
            saved.update((s.campaign.id, s) for s in campaigns)
            if keep is not None:
                saved = {i: s for i, s in saved.items() if i in keep}
            self._write_campaigns(saved)
            ids = self._read_ids()
            ids["now"] = max(float(ids["now"]), now)
            self._write("ids.json", json.dumps(ids).encode())
