"""What every process checks before it says it started: settings, database, schema, Redis.

One function, `prepare`, called by every process command (the web app factory and
gunicorn's master, `doiflow relay`, `workers/worker.py`, the CLI's commands), so a new
process is one call. What it does, and how each process reports it:

- a missing or malformed variable: one line naming it and what is accepted, exit 2;
- the database or Redis unreachable: long-running processes (`wait=True`) log one
  line per try and retry with backoff (1, 2, 4 … 30 s) until it answers; one-shot
  commands say so in one line and exit 1;
- a schema that is not at the migrations' head: one line saying what to run, exit 3.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping
from typing import IO, Any, NoReturn

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from app.config import ConfigError, Settings, load_settings, redact_url
from app.db import make_engine

log = logging.getLogger("doiflow.startup")

EXIT_UNREACHABLE = 1
EXIT_CONFIG = 2
EXIT_SCHEMA = 3
EXIT_INTERRUPTED = 130  # as a shell reports a process ended by SIGINT
BACKOFF_SECONDS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # then 30 s between tries, for ever
CONNECT_TIMEOUT_SECONDS = 5


class StartupError(Exception):
    """The process must not start; the message is one line, `exit_code` says why."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def prepare(
    process: str,
    *,
    env: Mapping[str, str] | None = None,
    redis: bool = False,
    schema_check: bool = True,
    wait: bool = True,
    sleep: Callable[[float], object] = time.sleep,
    **defaults: str,
) -> Settings:
    """The settings of `process`, once its database (and Redis, if asked) answer.

    Raises StartupError; `prepare_or_exit` turns that into one line and an exit code.
    """
    try:
        settings = load_settings(env, **defaults)
    except ConfigError as error:
        raise StartupError(str(error), EXIT_CONFIG) from None
    if redis and not settings.redis_url:
        raise StartupError(
            f"REDIS_URL is required to run the {process} (e.g. redis://host:6379/0)", EXIT_CONFIG
        )
    # Imported here, once the caller set logging up: importing alembic logs INFO lines.
    from app import schema

    engine = _probe_engine(settings.database_url)
    try:
        database = _database_probe(engine)
        _until_answers(process, "database", settings.database_url, database, wait, sleep)
        if schema_check:
            with engine.connect() as connection:
                problem = schema.status(connection).problem()
            if problem is not None:
                raise StartupError(problem, EXIT_SCHEMA)
    finally:
        engine.dispose()
    if redis and settings.redis_url:
        broker = _redis_probe(settings.redis_url)
        _until_answers(process, "Redis", settings.redis_url, broker, wait, sleep)
    return settings


def prepare_or_exit(process: str, *, stream: IO[str] | None = None, **kwargs: Any) -> Settings:
    """`prepare`, or its one line on `stream` (stderr) and its exit code (non-click callers)."""
    try:
        return prepare(process, **kwargs)
    except StartupError as error:
        refuse(process, error, stream=stream)
    except KeyboardInterrupt:  # Ctrl-C while waiting for a service: no traceback
        sys.exit(EXIT_INTERRUPTED)


def refuse(process: str, error: StartupError, *, stream: IO[str] | None = None) -> NoReturn:
    """Print `doiflow {process}: {message}` on stderr and exit with the error's code."""
    print(f"doiflow {process}: {error}", file=stream or sys.stderr, flush=True)
    sys.exit(error.exit_code)


def _probe_engine(url: str) -> Engine:
    """An engine of one pooled connection: the probe's, reused by the schema check."""
    if url.startswith("sqlite"):
        return make_engine(url, poolclass=NullPool)
    return make_engine(
        url,
        pool_size=1,
        max_overflow=0,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
    )


def _database_probe(engine: Engine) -> Callable[[], None]:
    def probe() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    return probe


def _redis_probe(url: str) -> Callable[[], None]:
    def probe() -> None:
        import redis

        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            socket_timeout=CONNECT_TIMEOUT_SECONDS,
        )
        try:
            client.ping()
        finally:
            client.close()

    return probe


def _until_answers(
    process: str,
    service: str,
    url: str,
    probe: Callable[[], None],
    wait: bool,
    sleep: Callable[[float], object],
) -> None:
    """Call `probe` until it succeeds: one log line per failed try, backoff in between."""
    attempt = 0
    while True:
        try:
            probe()
        except Exception as error:  # every driver error means "not answering yet"
            if isinstance(error, DBAPIError) and not _is_connection_error(error):
                raise
            reason = _first_line(error)
        else:
            if attempt:
                log.warning(
                    "%s answers now; starting",
                    service,
                    extra={"action": "startup_ready", "command": process, "service": service},
                )
            return
        where = redact_url(url)
        if not wait:
            message = f"the {service} at {where} is unreachable: {reason}"
            raise StartupError(message, EXIT_UNREACHABLE)
        delay = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)]
        attempt += 1
        log.warning(
            "%s unreachable at start-up; retrying",
            service,
            extra={
                "action": "startup_wait",
                "command": process,
                "service": service,
                "url": where,
                "error": reason,
                "attempt": attempt,
                "retry_in_seconds": delay,
            },
        )
        sleep(delay)


def _is_connection_error(error: DBAPIError) -> bool:
    """An OperationalError (refused, timed out, unknown host, no such database): wait for it."""
    from sqlalchemy.exc import OperationalError

    return isinstance(error, OperationalError)


def _first_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    return (lines[0] if lines else type(original).__name__)[:300]
