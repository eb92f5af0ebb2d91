"""A cascade campaign's options: which channels in which order, and what each says.

They are given as ``submit``'s options (``--channels viber,vk,sms --viber-text …``), the
API's fields and the Celery task's, checked here before the file is read, stored on the
campaign (``campaigns.provider_options``) and handed to the adapter in the campaign's
spec. A channel's text defaults to the campaign's ``--text``, its sender to ``--from``.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping
from urllib.parse import urlsplit

from campaigns.providers.cascade import codes
from campaigns.providers.cascade.wire import MAX_BUTTON_TEXT, MAX_VIBER_TEXT

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
MAX_SMS_SEGMENTS = 10  # an SMS text longer than this many parts is surely a mistake


@dataclass(frozen=True)
class CascadeOptions:
    channels: tuple[str, ...] = codes.CHANNELS  # tried in this order
    viber_text: str | None = None
    viber_sender: str | None = None
    sms_text: str | None = None
    sms_sender: str | None = None
    vk_template_id: int | None = None
    vk_template_data: Mapping[str, Any] | None = None
    button_text: str | None = None
    button_url: str | None = None
    image_url: str | None = None
    viber_validity: int | None = None  # minutes
    viber_read_final: bool | None = None

    @property
    def order(self) -> dict[str, int]:
        """send_viber / send_vk / send_sms: 1..9 the order, absent (0) when off."""
        return {channel: position for position, channel in enumerate(self.channels, start=1)}

    def as_json(self) -> dict[str, Any]:
        """What is stored on the campaign: the options that are set."""
        data = asdict(self)
        data["channels"] = list(self.channels)
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> "CascadeOptions":
        """Options from their stored or given form; unknown keys are ignored. Raises
        ValueError for channels that cannot be read (``problems`` says more)."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known and v is not None and v != ""}
        if "channels" in values:
            values["channels"] = parse_channels(values["channels"])
        if isinstance(values.get("vk_template_data"), str):
            values["vk_template_data"] = json.loads(values["vk_template_data"])
        for name in ("vk_template_id", "viber_validity"):
            if name in values:
                values[name] = int(values[name])
        if "viber_read_final" in values:
            values["viber_read_final"] = values["viber_read_final"] in (True, 1, "1", "true", "yes")
        return cls(**values)


def parse_channels(value: Any) -> tuple[str, ...]:
    """"viber,vk,sms" (or a list) as a tuple in that order. Raises ValueError for an
    unknown or repeated channel, or none."""
    items = value.split(",") if isinstance(value, str) else list(value)
    channels = tuple(str(item).strip().lower() for item in items if str(item).strip())
    unknown = [c for c in channels if c not in codes.CHANNELS]
    if unknown:
        raise ValueError(f"unknown channel(s) {', '.join(unknown)}; the gateway has {', '.join(codes.CHANNELS)}")
    if len(set(channels)) != len(channels):
        raise ValueError("a channel is named twice in --channels")
    if not channels:
        raise ValueError("--channels names no channel (viber, vk, sms)")
    return channels


def _placeholders(text: str) -> list[str]:
    return _PLACEHOLDER.findall(text or "")


def problems(data: Mapping[str, Any] | None, *, text: str, sender: str | None) -> list[str]:
    """Every reason the gateway (seed 001) would refuse these options, or a message could
    not be filled from the file; [] when none. Per-channel texts are checked as --text is:
    placeholders by the project's rule and only those --text uses (their columns are the
    ones the file is checked for), and the SMS text's segments."""
    from campaigns.ingest import segments
    from campaigns.providers.mobizon.checks import placeholder_problems

    try:
        options = CascadeOptions.from_mapping(data)
    except json.JSONDecodeError as exc:
        return [f"--vk-template-data is not JSON: {exc.msg}"]
    except (TypeError, ValueError) as exc:
        return [str(exc)]
    found: list[str] = []
    allowed = set(_placeholders(text))
    channels = set(options.channels)
    named = {"viber_text": "--viber-text", "sms_text": "--sms-text"}
    for key, flag in named.items():
        value = getattr(options, key)
        if value is None:
            continue
        if not value.strip():
            found.append(f"{flag} is empty")
            continue
        found += [f"{flag}: {p}" for p in placeholder_problems(value, template=bool(allowed))]
        extra = sorted(set(_placeholders(value)) - allowed)
        if extra:
            found.append(f"{flag} uses {', '.join('{' + e + '}' for e in extra)}, which --text does not: "
                         "a channel's text may use only the placeholders of --text")
    if "viber" in channels:
        viber = options.viber_text or text
        if len(viber) > MAX_VIBER_TEXT:
            found.append(f"a Viber text holds at most {MAX_VIBER_TEXT} characters; this one has {len(viber)}")
    if "sms" in channels and not _placeholders(options.sms_text or text):
        parts, _ = segments.count(options.sms_text or text)
        if parts > MAX_SMS_SEGMENTS:
            found.append(f"the SMS text takes {parts} segments; at most {MAX_SMS_SEGMENTS} are sent")
    if (options.button_text is None) != (options.button_url is None):
        found.append("give both --button-text and --button-url, or neither (seed 001)")
    if options.button_text is not None and len(options.button_text) > MAX_BUTTON_TEXT:
        found.append(f"--button-text holds at most {MAX_BUTTON_TEXT} characters (seed 001)")
    for flag, url in (("--button-url", options.button_url), ("--image-url", options.image_url)):
        if url is not None and urlsplit(url).scheme not in ("http", "https"):
            found.append(f"{flag} must be an http(s) URL")
    if options.image_url is not None and options.button_text is None:
        found.append("an image needs a button: give --button-text and --button-url with --image-url (seed 001)")
    if "viber" not in channels and any(
        v is not None for v in (options.viber_text, options.button_text, options.image_url, options.viber_validity)
    ):
        found.append("Viber options are given but viber is not in --channels")
    if "vk" in channels and options.vk_template_id is None:
        found.append("VK sends an approved template: give --vk-template-id (and --vk-template-data) for the vk channel")
    if options.vk_template_id is not None and options.vk_template_id < 1:
        found.append("--vk-template-id must be a positive number")
    if options.vk_template_data is not None:
        if not isinstance(options.vk_template_data, Mapping):
            found.append("--vk-template-data must be a JSON object of the template's parameters")
        else:
            extra = sorted({p for v in options.vk_template_data.values() for p in _placeholders(str(v))} - allowed)
            if extra:
                found.append(f"--vk-template-data uses {', '.join('{' + e + '}' for e in extra)}, which --text does not")
    if options.viber_validity is not None and not 1 <= options.viber_validity <= 24 * 60:
        found.append("--viber-validity is 1 to 1440 minutes")
    for flag, value in (("--viber-sender", options.viber_sender or sender), ("--sms-sender", options.sms_sender or sender)):
        if value is not None and len(value) > 64:
            found.append(f"{flag} holds at most 64 characters")
    return found


FIELDS = tuple(f.name for f in fields(CascadeOptions))


def cascade_fields(given: Mapping[str, Any]) -> dict[str, Any]:
    """The cascade options among ``given`` (an API request's or a manifest's fields) that
    are set, as SubmitRequest.cascade takes them."""
    return {name: given[name] for name in FIELDS if given.get(name) is not None}
