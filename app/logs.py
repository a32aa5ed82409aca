"""One log setup for every process: JSON lines (or text), context bound once per delivery.

The code logs through the standard library (`logging.getLogger(...)` with a constant
message and `extra={...}`); structlog's ProcessorFormatter renders those records, and
the lines of gunicorn and dramatiq, with the same processors (warehouse's
`warehouse/logging.py` does the same). `bound(...)` puts fields such as `intent_id` and
`doi` into a context variable, so every line of one delivery carries them.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any

import structlog
from structlog.typing import EventDict, Processor

FORMATS = ("json", "text")
# Libraries whose INFO lines say nothing an operator needs.
QUIET = ("alembic.runtime.plugins", "urllib3", "botocore", "werkzeug")


def configure(
    fmt: str = "json",
    level: str = "INFO",
    *,
    secrets: Iterable[str | None] = (),
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Send every log record of this process through one formatter; returns its handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(fmt, secrets=secrets))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("gunicorn.error", "gunicorn.access", "dramatiq"):
        # Their own handlers would print the same line twice, in another format.
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler


# Environment variables whose values must never appear in a log line.
SECRET_VARIABLES = ("SECRET_KEY", "DATACITE_PASSWORD", "AWS_SECRET_ACCESS_KEY")


def configure_from_environment(
    default_format: str = "json", level: str | None = None, *, stream: IO[str] | None = None
) -> logging.Handler:
    """`configure` with LOG_FORMAT (json|text) and LOG_LEVEL; ValueError names a bad one."""
    fmt = os.environ.get("LOG_FORMAT") or default_format
    if fmt not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be json or text, not {fmt!r}")
    secrets = [os.environ.get(name) for name in SECRET_VARIABLES]
    level = level or os.environ.get("LOG_LEVEL") or "INFO"
    return configure(fmt, level, secrets=secrets, stream=stream)


def formatter(fmt: str, *, secrets: Iterable[str | None] = ()) -> logging.Formatter:
    """The formatter `configure` installs (gunicorn's logger class uses it too)."""
    if fmt not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
    renderer: Processor = (
        structlog.processors.JSONRenderer(default=str)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    pre_chain: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            SecretScrubber(secrets),
            renderer,
        ],
    )


class SecretScrubber:
    """Last line of defence: a configured secret never leaves in a log line, whoever logged it."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        # Very short values would mask innocent text; real secrets are longer.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, _logger: Any, _name: str, event: EventDict) -> EventDict:
        if not self.secrets:
            return event
        return {key: self._scrub(value) for key, value in event.items()}

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                value = value.replace(secret, "***")
            return value
        if isinstance(value, list | tuple):
            return [self._scrub(item) for item in value]
        if isinstance(value, dict):
            return {key: self._scrub(item) for key, item in value.items()}
        return value


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Every log line inside the block (in this thread or task) carries `fields`."""
    with structlog.contextvars.bound_contextvars(**fields):
        yield
