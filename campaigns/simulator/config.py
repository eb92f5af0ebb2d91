"""How a simulator behaves: one frozen value, changed as a whole (``SimConfig.updated``)
by the constructor, the ``/_sim/config`` control route or ``campaigns simulate`` options.

Times ending in ``_seconds`` are simulated seconds (they pass ``speed`` times faster than
real ones); ``add_latency`` and fault hangs are real seconds, because they exist to make
real concurrency and real client timeouts happen.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping

FINAL_STATUSES = ("DELIVRD", "UNDELIV", "REJECTD", "EXPIRED")


@dataclass(frozen=True)
class SimConfig:
    # who may call: None accepts any key (the sandbox); a string accepts only that key
    api_key: str | None = None
    # code 13: requests whose Host differs from this domain are told to go there
    home_domain: str | None = None
    # the clock: simulated seconds per real second
    speed: float = 60.0
    # moderation after Campaign/Send: MODERATION -> READY_FOR_SEND (or DECLINED)
    moderation: bool = True
    moderation_seconds: float = 120.0
    decline: bool = False
    # READY_FOR_SEND / AUTO_READY_FOR_SEND -> RUNNING
    start_delay_seconds: float = 5.0
    # messages a second when the campaign sets no rateLimit/ratePeriod
    default_rate: float = 50.0
    # final statuses: the share of each non-delivered status; DELIVRD takes the rest
    final_mix: Mapping[str, float] = field(
        default_factory=lambda: {"UNDELIV": 0.04, "EXPIRED": 0.02, "REJECTD": 0.02}
    )
    # a message's final status arrives this long after it was sent (× 0.5 .. 1.5)
    delivery_seconds: float = 60.0
    # counters lag behind the messages by this much (Mobizon updates them with a delay)
    counters_delay_seconds: float = 10.0
    # numbers refused with per-recipient code 5 (digits only)
    stop_list: frozenset[str] = frozenset()
    # real seconds one Campaign/AddRecipients call takes, to make code 10 real under concurrency
    add_latency: float = 0.0
    # a recipients file or group import runs as a background task this long
    task_seconds: float = 30.0
    # code 30: calls a second allowed per method ("campaign/addrecipients"), "*" for every method
    rate_limits: Mapping[str, float] = field(default_factory=dict)
    # Create's deferredToTs must lie between one hour and 14 days ahead (sandbox: relaxed)
    check_deferred_window: bool = True
    # price of one segment, in the account's currency
    segment_price: float = 16.2
    currency: str = "KZT"
    balance: float = 1_000_000.0
    # seeds the final-status draw and probabilistic faults
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if self.speed < 0:
            problems.append("speed must not be negative")
        if self.default_rate <= 0:
            problems.append("default_rate must be positive")
        for status, share in self.final_mix.items():
            if status not in FINAL_STATUSES or status == "DELIVRD":
                problems.append(f"final_mix: {status!r} is not one of UNDELIV, EXPIRED, REJECTD")
            elif not 0 <= share <= 1:
                problems.append(f"final_mix: the share of {status} must be between 0 and 1")
        if sum(self.final_mix.values()) > 1:
            problems.append("final_mix: the shares add up to more than 1")
        for name in ("moderation_seconds", "start_delay_seconds", "delivery_seconds",
                     "counters_delay_seconds", "add_latency", "task_seconds"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must not be negative")
        for method, limit in self.rate_limits.items():
            if limit <= 0:
                problems.append(f"rate_limits: {method} must allow a positive number of calls a second")
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def sandbox(cls, **changes: Any) -> "SimConfig":
        """The sandbox provider's defaults: any key, no moderation, a fast clock, a
        realistic mix of final statuses, deferred dates taken as given."""
        base = cls(
            api_key=None,
            speed=600.0,
            moderation=False,
            start_delay_seconds=2.0,
            default_rate=100.0,
            delivery_seconds=30.0,
            counters_delay_seconds=5.0,
            task_seconds=10.0,
            check_deferred_window=False,
        )
        return base.updated(changes) if changes else base

    def updated(self, changes: Mapping[str, Any]) -> "SimConfig":
        """A copy with ``changes`` (as parsed JSON) applied; raises ValueError naming an
        unknown setting or a value of the wrong kind."""
        known = {f.name: f for f in fields(self)}
        clean: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown simulator setting {name!r}; known: {', '.join(sorted(known))}")
            clean[name] = _coerce(name, value, getattr(self, name))
        return replace(self, **clean)

    def as_json(self) -> dict[str, Any]:
        """The settings as JSON values; the API key is never shown, only whether one is set."""
        data = asdict(self)
        data["api_key"] = "(set)" if self.api_key else None
        data["stop_list"] = sorted(self.stop_list)
        data["final_mix"] = dict(self.final_mix)
        data["rate_limits"] = dict(self.rate_limits)
        return data


def _coerce(name: str, value: Any, current: Any) -> Any:
    if name == "stop_list":
        if isinstance(value, str):
            value = [value]
        return frozenset("".join(ch for ch in str(v) if ch.isdigit()) for v in value)
    if name in ("final_mix", "rate_limits"):
        if not isinstance(value, Mapping):
            raise ValueError(f"{name} must be an object")
        return {str(k).lower() if name == "rate_limits" else str(k).upper(): float(v) for k, v in value.items()}
    if name in ("api_key", "home_domain"):
        return None if value in (None, "") else str(value)
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        return value
    if isinstance(current, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be a whole number")
        return value
    if isinstance(current, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} must be a number")
        return float(value)
    if isinstance(current, str):
        return str(value)
    return value
