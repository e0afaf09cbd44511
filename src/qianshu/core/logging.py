"""Structured JSON logging that never carries personal data.

Log lines hold public ids (`usr_…`), event names and counts only. As a second line of defence a
processor drops any value that looks like a phone number, e-mail address or ID number.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

_REDACT_PATTERNS = [
    re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)"),  # mainland mobile
    re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"),  # e-mail
    re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)"),  # resident ID
    re.compile(r"(?<!\d)\d{15,19}(?!\d)"),  # bank card
]
_FORBIDDEN_KEYS = {"phone", "email", "name", "id_number", "password", "code", "ip", "user_agent"}


def scrub(value: str) -> str:
    """Replace anything that looks like personal data with `[redacted]`."""
    for pattern in _REDACT_PATTERNS:
        value = pattern.sub("[redacted]", value)
    return value


def _scrub_processor(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in list(event):
        if key in _FORBIDDEN_KEYS:
            event[key] = "[redacted]"
        elif isinstance(event[key], str):
            event[key] = scrub(event[key])
    return event


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    """Route stdlib and structlog output through one JSON renderer."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _scrub_processor,
    ]
    structlog.configure(
        # filter_by_level first: a debug line at level INFO costs a comparison, not the whole chain.
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        foreign_pre_chain=shared,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # uvicorn's access log prints client addresses: personal data under PIPL.
    logging.getLogger("uvicorn.access").disabled = True


def get_logger(name: str) -> Any:
    """Return a structlog logger."""
    return structlog.get_logger(name)
