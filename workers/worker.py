"""Entry module for worker processes: `dramatiq workers.worker -Q doi`.

Importing it validates the settings, checks the S3 bucket when one is set, installs
the Redis broker from REDIS_URL and declares every actor; a missing or bad variable,
or a bucket without Object Lock, stops the process with a message naming it.
"""

from __future__ import annotations

import logging
import sys

from app import logs, startup
from app.clients.errors import BucketConfigurationError, RemoteError
from app.clients.remotes import Remotes
from app.clients.storage import StorageClient
from app.config import ConfigError, Settings
from app.runner import Runner
from app.runtime import Runtime
from workers import broker as broker_module
from workers import context
from workers.recording import Recording


def _check_bucket(settings: Settings) -> None:
    """Refuse a bucket without Object Lock now, not at the first hold; S3 down is not fatal."""
    if not settings.s3_configured:
        return
    try:
        with StorageClient.from_settings(settings) as storage:
            storage.check_bucket()
    except BucketConfigurationError as error:
        raise ConfigError(f"S3_BUCKET {settings.s3_bucket!r} is refused: {error}") from None
    except RemoteError as error:
        # Holds are retried until S3 answers; the worker must not die with it.
        logging.getLogger("doiflow.worker").warning(
            "S3 bucket not checked at start-up", extra={"action": "s3_check", "error": str(error)}
        )


# dramatiq points a worker process's sys.stderr at a pipe its main process reads only
# once every worker process has booted (or 30 s have passed): the start-up lines (a
# wait for the database, one line per try) would arrive late and all at once. They, and
# every later line, go to the process's own stderr instead, as soon as they are written.
_stderr = sys.__stderr__ or sys.stderr
try:
    # Dramatiq's own lines (and ours) leave as JSON lines, like every doiflow process.
    logs.configure_from_environment(stream=_stderr)
except ValueError as error:
    startup.refuse("worker", startup.StartupError(str(error), startup.EXIT_CONFIG), stream=_stderr)
# Settings, then the database (waiting for it), its schema and Redis: app.startup.
_settings = startup.prepare_or_exit("worker", redis=True, stream=_stderr)
try:
    _check_bucket(_settings)
    broker = broker_module.install(broker_module.redis_broker(_settings, "workers"))
    broker.add_middleware(Recording())
    if _settings.worker_metrics_address is not None:
        from workers.metrics import MetricsExposition

        broker.add_middleware(MetricsExposition())
except ConfigError as error:
    startup.refuse("worker", startup.StartupError(str(error), startup.EXIT_CONFIG), stream=_stderr)
# Outcomes are recorded on a thread of their own (app.recorder): a worker thread is free
# for its next call as soon as DataCite has answered.
context.use(Runner(Runtime.from_settings(_settings), Remotes(_settings), record_in_background=True))
