"""Entry module for worker processes: `dramatiq workers.worker -Q doi`.

Importing it validates the settings, installs the Redis broker from REDIS_URL and
declares every actor; a missing or bad variable stops the process with its name.
"""

from __future__ import annotations

import sys

from app import logs
from app.clients.remotes import Remotes
from app.config import ConfigError, load_settings
from app.runner import Runner
from app.runtime import Runtime
from workers import broker as broker_module
from workers import context

try:
    # Dramatiq's own lines (and ours) leave as JSON lines, like every doiflow process.
    logs.configure_from_environment()
    _settings = load_settings()
    broker = broker_module.install(broker_module.redis_broker(_settings, "workers"))
except (ConfigError, ValueError) as error:
    sys.exit(f"doiflow worker: {error}")
context.use(Runner(Runtime.from_settings(_settings), Remotes(_settings)))
