"""Gunicorn's logger class for the web process: its lines through doiflow's one formatter.

`gunicorn --logger-class app.gunicorn_logging.Logger …` (the Procfile's web entry):
gunicorn keeps choosing where its error and access lines go; they are rendered like
every other doiflow line (JSON by default, LOG_FORMAT=text for people).
"""

from __future__ import annotations

from typing import Any

from gunicorn import glogging

from app import logs


class Logger(glogging.Logger):
    """gunicorn's Logger, formatted by `app.logs`."""

    def setup(self, cfg: Any) -> None:
        """Set gunicorn's handlers up, then give them, and the root logger, our formatter."""
        super().setup(cfg)
        try:
            handler = logs.configure_from_environment()
        except ValueError as error:  # a bad LOG_FORMAT: one line and exit 2, as app.startup
            from app import startup

            startup.refuse("web", startup.StartupError(str(error), startup.EXIT_CONFIG))
        for log in (self.error_log, self.access_log):
            for own in log.handlers:
                own.setFormatter(handler.formatter)
