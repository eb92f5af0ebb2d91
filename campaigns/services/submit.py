"""Submit a campaign: check its parameters, ingest its file, queue it. Nothing reaches the
provider here; the first step (``create``) is returned for the runtime to schedule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping
from pathlib import Path

from sqlalchemy import Engine, delete

from campaigns.domain import CampaignState
from campaigns.ingest.readers import FileRefused
from campaigns.ingest.report import IngestReport
from campaigns.ingest.service import IngestOptions, ingest_file
from campaigns.providers.mobizon.checks import InvalidCampaign, campaign_problems, placeholders
from campaigns.providers.cascade import checks as cascade
from campaigns.providers.smsc.checks import PACED_PROVIDERS
from campaigns.providers.smsc.checks import campaign_problems as smsc_problems
from campaigns.providers.smsc.checks import chunk_size as paced_chunk_size
from campaigns.services.moves import move_campaign, utcnow
from campaigns.services.next import Next
from campaigns.settings import Settings
from campaigns.store.models import Campaign, Chunk, Recipient
from campaigns.store.uow import UnitOfWork
from campaigns.store.keys import of_campaign

__all__ = ["SubmitRequest", "SubmitResult", "submit_campaign", "InvalidCampaign", "FileRefused"]

S = CampaignState
PLACEHOLDER_MODES = ("keep", "strip", "reject")
# Providers that create the campaign through Mobizon's Campaign/Create (the sandbox is the
# project's Mobizon simulator), so Create's rules apply before anything is sent.
MOBIZON_LIKE = frozenset({"mobizon", "sandbox"})


@dataclass(frozen=True)
class SubmitRequest:
    text: str
    name: str | None = None  # default: the file's name
    provider: str = "sandbox"
    sender: str | None = None
    country: str | None = None
    placeholders: str = "keep"  # keep | strip | reject (Mobizon placeholdersFlag 1 | 2 | 3)
    rate_limit: int | None = None
    rate_period: int | None = None
    deferred_to: str | None = None  # "YYYY-MM-DD HH:MM:SS"
    validity: int | None = None
    mclass: int | None = None
    encoding: str | None = None
    sheet: str | None = None
    excel_engine: str = "calamine"
    # the cascade gateway's channels and per-channel texts, named as submit's options
    # (channels, viber_text, sms_text, vk_template_id…; campaigns.providers.cascade.options)
    cascade: Mapping[str, Any] | None = None
    # send to phones on the suppression list too (transactional messages; issue 11)
    ignore_suppression: bool = False


@dataclass(frozen=True)
class SubmitResult:
    campaign_id: int
    report: IngestReport
    next: list[Next] = field(default_factory=list)


def check_request(request: SubmitRequest, name: str) -> int:
    """The campaign type (3 template when the text has placeholders, else 2 mass); raises
    InvalidCampaign listing every problem with the parameters."""
    campaign_type = 3 if placeholders(request.text) else 2
    problems: list[str] = []
    if request.placeholders not in PLACEHOLDER_MODES:
        problems.append(f"placeholders must be one of {', '.join(PLACEHOLDER_MODES)}, got {request.placeholders!r}")
    if request.provider in MOBIZON_LIKE:
        problems += campaign_problems(
            name=name, text=request.text, type=campaign_type, rate_limit=request.rate_limit,
            rate_period=request.rate_period, deferred_to=request.deferred_to, mclass=request.mclass,
            validity=request.validity,
        )
    elif request.provider in cascade.CASCADE_PROVIDERS:
        problems += cascade.campaign_problems(request)
    elif request.provider in PACED_PROVIDERS:
        problems += smsc_problems(
            text=request.text, type=campaign_type, rate_limit=request.rate_limit, rate_period=request.rate_period,
            deferred_to=request.deferred_to, mclass=request.mclass, validity=request.validity,
        )
    elif not request.text or not request.text.strip():
        problems.append("the message text is empty")
    if problems:
        raise InvalidCampaign(problems)
    return campaign_type


def submit_campaign(path: Path, request: SubmitRequest, settings: Settings, engine: Engine) -> SubmitResult:
    """Create the campaign (draft), ingest ``path`` into its recipients and chunks, and queue
    it; returns its id, the ingest report and [Next("create")].

    Raises InvalidCampaign (a ValueError) for parameters the provider would refuse, before
    the file is read; FileRefused when the file is refused as ``validate`` would refuse it
    (nothing is left behind: the draft is removed); ValueError for options that make no
    sense (an unknown country).
    """
    path = Path(path)
    name = request.name or path.name
    campaign_type = check_request(request, name)
    is_cascade = request.provider in cascade.CASCADE_PROVIDERS
    if is_cascade:
        request = cascade.prepared(request, settings)
    uow_factory = lambda: UnitOfWork(engine)  # noqa: E731
    now = utcnow()
    with uow_factory() as uow:
        campaign = Campaign(
            name=name, provider=request.provider, text=request.text, type=campaign_type, sender=request.sender,
            country=request.country, placeholders=request.placeholders, rate_limit=request.rate_limit,
            rate_period=request.rate_period, deferred_to=request.deferred_to, validity=request.validity,
            mclass=request.mclass, source_name=path.name[:255], state=S.DRAFT.value,
            provider_options=cascade.provider_options(request) if is_cascade else None,
            ignore_suppression=request.ignore_suppression,
            state_changed_at=now, created_at=now, updated_at=now,
        )
        uow.session.add(campaign)
        uow.commit()
        campaign_id = campaign.id

    options = IngestOptions(
        text=request.text, country=request.country, placeholders=request.placeholders,
        encoding=request.encoding, sheet=request.sheet, excel_engine=request.excel_engine,
    )
    if request.provider in PACED_PROVIDERS or is_cascade:
        # one chunk is one packet of the campaign's pace (issue 5)
        settings = settings.with_(chunk_size=paced_chunk_size(request.rate_limit, request.rate_period, settings))
    try:
        report = ingest_file(path, options, settings, engine, campaign_id, suppression=not request.ignore_suppression)
        if not report.sendable:  # ingest_file refuses these itself; never queue one
            raise FileRefused(path.name, report.refusal or "no valid recipients")
    except BaseException:
        _remove_draft(uow_factory, campaign_id)
        raise

    with uow_factory() as uow:
        move_campaign(uow.session, campaign_id, [S.DRAFT], S.QUEUED, utcnow())
        uow.commit()
    return SubmitResult(campaign_id=campaign_id, report=report, next=[Next("create", campaign_id)])


def _remove_draft(uow_factory, campaign_id: int) -> None:
    # ingest_file removed its own rows; recipients carry no foreign key (bulk-load speed), so
    # any left by a crash between the two are deleted here explicitly, with the draft.
    with uow_factory() as uow:
        gone = uow.session.execute(
            delete(Campaign).where(Campaign.id == campaign_id, Campaign.state == S.DRAFT.value)
        ).rowcount
        if gone:
            uow.session.execute(delete(Recipient).where(of_campaign(Recipient.id, campaign_id)))
            uow.session.execute(delete(Chunk).where(Chunk.campaign_id == campaign_id))
        uow.commit()
