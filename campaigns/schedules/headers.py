"""Source headers (``--source-header 'Authorization: …'``) kept encrypted at rest.

A schedule reads its source at every fire time, so the header must be kept; the database
holds it only encrypted (Fernet, a key derived from CAMPAIGNS_SECRET_KEY), and nothing
shows more than the header's name. Values are registered with campaigns.redact when
decrypted, so a message that would quote one masks it.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Mapping

from campaigns.redact import register_secret
from campaigns.schedules.cron import ScheduleInputError


class HeaderKeyMissing(ScheduleInputError):
    """Source headers need CAMPAIGNS_SECRET_KEY, which is not set (or differs from the one they were kept with)."""


def parse_header(raw: str) -> tuple[str, str]:
    """``'Name: value'`` as (name, value); raises ScheduleInputError (the message never
    shows the value)."""
    name, sep, value = (raw or "").partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value or any(ch in name for ch in " \t\r\n") or "\n" in value or "\r" in value:
        raise ScheduleInputError("--source-header must look like 'Name: value' (one header per option)")
    return name, value


def _fernet(secret_key: str | None):
    from cryptography.fernet import Fernet

    if not secret_key:
        raise HeaderKeyMissing("source headers are kept encrypted: set CAMPAIGNS_SECRET_KEY (any long random "
                               "string, the same for every process of this database)")
    digest = hashlib.sha256(("campaigns source headers\0" + secret_key).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(headers: Mapping[str, str], secret_key: str | None) -> dict[str, str] | None:
    """``headers`` with encrypted values (None when there are none); raises HeaderKeyMissing."""
    if not headers:
        return None
    box = _fernet(secret_key)
    return {name: box.encrypt(value.encode()).decode() for name, value in headers.items()}


def unseal(sealed: Mapping[str, str] | None, secret_key: str | None) -> dict[str, str]:
    """The headers in clear; raises HeaderKeyMissing when the key is missing or another."""
    if not sealed:
        return {}
    from cryptography.fernet import InvalidToken

    box = _fernet(secret_key)
    out = {}
    for name, token in sealed.items():
        try:
            value = box.decrypt(token.encode()).decode()
        except InvalidToken:
            raise HeaderKeyMissing(f"the source header {name!r} was kept with another CAMPAIGNS_SECRET_KEY; "
                                   "set it again with `campaigns schedule edit ID --source-header`") from None
        register_secret(value)
        for part in value.split():
            register_secret(part)  # 'Bearer xyz': the token alone is masked too
        out[name] = value
    return out
