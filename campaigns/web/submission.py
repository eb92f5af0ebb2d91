"""Submitting a campaign over the web, shared by the API's route and the dashboard's
New-campaign page: the service request made from the options, the validation report of an
upload (the suppression list applied as a submit would), and the problem answer for each
refusal of the submit services."""

from __future__ import annotations

from pathlib import Path

from campaigns.web import schemas
from campaigns.web.problems import Problem


def submit_request(options: schemas.CampaignOptions, label: str):
    """The SubmitRequest for ``options``; the name defaults to the upload's ``label``."""
    from campaigns.providers.cascade.options import cascade_fields
    from campaigns.services.submit import SubmitRequest

    return SubmitRequest(
        text=options.text, name=options.name or label, provider=options.provider, sender=options.sender,
        country=options.country, placeholders=options.placeholders, rate_limit=options.rate_limit,
        rate_period=options.rate_period, deferred_to=options.deferred_to, validity=options.validity,
        mclass=options.mclass, encoding=options.encoding, sheet=options.sheet, excel_engine=options.excel_engine,
        ignore_suppression=options.ignore_suppression,
        cascade=cascade_fields(options.model_dump()) if options.provider == "cascade" else None,
    )


def validation_report(path: Path, request, settings, engine) -> dict:
    """The object ``campaigns validate --json`` prints for the upload at ``path``, opted-out
    phones marked as the submit would mark them. Raises FileRefused for a file refused as
    a whole."""
    from campaigns.ingest.service import IngestOptions, validate_file

    options = IngestOptions(text=request.text, country=request.country, placeholders=request.placeholders,
                            encoding=request.encoding, sheet=request.sheet, excel_engine=request.excel_engine)
    if not request.ignore_suppression:
        from campaigns.services.suppression import with_suppression

        options = with_suppression(options, engine)
    return validate_file(path, options, settings).to_dict()


def submit_problem(exc: Exception) -> Problem | None:
    """The problem answer for a refusal of the submit services; None for anything else."""
    from campaigns.ingest.readers import FileRefused
    from campaigns.services.enqueue import UnknownProvider
    from campaigns.services.idempotency import IdempotencyBusy, IdempotencyConflict
    from campaigns.services.submit import InvalidCampaign

    if isinstance(exc, FileRefused):
        return Problem(422, str(exc), kind="file-refused", errors=[{"field": "file", "message": exc.reason}])
    if isinstance(exc, InvalidCampaign):
        problems = list(getattr(exc, "problems", None) or [str(exc)])
        return Problem(422, "; ".join(problems), kind="invalid-campaign",
                       errors=[{"field": "campaign", "message": p} for p in problems])
    if isinstance(exc, UnknownProvider):
        return Problem(422, str(exc), kind="invalid-request", errors=[{"field": "provider", "message": str(exc)}])
    if isinstance(exc, IdempotencyConflict):
        return Problem(422, str(exc), kind="idempotency-conflict")
    if isinstance(exc, IdempotencyBusy):
        return Problem(409, str(exc), kind="idempotency-busy", headers={"Retry-After": "1"})
    if isinstance(exc, (ValueError, LookupError)):  # options that make no sense
        return Problem(422, str(exc), kind="invalid-request")
    return None
