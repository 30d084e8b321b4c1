"""Structured logging: JSON lines for machines, coloured lines for people.

Bind context (``account``, ``folder``, ``uid``) with ``structlog.contextvars`` or
``log.bind``; keys that look like secrets are masked before anything is written.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = ("password", "secret", "token", "authorization", "credential")


def _mask_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in event:
        if any(marker in key.lower() for marker in _SECRET_KEYS):
            event[key] = "***"
    return event


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the moment of writing, not at configuration.

    A logger configured once must keep working when stderr is replaced (test capture,
    a daemon re-opening its streams)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(fmt: str | None = None, level: str = "info", stream: Any = None) -> None:
    """Set up structlog; ``fmt`` is json, console, or None for console on a TTY."""
    stream = stream if stream is not None else _CurrentStderr()
    if fmt is None:
        fmt = "console" if getattr(stream, "isatty", lambda: False)() else "json"
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=getattr(stream, "isatty", lambda: False)())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _mask_secrets,
            structlog.processors.format_exc_info if fmt == "json" else structlog.dev.set_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


def get_logger(**context: Any) -> Any:
    return structlog.get_logger("bouncer").bind(**context)
