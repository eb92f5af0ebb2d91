"""Keeping secrets out of log records: one filter, installed where records are made and
where they are written.

httpx logs every request's URL at INFO on the ``httpx`` logger
(``HTTP Request: POST https://…?apiKey=… "HTTP/1.1 200 OK"``) and Mobizon's key travels
in that query, so the HTTP libraries' loggers get the filter (``install_on_loggers``:
a logger's filters apply only to the records that logger creates). The worker's, beat's
and embedded runner's handlers get it too (``install_on_handlers``), so a key that slipped
into a message, an argument or a traceback never reaches a log file.
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
    """Rewrites a record's message and traceback text with secrets masked; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not format: keep its raw text
            message = str(record.msg)
        clean = redact(message)
        if clean != message or record.args:
            record.msg = clean
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _has_filter(filterer: logging.Filterer) -> bool:
    return any(isinstance(f, RedactingFilter) for f in filterer.filters)


def install_on_loggers(names: tuple[str, ...] = HTTP_LOGGERS) -> None:
    """Attach one RedactingFilter to each logger of ``names``; calling it again adds none."""
    with _lock:
        for name in names:
            logger = logging.getLogger(name)
            if not _has_filter(logger):
                logger.addFilter(RedactingFilter())


def install_on_handlers(logger: logging.Logger | None = None) -> None:
    """Add the filter to every handler of ``logger`` (default: the root logger), once."""
    logger = logger or logging.getLogger()
    with _lock:
        for handler in logger.handlers:
            if not _has_filter(handler):
                handler.addFilter(RedactingFilter())
