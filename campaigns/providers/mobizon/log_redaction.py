"""Keeping API keys out of the HTTP libraries' log records.

httpx logs every request's URL at INFO on the ``httpx`` logger
(``HTTP Request: POST https://…?apiKey=… "HTTP/1.1 200 OK"``), and Mobizon's key
travels in that URL's query. A filter on the loggers that emit such records rewrites
each record's message through ``campaigns.redact.redact`` before any handler sees it.
Filters on a logger apply only to records created by that very logger, so each
emitting logger gets one.
"""

from __future__ import annotations

import logging
import threading

from campaigns.redact import redact

HTTP_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)
_lock = threading.Lock()


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with every known secret masked; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose args do not fit its format: leave it to logging
            return True
        clean = redact(message)
        if clean != message:
            record.msg = clean
            record.args = None
        return True


def install_log_redaction(names: tuple[str, ...] = HTTP_LOGGERS) -> None:
    """Attach one RedactingFilter to each logger of ``names``; calling it again adds none."""
    with _lock:
        for name in names:
            logger = logging.getLogger(name)
            if not any(isinstance(f, RedactingFilter) for f in logger.filters):
                logger.addFilter(RedactingFilter())
