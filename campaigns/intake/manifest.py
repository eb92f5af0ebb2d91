"""A drop's campaign settings: the folder's ``_campaign.json`` and the file's own manifest
(``promo.json``), whose keys override the folder's. The keys are the HTTP API's field
names (campaigns.web.schemas.CampaignOptions, validated by the same model, so a value the
API refuses is refused here with the same words), plus ``allow_repeat``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import ValidationError

from campaigns.providers.cascade.options import cascade_fields
from campaigns.services.submit import SubmitRequest
from campaigns.web.schemas import CampaignOptions

MAX_MANIFEST_BYTES = 64 * 1024


class DropOptions(CampaignOptions):
    allow_repeat: bool = False


KNOWN_KEYS = tuple(DropOptions.model_fields)


class ManifestError(ValueError):
    """The settings cannot be used; ``str(exc)`` is one line naming the manifest."""


@dataclass(frozen=True)
class DropSettings:
    request: SubmitRequest
    allow_repeat: bool


def _parse(path: str, text: str) -> dict:
    name = path.rpartition("/")[2]
    try:
        data = json.loads(text)
    except UnicodeDecodeError:
        raise ManifestError(f"{name}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{name}: must be a JSON object of settings, like {{\"text\": \"…\"}}")
    return data


def drop_settings(manifests: dict, file_path: str) -> DropSettings:
    """The campaign request for the drop at ``file_path`` from the manifests read when it
    was claimed (``{"folder": {"path", "text"}, "file": {"path", "text"}}``, either may
    be missing); the name defaults to the file's path. Raises ManifestError."""
    merged: dict = {}
    origin: dict[str, str] = {}
    for which in ("folder", "file"):
        found = (manifests or {}).get(which)
        if not found:
            continue
        if found.get("error"):
            raise ManifestError(found["error"])
        data = _parse(found["path"], found["text"])
        merged.update(data)
        origin.update({key: found["path"].rpartition("/")[2] for key in data})
    try:
        options = DropOptions.model_validate(merged)
    except ValidationError as exc:
        raise ManifestError(_first_problem(exc, origin)) from None
    request = SubmitRequest(
        text=options.text, name=options.name or file_path[:255], provider=options.provider, sender=options.sender,
        country=options.country, placeholders=options.placeholders, rate_limit=options.rate_limit,
        rate_period=options.rate_period, deferred_to=options.deferred_to, validity=options.validity,
        mclass=options.mclass, encoding=options.encoding, sheet=options.sheet, excel_engine=options.excel_engine,
        # the cascade gateway's channel options (issue 15), named as the API's fields
        cascade=cascade_fields(options.model_dump()) if options.provider == "cascade" else None,
    )
    return DropSettings(request=request, allow_repeat=options.allow_repeat)


def _first_problem(exc: ValidationError, origin: dict[str, str]) -> str:
    """Every problem, on one line, each naming the manifest its key came from."""
    problems = []
    where = " or ".join(dict.fromkeys(origin.values())) or "the manifest"
    for err in exc.errors():
        key = ".".join(str(p) for p in err.get("loc", ())) or "?"
        source = origin.get(key.split(".")[0], where)
        if err.get("type") == "extra_forbidden":
            problems.append(f"{source}: unknown key {key!r} (known: {', '.join(KNOWN_KEYS)})")
        elif err.get("type") == "missing":
            problems.append(f"{where}: no {key!r}: the message text is required")
        else:
            message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            problems.append(f"{source}: {key}: {message}")
    return "; ".join(problems)
