"""Fault injection: rules saying which calls fail and how, set by the constructor or the
``/_sim/faults`` control route so tests in other processes can change them.

A rule matches a method ("campaign/addrecipients", "campaign/*" or "*") and fires on the
``next`` N matching calls, on ``every`` k-th matching call, or with a seeded
``probability``. What happens when it fires (``kind``):

- ``http_error``: an HTTP 5xx (``status``, default 503) with an nginx-like page;
- ``hang``: waits ``seconds`` (real time, longer than the client's timeout), then answers;
- ``malformed``: HTTP 200 with a body that is not the JSON envelope (``body``: "html" or
  "truncated" JSON);
- ``drop``: the connection is closed without a complete answer;
- ``code``: an envelope with ``code`` (3, 999, 30, 14, ...) and ``data``;
- ``lost``: the work is done, then the answer is lost (``status`` 502, or ``drop`` true to
  close the connection): the call happened, the client sees an error.

``after_work`` true makes ``http_error``, ``hang``, ``malformed`` and ``drop`` happen after
the method did its work (``lost`` always does).
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping

KINDS = ("http_error", "hang", "malformed", "drop", "code", "lost")


@dataclass
class FaultRule:
    kind: str
    method: str = "*"
    next: int | None = None
    every: int | None = None
    probability: float | None = None
    status: int | None = None
    seconds: float = 5.0
    body: str = "html"
    code: int = 999
    data: Any = None
    drop: bool = False
    after_work: bool = False
    # bookkeeping
    seen: int = field(default=0, compare=False)
    fired: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        self.method = self.method.strip().lower()
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(KINDS)}")
        chosen = [x for x in (self.next, self.every, self.probability) if x is not None]
        if len(chosen) > 1:
            raise ValueError("a fault rule takes one of next, every or probability")
        if not chosen:
            self.next = 1
        if self.next is not None and self.next < 0:
            raise ValueError("next must not be negative")
        if self.every is not None and self.every < 1:
            raise ValueError("every must be at least 1")
        if self.probability is not None and not 0 <= self.probability <= 1:
            raise ValueError("probability must be between 0 and 1")
        if self.body not in ("html", "truncated"):
            raise ValueError("body must be 'html' or 'truncated'")
        if self.status is None:
            self.status = 502 if self.kind == "lost" else 503
        if self.kind == "lost":
            self.after_work = True

    def matches(self, method: str) -> bool:
        if self.method in ("*", method):
            return True
        return self.method.endswith("/*") and method.startswith(self.method[:-1])

    @property
    def exhausted(self) -> bool:
        return self.next is not None and self.fired >= self.next

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["remaining"] = None if self.next is None else max(0, self.next - self.fired)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "FaultRule":
        """A rule from its JSON form; raises ValueError naming what is wrong."""
        allowed = {f for f in cls.__dataclass_fields__ if f not in ("seen", "fired")}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        if "kind" not in data:
            raise ValueError("a fault rule needs a kind")
        return cls(**dict(data))


class FaultPlan:
    """The active rules; ``pick`` decides, for one call, which rule fires (if any)."""

    def __init__(self, rules: Iterable[FaultRule] = (), *, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = list(rules)
        self._random = random.Random(seed)

    def add(self, *rules: FaultRule) -> None:
        with self._lock:
            self._rules.extend(rules)

    def replace(self, rules: Iterable[FaultRule], *, seed: int | None = None) -> None:
        with self._lock:
            self._rules = list(rules)
            if seed is not None:
                self._random = random.Random(seed)

    def clear(self) -> None:
        self.replace([])

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.as_json() for rule in self._rules]

    def pick(self, method: str) -> FaultRule | None:
        """Count the call against every matching rule; return the first that fires."""
        chosen = None
        with self._lock:
            for rule in self._rules:
                if rule.exhausted or not rule.matches(method):
                    continue
                rule.seen += 1
                if rule.next is not None:
                    fires = True
                elif rule.every is not None:
                    fires = rule.seen % rule.every == 0
                else:
                    fires = self._random.random() < rule.probability
                if fires and chosen is None:
                    rule.fired += 1
                    chosen = rule
            self._rules = [r for r in self._rules if not r.exhausted]
        return chosen
