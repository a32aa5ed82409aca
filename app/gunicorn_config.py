"""gunicorn's settings for the web process (`-c python:app.gunicorn_config`).

The Procfile's web line loads this module, so every deployment gets the same limits,
the JSON error worker and the start-up check in the master, before any worker forks:
a bad setting or a schema behind the migrations is one line and an exit code (see
`app.startup`), never a worker that fails to boot again and again.
"""

from __future__ import annotations

from typing import Any

logger_class = "app.gunicorn_logging.Logger"
# gunicorn's own answers (a 414, a 431, a 400 for a malformed request, a worker timeout)
# leave as doiflow's JSON error envelope instead of HTML.
worker_class = "app.gunicorn_worker.JsonErrorWorker"
# A request line (method, path, query) of at most 8 KiB: a DOI or a dataset id is far
# shorter; longer answers 414. At most 100 header fields of at most 8 KiB each (431).
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
# Request bodies are limited by the app (Flask's MAX_CONTENT_LENGTH, a JSON 413):
# gunicorn has no setting for it.


def on_starting(server: Any) -> None:
    """In the master, before it binds or forks: settings, database, schema (app.startup)."""
    from app import startup
    from app.config import ConfigError

    settings = startup.prepare_or_exit("web")
    if settings.admin_enabled:
        from app.admin.security import check_secret_key

        try:
            check_secret_key(settings)
        except ConfigError as error:
            startup.refuse("web", startup.StartupError(str(error), startup.EXIT_CONFIG))
