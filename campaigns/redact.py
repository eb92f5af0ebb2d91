"""Removing secrets from text before it reaches a log, an exception, a file or the database.

API keys travel in Mobizon's query string (``apiKey=``) and SMSC's (``psw=``, ``apikey=``),
so any URL is suspect. Clients also register their concrete secrets with
``register_secret`` so that a key appearing anywhere else is masked too.
"""

from __future__ import annotations

import re
import threading

_QUERY_SECRET = re.compile(r"(?i)\b(apikey|api_key|psw|password|passwd|token|secret)=([^&\s'\"]+)")
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)([^@/\s]+)(@)")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a concrete secret (an API key, a password) so ``redact`` masks it anywhere."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """``text`` with every known secret and every secret-looking URL parameter masked."""
    if not text:
        return text
    text = _QUERY_SECRET.sub(lambda m: f"{m.group(1)}=***", text)
    text = _URL_PASSWORD.sub(r"\1***\3", text)
    text = _BEARER.sub(r"\1***", text)
    for secret in tuple(_secrets):
        if secret in text:
            text = text.replace(secret, "***")
    return text


def redact_url(url: str) -> str:
    """A URL safe to print: no password, no key parameters."""
    return redact(url)
