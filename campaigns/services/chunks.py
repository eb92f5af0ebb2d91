"""Add a campaign's chunks to the provider, one at a time, each as soon as the previous ends.

AddRecipients locks the campaign while it runs (Campaign module, AddRecipients: "the
campaign is blocked for any other adding recipients' request"), so a chunk is claimed only
when no other chunk of its campaign is ``adding``; many campaigns progress in parallel.
The claim is committed before the provider is called, the call runs outside any
transaction, and every recipient's outcome is recorded with the chunk's new state in one
transaction. A chunk whose worker died is reclaimed after ``stall_seconds`` and resent
with ``resend=True``: the campaign de-duplicates, so code 4 then means "already added"
(PROVIDERS.md). Claiming lives in ``chunk_claims``, recording in ``chunk_records``, and
going on with a campaign's chunks back to back in ``chunk_pipeline``.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Callable

from campaigns.providers.errors import ProviderError
from campaigns.providers.port import Provider
from campaigns.services.chunk_claims import claim_with_rows, nothing_to_claim
from campaigns.services.chunk_pipeline import add_pipelined, send_chunk
from campaigns.services.chunk_records import record_answer, record_failure
from campaigns.services.identity import confirm_provider_campaign
from campaigns.services.moves import utcnow
from campaigns.services.next import Next
from campaigns.services.paced import pace_gate
from campaigns.settings import Settings
from campaigns.store.uow import UnitOfWork


def add_next_chunk(
    campaign_id: int,
    uow_factory: Callable[[], UnitOfWork],
    provider: Provider,
    settings: Settings,
    *,
    now: datetime | None = None,
    pacer=None,
) -> list[Next]:
    """Claim the campaign's next chunk, upload it, record each recipient's outcome.

    A provider without server-side campaigns (SMSC) is paced by ``pacer``
    (``campaigns.pacing.pacer.CampaignPacer``): a chunk is one packet, claimed only when
    its slots are free (else [Next("add", countdown)]), with ``pacer.lanes`` chunks of
    the campaign under way at once (``paced.pace_gate``).

    Returns [Next("add")] for the next chunk at once, [Next("add", countdown)] when the
    next chunk waits for a retry, [Next("launch")] when every chunk is settled, [] when
    there is nothing to do (another chunk is in flight, the campaign moved on, paused or
    failed: the reason is in ``campaigns.error``). Raises only on database errors.
    """
    return add_chunks(campaign_id, uow_factory, provider, settings, now=now, pacer=pacer)


def add_chunks(
    campaign_id: int,
    uow_factory: Callable[[], UnitOfWork],
    provider: Provider,
    settings: Settings,
    *,
    now: datetime | None = None,
    pacer=None,
    budget: float = 0.0,
    clock: Callable[[], float] = time.monotonic,
    turn: float | None = None,
    others_waiting: Callable[[], bool] | None = None,
    stopping: Callable[[], bool] | None = None,
) -> list[Next]:
    """``add_next_chunk``, going on with the campaign's next chunks in this call while
    ``budget`` seconds (by ``clock``) have not run out, as long as each chunk is followed
    by exactly [Next("add")] at once. Returns what ``add_next_chunk`` returns for the last
    chunk: [Next("add")] when the budget ran out with chunks left. With ``turn`` and
    ``others_waiting``, it also stops once ``turn`` seconds have passed and
    ``others_waiting()`` says other work waits for this worker (campaigns take turns),
    and as soon as ``stopping()`` says the worker shuts down.

    Chunks still go one at a time, each sent as soon as the previous one's answer is in;
    the hop through the broker is saved. Without a pacer they go through
    ``chunk_pipeline.add_pipelined``: while one chunk is at the provider, the previous
    one's outcomes are recorded and the next one claimed and read. A paced campaign (SMSC)
    passes the pace gate before each chunk, and returns at once whenever its lanes open
    (the extra steps must be dispatched) or it has to wait. First the provider is asked
    whether its campaign is the one created for ours (``identity``); when it is not, the
    campaign fails and [] is returned. Raises only on database errors.
    """
    started = clock()
    deadline = started + budget

    def keep_going() -> bool:
        at = clock()
        if at >= deadline or (stopping is not None and stopping()):
            return False
        return turn is None or others_waiting is None or at < started + turn or not others_waiting()

    if not confirm_provider_campaign(campaign_id, uow_factory, provider, now=now):
        return []
    paced = pacer is not None and not provider.server_side_campaigns
    go_on = [Next("add", campaign_id)]
    while True:
        if paced:
            nexts = _add_one(campaign_id, uow_factory, provider, settings, now, pacer)
        else:
            nexts = add_pipelined(campaign_id, uow_factory, provider, settings, now=now, go_on=keep_going)
        if nexts != go_on or not keep_going():
            return nexts


def _add_one(
    campaign_id: int,
    uow_factory: Callable[[], UnitOfWork],
    provider: Provider,
    settings: Settings,
    now: datetime | None,
    pacer,
) -> list[Next]:
    """Pass the pace gate, claim one chunk (one of ``pacer.lanes``), upload it and record
    its outcomes."""
    start = now or utcnow()
    with uow_factory() as uow:
        wait, opened = pace_gate(uow.session, campaign_id, pacer, start, settings.stall_seconds)
    extra = [Next("add", campaign_id, countdown=wait)] * opened
    if wait > 0:
        from campaigns import telemetry

        telemetry.pacing_wait(getattr(provider, "name", "unknown"), wait)
        return [Next("add", campaign_id, countdown=wait)] + extra
    with uow_factory() as uow:
        held = claim_with_rows(uow.session, campaign_id, start, settings, pacer.lanes)
        if held is None:
            nexts = nothing_to_claim(uow.session, campaign_id, start, pacer.lanes)
            uow.commit()
            return nexts
        uow.commit()
    try:
        outcomes = send_chunk(provider, held)
    except ProviderError as exc:
        with uow_factory() as uow:
            nexts = record_failure(uow.session, held.claim, exc, now or utcnow(), settings)
            uow.commit()
        return nexts + extra
    with uow_factory() as uow:
        nexts, _ = record_answer(uow.session, held.claim, held.rows, outcomes, now or utcnow(), settings)
        uow.commit()
    return nexts + extra
