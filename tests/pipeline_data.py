"""Test data and a synchronous driver for the pipeline services.

``make_campaign`` writes a campaign with its recipients and chunks straight into the
database (as ingestion would); ``Driver`` runs the services' ``Next`` steps in order of
their due time on a simulated clock, with a periodic tick (scanner + poll), so a test
can follow a campaign from queued to done in milliseconds.
"""

from __future__ import annotations

import heapq
import itertools
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import insert, select

from campaigns.providers.fake import FakeProvider
from campaigns.services.chunks import add_next_chunk
from campaigns.services.create import create_at_provider
from campaigns.services.follow import fetch_final_statuses, poll_campaigns
from campaigns.services.launch import launch_campaign
from campaigns.services.next import Next
from campaigns.services.recover import scan_stalled
from campaigns.settings import Settings
from campaigns.store.models import Campaign, Chunk, CounterSample, Recipient
from campaigns.store.keys import recipient_id

T0 = datetime(2030, 1, 1, 9, 0, 0, tzinfo=timezone.utc)


def fast_settings(**changes) -> Settings:
    """Settings with the pipeline's timing shrunk for tests."""
    base = Settings().with_(
        poll_seconds=1.0, stall_seconds=30.0, chunk_size=500, max_transport_retries=3,
        retry_base_seconds=1.0, retry_cap_seconds=8.0, pause_after_permanent_failures=0.5,
    )
    return base.with_(**changes)


def phones(n: int, start: int = 0) -> list[str]:
    return [f"7701{start + i:07d}" for i in range(n)]


def make_campaign(
    uow_factory,
    *,
    numbers: list[str] | None = None,
    count: int = 10,
    chunk_size: int = 4,
    state: str = "queued",
    provider: str | None = None,
    text: str = "Hello",
    name: str = "Spring sale",
    fields: dict[str, str] | None = None,
    invalid: list[str] = (),
    provider_campaign_id: str | None = None,
    now: datetime = T0,
    first_row: int = 1,
) -> int:
    """A campaign with ``numbers`` (or ``count`` generated ones) as valid recipients split
    into chunks of ``chunk_size``, plus ``invalid`` rows, numbered from ``first_row``;
    returns its id. The provider's name defaults to one of its own ("fake-…"): PostgreSQL
    keeps the other tests' campaigns, and a poll must not mix theirs with ours."""
    provider = provider or f"fake-{uuid.uuid4().hex[:8]}"
    numbers = list(numbers) if numbers is not None else phones(count)
    with uow_factory() as uow:
        campaign = Campaign(
            name=name, provider=provider, text=text, type=3 if fields else 2, state=state,
            state_changed_at=now, created_at=now, updated_at=now, provider_campaign_id=provider_campaign_id,
            rows=len(numbers) + len(invalid), valid=len(numbers), invalid=len(invalid), duplicates=0,
        )
        uow.session.add(campaign)
        uow.session.flush()
        rows, row_number = [], first_row - 1
        for i, phone in enumerate(numbers):
            row_number += 1
            rows.append(dict(
                id=recipient_id(campaign.id, row_number, True),
                campaign_id=campaign.id, row_number=row_number, raw_phone=f"+{phone}", phone=phone,
                fields=json.dumps(fields) if fields else None, verdict="valid", chunk_seq=i // chunk_size,
            ))
        for raw in invalid:
            row_number += 1
            rows.append(dict(
                id=recipient_id(campaign.id, row_number, False),
                campaign_id=campaign.id, row_number=row_number, raw_phone=raw, phone=None, fields=None,
                verdict="invalid", reason="not a phone number", chunk_seq=None,
            ))
        if rows:
            uow.session.execute(insert(Recipient), rows)
        sizes = [min(chunk_size, len(numbers) - s) for s in range(0, len(numbers), chunk_size)]
        if sizes:
            uow.session.execute(
                insert(Chunk),
                [dict(campaign_id=campaign.id, seq=seq, size=size, state="pending", state_changed_at=now,
                      first_row=first_row + seq * chunk_size, last_row=first_row + seq * chunk_size + size - 1)
                 for seq, size in enumerate(sizes)],
            )
        uow.commit()
        return campaign.id


def created(uow_factory, fake, settings, **kw) -> int:
    """A campaign created at the fake provider, in state adding."""
    cid = make_campaign(uow_factory, **kw)
    assert create_at_provider(cid, uow_factory, fake, settings, now=T0) == [Next("add", cid)]
    return cid


def at(seconds: float) -> datetime:
    """``seconds`` after T0."""
    return T0 + timedelta(seconds=seconds)


def _detached(uow, objects):
    objects = list(objects)
    uow.session.expunge_all()  # keep the loaded values after the unit of work rolls back
    return objects


def campaign_row(uow_factory, campaign_id: int) -> Campaign:
    with uow_factory() as uow:
        return _detached(uow, [uow.session.get(Campaign, campaign_id)])[0]


def chunk_rows(uow_factory, campaign_id: int) -> list[Chunk]:
    with uow_factory() as uow:
        return _detached(uow, uow.session.scalars(select(Chunk).where(Chunk.campaign_id == campaign_id).order_by(Chunk.seq)))


def sample_rows(uow_factory, campaign_id: int) -> list[CounterSample]:
    with uow_factory() as uow:
        return _detached(
            uow,
            uow.session.scalars(
                select(CounterSample).where(CounterSample.campaign_id == campaign_id).order_by(CounterSample.id)
            ),
        )


def recipient_rows(uow_factory, campaign_id: int) -> list[Recipient]:
    with uow_factory() as uow:
        return _detached(
            uow,
            uow.session.scalars(
                select(Recipient).where(Recipient.campaign_id == campaign_id).order_by(Recipient.row_number)
            ),
        )


@dataclass
class Driver:
    """Runs Next steps on a simulated clock: each at its due time, a tick (scanner, then
    poll) every ``settings.poll_seconds`` while nothing else is due."""

    uow_factory: object
    provider: FakeProvider
    settings: Settings
    now: datetime = T0
    only: set[int] | None = None  # the campaigns this driver runs (None: all)
    ran: list[tuple[float, Next]] = field(default_factory=list)
    _queue: list = field(default_factory=list)
    _seq: itertools.count = field(default_factory=itertools.count)

    def schedule(self, nexts: list[Next]) -> None:
        for step in nexts:
            if self.only is not None and step.campaign_id not in self.only:
                continue  # PostgreSQL is shared by the session's tests: leave others' campaigns alone
            due = self.now + timedelta(seconds=step.countdown)
            heapq.heappush(self._queue, (due, next(self._seq), step))

    def step(self, step: Next) -> list[Next]:
        services = {
            "create": create_at_provider,
            "add": add_next_chunk,
            "launch": launch_campaign,
            "final_statuses": fetch_final_statuses,
        }
        self.ran.append(((self.now - T0).total_seconds(), step))
        return services[step.action](step.campaign_id, self.uow_factory, self.provider, self.settings, now=self.now)

    def tick(self) -> list[Next]:
        nexts = scan_stalled(self.uow_factory, self.settings, now=self.now)
        return nexts + poll_campaigns(self.uow_factory, self._providers, self.settings, now=self.now)

    def _providers(self, name: str) -> FakeProvider:
        """The fake, for the campaigns this driver runs only."""
        with self.uow_factory() as uow:
            ours = uow.session.scalars(select(Campaign.provider).where(Campaign.id.in_(self.only or ()))).all()
        if name not in ours:
            raise ValueError(f"not this test's provider: {name}")
        return self.provider

    def run(self, campaign_id: int, *, until=("done", "failed", "paused", "cancelled"), max_steps: int = 2000) -> str:
        """Run until the campaign's state is one of ``until``; returns that state."""
        if self.only is None:
            self.only = {campaign_id}
        next_tick = self.now
        for _ in range(max_steps):
            state = campaign_row(self.uow_factory, campaign_id).state
            if state in until:
                return state
            if self._queue and self._queue[0][0] <= next_tick:
                due, _, step = heapq.heappop(self._queue)
                self.now = max(self.now, due)
                self.schedule(self.step(step))
            else:
                self.now = max(self.now, next_tick)
                self.schedule(self.tick())
                next_tick = self.now + timedelta(seconds=self.settings.poll_seconds)
        raise AssertionError(f"campaign {campaign_id} still {state} after {max_steps} steps")
