"""Adding a campaign's chunks back to back, with the database work off the critical path.

AddRecipients locks the campaign while it runs (Campaign module, AddRecipients: "the
campaign is blocked for any other adding recipients' request"), so a campaign's chunks go
one at a time and the time between one chunk's answer and the next chunk's request is
lost. Here that time is only what must come first: while chunk N is at the provider (the
call runs in a thread of its own), one transaction records chunk N-1's answer (its
outcomes with its move to ``added``) and claims chunk N+1 and reads its recipients, and
N+1's request is built (``port.prepare_chunk``). When N's answer comes, N+1 is sent at
once if the answer was a success and N's counts of added and rejected recipients would
not pause the campaign; otherwise N+1 is never sent: it is given back (``pending``) in
the transaction recording N's failure or answer, as the normal path records them. The
provider hands over the counts (``ChunkAnswer``) before working out each recipient's
outcome, and only once it has checked everything that could refuse the answer; the
outcomes are worked out after N+1 is sent, while it is in flight.

Crash safety is the normal path's: the claim of N+1 is committed before N+1 is sent, so
a worker killed at any moment leaves each chunk ``pending`` (never sent) or ``adding``
(maybe sent), and the scanner reclaims an ``adding`` chunk after ``stall_seconds`` and
resends it with ``resend=True`` (code 4 then means "already added", PROVIDERS.md). Two
chunks of one campaign are ``adding`` only while the earlier one's answer is in hand.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from campaigns.providers.errors import ProviderError
from campaigns.providers.port import ChunkAnswer, PreparedChunk, Provider, RecipientOutcome, prepare_chunk
from campaigns.services.chunk_claims import HeldChunk, claim_following, claim_with_rows, nothing_to_claim
from campaigns.services.chunk_records import Totals, campaign_totals, record_answer, record_failure, release
from campaigns.services.moves import utcnow
from campaigns.services.next import Next
from campaigns.settings import Settings
from campaigns.store.uow import UnitOfWork


@dataclass(frozen=True)
class _Answered:
    """A chunk the provider answered, whose outcomes are not recorded yet."""

    held: HeldChunk
    answer: ChunkAnswer


def prepare(provider: Provider, held: HeldChunk) -> PreparedChunk:
    """The held chunk's AddRecipients request, built now (``port.prepare_chunk``); raises
    what the provider raises for a request it would refuse before sending."""
    claim = held.claim
    return prepare_chunk(
        provider, claim.provider_campaign_id, f"{claim.campaign_id}:{claim.seq}", [r for _, r in held.rows],
        resend=claim.resend, spec=claim.spec,
    )


def send_chunk(provider: Provider, held: HeldChunk) -> list[RecipientOutcome]:
    """AddRecipients for the held chunk; raises the provider's errors."""
    return prepare(provider, held).send().outcomes()


def _start(sender: ThreadPoolExecutor, request: PreparedChunk) -> Future:
    """Send ``request`` in the ``sender`` thread; returns once that thread runs. From there
    it holds the GIL until the request is on the wire (its first wait on the network), so
    the work that follows here does not delay the request by a switch interval."""
    started = threading.Event()

    def send() -> ChunkAnswer:
        started.set()
        return request.send()

    in_flight = sender.submit(send)
    started.wait()
    return in_flight


def add_pipelined(
    campaign_id: int,
    uow_factory: Callable[[], UnitOfWork],
    provider: Provider,
    settings: Settings,
    *,
    now: datetime | None,
    go_on: Callable[[], bool],
) -> list[Next]:
    """Claim the campaign's next chunk and add it, then the following ones while
    ``go_on()`` says so, each sent as soon as the previous one's answer is in (see the
    module doc). Returns what follows the last chunk handled: [Next("add")] for more at
    once, [Next("add", countdown)] after a failure or rate limit, [Next("launch")] when
    every chunk is settled, [] when there is nothing to do (another chunk in flight, the
    campaign paused, failed or moved on). Raises only on database errors (and whatever a
    provider raises outside its ``ProviderError``s), leaving the chunks it held ``adding``
    for the scanner."""
    start = now or utcnow()
    with uow_factory() as uow:
        held = claim_with_rows(uow.session, campaign_id, start, settings)
        if held is None:
            nexts = nothing_to_claim(uow.session, campaign_id, start)
            uow.commit()
            return nexts
        uow.commit()
    request = prepare(provider, held)
    answered: _Answered | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"add-{campaign_id}") as sender:
        while True:
            in_flight = _start(sender, request)
            following, totals = _meanwhile(campaign_id, uow_factory, settings, now, answered, held, go_on)
            # Built while ``held`` is in flight; a request the provider refuses to build
            # raises here, leaving both chunks ``adding`` for the scanner.
            request = prepare(provider, following) if following is not None else None
            try:
                answer = in_flight.result()
            except ProviderError as exc:
                with uow_factory() as uow:
                    at = now or utcnow()
                    nexts = record_failure(uow.session, held.claim, exc, at, settings)
                    if following is not None:
                        release(uow.session, following.claim, at)
                    uow.commit()
                return nexts
            # The answer's counts decide: its outcomes are worked out once the next chunk is
            # on its way (recorded in the next _meanwhile), or below when nothing follows.
            if following is None or totals.pauses(settings, added=answer.added, rejected=answer.rejected):
                # The last chunk of this call, or one whose rejections pause the campaign:
                # recorded now, the next one (never sent) given back in the same transaction.
                with uow_factory() as uow:
                    at = now or utcnow()
                    if following is not None:
                        release(uow.session, following.claim, at)
                    nexts, _ = record_answer(uow.session, held.claim, held.rows, answer.outcomes(), at, settings)
                    uow.commit()
                return nexts
            answered, held = _Answered(held, answer), following


def _meanwhile(
    campaign_id: int,
    uow_factory: Callable[[], UnitOfWork],
    settings: Settings,
    now: datetime | None,
    answered: _Answered | None,
    held: HeldChunk,
    go_on: Callable[[], bool],
) -> tuple[HeldChunk | None, Totals | None]:
    """While ``held`` is at the provider, in one transaction: record ``answered`` and, when
    the campaign goes on at once and ``go_on()``, claim the next chunk. Returns it (or None)
    with the campaign's totals before ``held``'s answer."""
    if answered is None and not go_on():
        return None, None
    with uow_factory() as uow:
        at = now or utcnow()
        nexts, totals = [Next("add", campaign_id)], None
        if answered is not None:
            a = answered.held
            nexts, totals = record_answer(uow.session, a.claim, a.rows, answered.answer.outcomes(), at, settings)
        following = None
        if nexts == [Next("add", campaign_id)] and go_on():
            following = claim_following(uow.session, held.claim, at)
            if following is not None and totals is None:
                totals = campaign_totals(uow.session, campaign_id)
        uow.commit()
    return following, totals
