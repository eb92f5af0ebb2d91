"""A logging filter that passes every record through ``campaigns.redact`` before it is written.

Installed on the worker's and beat's handlers (Celery's ``after_setup_logger`` signals) and
on the embedded runner's, so an API key that slipped into a message, an argument or a
traceback never reaches a log file.
"""

from __future__ import annotations

import logging

from campaigns.redact import redact


class RedactingFilter(logging.Filter):
    """Rewrites the record's message and traceback text with secrets masked; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not format: keep its raw text
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Add the filter to every handler of ``logger`` (default: the root logger), once."""
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
