"""One simulated campaign and its messages, and where they stand at a given moment.

Nothing is stepped: ``launch`` fixes the timeline when Campaign/Send is called (moderation,
start, the send time of every packet, every message's final status and when it arrives),
and every read works the state out from the clock. So any clock speed, a jump of the
clock, or a request after an hour of silence all see a consistent campaign.

Statuses (Campaign module, List: "List of possible campaign statuses"):
NEW → MODERATION → READY_FOR_SEND (or DECLINED), or NEW → AUTO_READY_FOR_SEND; DEFERRED
until deferredToTs; RUNNING while packets go out; SENT until every final status is in;
DONE, after which "no campaign counters are changed".
"""

from __future__ import annotations

import bisect
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from itertools import accumulate
from typing import Any

from campaigns.simulator.config import FINAL_STATUSES, SimConfig

PACKET = 10  # "Messages are sent at equal intervals, in packets of 10 pieces" (Campaign module, Create)
NOT_YET_SENT = ("NEW", "MODERATION", "READY_FOR_SEND", "AUTO_READY_FOR_SEND", "DEFERRED")
COUNTER_STATUSES = ("New", "Enqueud", "Acceptd", "Delivrd", "Rejectd", "Expired", "Undeliv", "Deleted",
                    "Unknown", "Pdlivrd")


@dataclass(slots=True)
class SimMessage:
    id: int
    campaign_id: int
    phone: str
    text: str
    seg_num: int
    index: int  # position in the campaign's send order
    # fixed at launch
    final_status: str | None = None
    delay: float = 0.0  # from its send to its final status


@dataclass
class Timeline:
    """When things happen to a launched campaign, in simulated epoch seconds."""

    send_ts: float  # Campaign/Send was called
    moderated: bool
    declined: bool
    ready_ts: float  # moderation over
    start_ts: float  # first packet
    interval: float  # seconds between packets
    end_send_ts: float  # last packet handed over
    last_final_ts: float
    done_ts: float
    # for counters: per final status, sorted arrival times and the running sum of segments
    finals: dict[str, tuple[list[float], list[int]]] = field(default_factory=dict)
    seg_prefix: list[int] = field(default_factory=list)  # segments of the first i messages in send order


@dataclass
class SimCampaign:
    id: int
    type: int
    name: str | None
    text: str
    sender: str | None
    rate_limit: int | None
    rate_period: int | None
    deferred_ts: float | None
    deferred_text: str | None
    mclass: int
    validity: int | None
    track_links: int
    create_ts: float
    messages: list[SimMessage] = field(default_factory=list)
    by_phone: dict[str, SimMessage] = field(default_factory=dict)
    added_counts: Counter = field(default_factory=Counter)  # every code-0 add of a phone, resends included
    rejected: int = 0  # recipients refused by adds (counters' recipientsRejected)
    adding: bool = False  # an AddRecipients call is running (the campaign is locked)
    busy_until: float | None = None  # a background import holds the lock until then
    deleted: bool = False
    timeline: Timeline | None = None

    # -- status -------------------------------------------------------------------------

    def status(self, now: float) -> str:
        t = self.timeline
        if t is None:
            return "NEW"
        if t.moderated and now < t.ready_ts:
            return "MODERATION"
        if t.declined:
            return "DECLINED"
        if now < t.start_ts:
            if self.deferred_ts is not None and self.deferred_ts > t.ready_ts:
                return "DEFERRED"
            return "READY_FOR_SEND" if t.moderated else "AUTO_READY_FOR_SEND"
        if now < t.end_send_ts:
            return "RUNNING"
        if now < t.done_ts:
            return "SENT"
        return "DONE"

    def moderation_status(self, now: float) -> str:
        t = self.timeline
        if t is None:
            return "NEW"
        if t.moderated and now < t.ready_ts:
            return "MODERATION"
        if t.declined:
            return "DECLINED"
        return "READY_FOR_SEND" if t.moderated else "AUTO_READY_FOR_SEND"

    def locked(self, now: float) -> bool:
        """True while an add or a background import holds the campaign."""
        return self.adding or (self.busy_until is not None and now < self.busy_until)

    # -- launch -------------------------------------------------------------------------

    def launch(self, now: float, config: SimConfig) -> None:
        """Fix the campaign's timeline and every message's fate (Campaign/Send)."""
        moderated = config.moderation
        ready_ts = now + (config.moderation_seconds if moderated else 0.0)
        start_ts = ready_ts + config.start_delay_seconds
        if self.deferred_ts is not None:
            start_ts = max(start_ts, self.deferred_ts)
        rate = config.default_rate
        if self.rate_limit and self.rate_period:
            rate = self.rate_limit / self.rate_period
        interval = PACKET / rate
        n = len(self.messages)
        packets = max(1, math.ceil(n / PACKET))
        end_send_ts = start_ts + packets * interval
        rng = random.Random(config.seed * 1_000_003 + self.id)
        mix = [(s, config.final_mix.get(s, 0.0)) for s in FINAL_STATUSES if s != "DELIVRD"]
        finals: dict[str, list[tuple[float, int]]] = {s: [] for s in FINAL_STATUSES}
        last_final = end_send_ts
        for message in self.messages:
            draw = rng.random()
            status = "DELIVRD"
            for name, share in mix:
                if draw < share:
                    status = name
                    break
                draw -= share
            message.final_status = status
            message.delay = config.delivery_seconds * (0.5 + rng.random())
            arrives = self.sent_at_index(message.index, start_ts, interval) + message.delay
            finals[status].append((arrives, message.seg_num))
            last_final = max(last_final, arrives)
        timeline = Timeline(
            send_ts=now,
            moderated=moderated,
            declined=moderated and config.decline,
            ready_ts=ready_ts,
            start_ts=start_ts,
            interval=interval,
            end_send_ts=end_send_ts,
            last_final_ts=last_final,
            done_ts=last_final + config.counters_delay_seconds,
            seg_prefix=[0, *accumulate(m.seg_num for m in self.messages)],
        )
        for status, arrivals in finals.items():
            arrivals.sort()
            timeline.finals[status] = ([a for a, _ in arrivals], [0, *accumulate(s for _, s in arrivals)])
        self.timeline = timeline

    @staticmethod
    def sent_at_index(index: int, start_ts: float, interval: float) -> float:
        return start_ts + (index // PACKET) * interval

    # -- messages -----------------------------------------------------------------------

    def message_state(self, message: SimMessage, now: float) -> tuple[str, float | None, float | None]:
        """(status, startSendTs, statusUpdateTs) of one message at ``now``."""
        t = self.timeline
        if t is None or t.declined or now < t.start_ts:
            return "NEW", None, None
        sent = self.sent_at_index(message.index, t.start_ts, t.interval)
        if now < sent:
            return "NEW", None, None
        arrives = sent + message.delay
        if now < arrives:
            return "ACCEPTD", sent, sent
        return message.final_status or "DELIVRD", sent, arrives

    def sent_count(self, now: float) -> int:
        """How many messages have been handed to operators by ``now``."""
        t = self.timeline
        if t is None or t.declined or now < t.start_ts:
            return 0
        packets = int((now - t.start_ts) // t.interval) + 1
        return min(len(self.messages), packets * PACKET)

    # -- counters -----------------------------------------------------------------------

    def counters(self, now: float, config: SimConfig) -> dict[str, Any]:
        """The counters object as Campaign/GetInfo and Campaign/List show it: numbers as
        strings, costs with four decimals, updated ``counters_delay_seconds`` late and
        frozen once the campaign is DONE."""
        n = len(self.messages)
        seg_total = sum(m.seg_num for m in self.messages) if self.timeline is None else self.timeline.seg_prefix[-1]
        msgs = dict.fromkeys(COUNTER_STATUSES, 0)
        segs = dict.fromkeys(COUNTER_STATUSES, 0)
        t = self.timeline
        as_of = now
        if t is None or t.declined:
            msgs["New"], segs["New"] = n, seg_total
        else:
            as_of = min(now - config.counters_delay_seconds, t.last_final_ts)
            sent = self.sent_count(as_of)
            sent_segs = t.seg_prefix[sent]
            final_msgs = final_segs = 0
            for status, (times, seg_prefix) in t.finals.items():
                k = bisect.bisect_right(times, as_of)
                key = status.capitalize()
                msgs[key], segs[key] = k, seg_prefix[k]
                final_msgs += k
                final_segs += seg_prefix[k]
            msgs["New"], segs["New"] = n - sent, seg_total - sent_segs
            msgs["Acceptd"], segs["Acceptd"] = sent - final_msgs, sent_segs - final_segs
        price = config.segment_price
        counters: dict[str, Any] = {"campaignId": str(self.id), "updateTs": format_ts(max(as_of, self.create_ts))}
        for key in COUNTER_STATUSES:
            counters[f"total{key}SegNum"] = str(segs[key])
        counters["totalSegNum"] = str(seg_total)
        for key in COUNTER_STATUSES:
            counters[f"total{key}MsgNum"] = str(msgs[key])
        counters["totalMsgNum"] = str(n)
        counters["totalCost"] = money(seg_total * price)
        for key in COUNTER_STATUSES:
            counters[f"total{key}MsgCost"] = money(segs[key] * price)
        counters["userCurrency"] = config.currency
        counters["recipientsRejected"] = str(self.rejected)
        return counters

    def cost(self, config: SimConfig) -> float:
        return sum(m.seg_num for m in self.messages) * config.segment_price


def money(value: float) -> str:
    """Costs as the live API sends them: a string with four decimals ("16.2000")."""
    return f"{value:.4f}"


def format_ts(ts: float | None) -> str | None:
    """Mobizon's date format, ``YYYY-MM-DD HH:MM:SS``, in the simulator host's local time."""
    if ts is None:
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def parse_ts(text: str) -> float:
    """``YYYY-MM-DD HH:MM:SS`` (local time) as epoch seconds; raises ValueError."""
    return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S").timestamp()
