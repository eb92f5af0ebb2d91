"""How campaigns and messages look on the wire: the dicts Campaign/Get, GetInfo, List and
Message/List, GetSMSStatus answer with. Ids, counters and costs are strings, as the live
API sends them; ``extra`` is an object in GetInfo and a serialized string in List."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from campaigns.simulator.campaign import SimCampaign, SimMessage, format_ts, money
from campaigns.simulator.config import SimConfig
from campaigns.simulator.phones import number_info

_LINK = re.compile(r"https?://[^\s<>\"']+")
_UUID_NAMESPACE = uuid.UUID("6f1c1c2e-5a8e-4d4e-9a51-3f3c0b1e7a10")


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


def _extra(c: SimCampaign) -> dict[str, Any]:
    return {
        "validity": _s(c.validity if c.validity is not None else 1440),
        "mclass": str(c.mclass),
        "isTestAlphanameUsed": c.sender is None,
        "coding": "0",
        "charset": "UTF-8",
        "trackShortLinkRecipients": str(c.track_links),
    }


def _send_status(c: SimCampaign, now: float) -> str:
    status = c.status(now)
    if status in ("RUNNING", "SENT", "DONE", "DEFERRED"):
        return status
    return "NEW"


def campaign_get(c: SimCampaign, now: float) -> dict[str, Any]:
    """Campaign/Get: the main campaign data."""
    return {
        "id": str(c.id),
        "type": str(c.type),
        "name": c.name,
        "text": c.text,
        "msgType": "SMS",
        "from": c.sender,
        "rateLimit": _s(c.rate_limit),
        "ratePeriod": _s(c.rate_period),
        "deferredToTs": c.deferred_text,
        "mclass": str(c.mclass),
        "ttl": _s(c.validity),
        "commonStatus": c.status(now),
        "createTs": format_ts(c.create_ts),
        "extra": _extra(c),
    }


def campaign_info(c: SimCampaign, now: float, config: SimConfig, *, filled: bool) -> dict[str, Any]:
    """Campaign/GetInfo: the campaign, its status fields, ``extra`` and its counters."""
    t = c.timeline
    text = c.text
    if filled and c.type == 3 and c.messages:
        # getFilledTplCampaignText=1: "the text of the template campaign filled out with real recipient data"
        text = c.messages[0].text
    return {
        "id": str(c.id),
        "userId": "1",
        "partnerId": "1",
        "type": str(c.type),
        "msgType": "SMS",
        "name": c.name,
        "from": c.sender,
        "text": text,
        "rateLimit": _s(c.rate_limit),
        "ratePeriod": _s(c.rate_period),
        "deferredToTs": c.deferred_text,
        "commonStatus": c.status(now),
        "moderationStatus": c.moderation_status(now),
        "sendStatus": _send_status(c, now),
        "creationWay": "2",
        "createTs": format_ts(c.create_ts),
        "startSendTs": format_ts(t.start_ts) if t and now >= t.start_ts and not t.declined else None,
        "endSendTs": format_ts(t.end_send_ts) if t and now >= t.end_send_ts and not t.declined else None,
        "extra": _extra(c),
        "groups": None,
        "counters": c.counters(now, config),
    }


def campaign_item(c: SimCampaign, now: float, config: SimConfig) -> dict[str, Any]:
    """One item of Campaign/List."""
    t = c.timeline
    status = c.status(now)
    return {
        "id": str(c.id),
        "userId": "1",
        "partnerId": "1",
        "type": str(c.type),
        "name": c.name,
        "msgType": "SMS",
        "from": c.sender,
        "text": c.text,
        "startTs": format_ts(t.start_ts) if t and not t.declined and now >= t.start_ts else None,
        "createTs": format_ts(c.create_ts),
        "rateLimit": _s(c.rate_limit),
        "ratePeriod": _s(c.rate_period),
        "status": status,
        "commonStatus": status,
        "creationWay": "2",
        "isDeleted": "0",
        "extra": json.dumps(_extra(c), separators=(",", ":")),
        "groups": None,
        "counters": c.counters(now, config),
    }


def campaign_links(c: SimCampaign) -> list[dict[str, Any]]:
    """Campaign/GetLinks: one short link per URL in the campaign's text."""
    links = []
    for i, url in enumerate(dict.fromkeys(_LINK.findall(c.text)), start=1):
        code = f"{c.id:x}{i:x}"
        links.append({
            "id": str(c.id * 100 + i),
            "code": code,
            "fullLink": url,
            "shortLink": f"https://mbz.ink/{code}",
            "clickCnt": "0",
            "redirectCnt": "0",
            "comment": "",
        })
    return links


def sms_status(c: SimCampaign, m: SimMessage, now: float) -> dict[str, Any]:
    """One element of Message/GetSMSStatus."""
    status, sent, updated = c.message_state(m, now)
    return {
        "id": str(m.id),
        "status": status,
        "segNum": str(m.seg_num),
        "startSendTs": format_ts(sent),
        "statusUpdateTs": format_ts(updated),
    }


def message_item(c: SimCampaign, m: SimMessage, now: float, config: SimConfig, *, number_info_wanted: bool) -> dict[str, Any]:
    """One item of Message/List."""
    status, sent, updated = c.message_state(m, now)
    country, operator = number_info(m.phone) if number_info_wanted else (None, None)
    return {
        "id": str(m.id),
        "campaignId": str(c.id),
        "segNum": str(m.seg_num),
        "segUserBuy": money(config.segment_price),
        "from": c.sender,
        "to": m.phone,
        "text": m.text,
        "status": status,
        "groups": None,
        "uuid": str(uuid.uuid5(_UUID_NAMESPACE, str(m.id))),
        "countryA2": country,
        "operatorName": operator,
        "startSendTs": format_ts(sent),
        "statusUpdateTs": format_ts(updated),
    }
