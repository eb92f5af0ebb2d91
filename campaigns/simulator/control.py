"""Driving a simulator that runs in another process (``campaigns simulate``, a docker
service, a test's subprocess) through its ``/_sim/`` control routes.

    with SimulatorControl("http://127.0.0.1:8080") as sim:
        sim.faults([{"kind": "lost", "method": "campaign/addRecipients", "next": 1}])
        sim.advance(3600)
        phones = sim.campaign(1001)["phones"]   # [{"phone", "added", "sent", "messageId", "status"}]
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import httpx


class SimulatorControl:
    """A small client of the control routes; raises httpx.HTTPStatusError when the
    simulator refuses a request (its JSON ``error`` says why)."""

    def __init__(self, base_url: str, *, http: httpx.Client | None = None, timeout: float = 10.0) -> None:
        self._http = http or httpx.Client(timeout=timeout)
        self._base = base_url.rstrip("/") + "/_sim"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "SimulatorControl":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(self, method: str, path: str, body: Any = None) -> Any:
        response = self._http.request(method, self._base + path, json=body)
        response.raise_for_status()
        return response.json()

    def state(self) -> dict[str, Any]:
        """Clock, configuration, every campaign (status, recipients, sent, counters), tasks,
        calls per method and the active faults."""
        return self._send("GET", "/state")

    def campaign(self, campaign_id: int | str) -> dict[str, Any]:
        """One campaign with ``phones``: how often each was added and whether it was sent."""
        return self._send("GET", f"/campaigns/{campaign_id}")

    def faults(self, rules: Iterable[Mapping[str, Any]], *, replace: bool = False) -> list[dict[str, Any]]:
        """Add fault rules (see campaigns.simulator.faults), or replace the active ones."""
        return self._send("POST", "/faults", {"rules": list(rules), "replace": replace})["rules"]

    def clear_faults(self) -> None:
        self._send("DELETE", "/faults")

    def advance(self, seconds: float) -> float:
        """Move simulated time forward; returns the new simulated time (epoch seconds)."""
        return self._send("POST", "/clock", {"advance": seconds})["now"]

    def set_speed(self, speed: float) -> float:
        return self._send("POST", "/clock", {"speed": speed})["speed"]

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change settings (SimConfig field names); returns the configuration now in force."""
        return self._send("POST", "/config", changes)

    def reset(self, **config_changes: Any) -> None:
        """Forget every campaign; back to the starting configuration plus ``config_changes``."""
        self._send("POST", "/reset", {"config": config_changes})
