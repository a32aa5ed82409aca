"""doiflow: the Flask app factory (`gunicorn "app:create_app()"`).

Flask is imported inside `create_app`, so workers and the CLI that import `app.*`
never load it (DESIGN: Flask only in the app factory, API and admin).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from app.config import Settings
    from app.runtime import Runtime


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the web app; without arguments the settings come from the environment.

    From the environment, the start-up checks run first (`app.startup`, once, no
    waiting: gunicorn's master already waited for the database, see
    `app.gunicorn_config`); a StartupError stops the worker from booting.
    """
    from flask import Flask
    from flask.json.provider import DefaultJSONProvider

    from app.api import bp as api_blueprint
    from app.api.context import EXTENSION
    from app.api.errors import register_routing_errors
    from app.runtime import Runtime

    if runtime is None:
        runtime = Runtime.from_settings(settings or _settings_from_environment())
    elif settings is not None and settings != runtime.settings:
        raise ValueError("create_app: the runtime was built from other settings")
    app = Flask(__name__)
    app.config["SECRET_KEY"] = runtime.settings.secret_key or None
    app.config["MAX_CONTENT_LENGTH"] = runtime.settings.max_content_length
    if isinstance(app.json, DefaultJSONProvider):
        app.json.sort_keys = False  # answers keep the documented field order
    # DOIs given as https://doi.org/10.x/y keep their double slash instead of a redirect.
    app.url_map.merge_slashes = False
    app.extensions[EXTENSION] = runtime
    register_routing_errors(app)
    app.register_blueprint(api_blueprint)
    if runtime.settings.admin_enabled:
        from app.admin import init_app as init_admin

        init_admin(app, runtime)
    app.add_url_rule("/healthz", "healthz", _healthz)
    app.add_url_rule("/metrics", "metrics", _metrics)
    return app


def _settings_from_environment() -> Settings:
    """`app.startup.prepare("web")`, once, without waiting; a database that does not
    answer now is no reason to stop (requests answer 503 until it does), a bad setting
    or a schema behind the migrations is."""
    import logging

    from app import startup
    from app.config import load_settings

    try:
        return startup.prepare("web", wait=False)
    except startup.StartupError as error:
        if error.exit_code != startup.EXIT_UNREACHABLE:
            raise
        logging.getLogger("doiflow.startup").warning(
            "database unreachable while the web worker starts; serving 503 until it answers",
            extra={"action": "startup_unreachable", "error": str(error)},
        )
        return load_settings()


def _healthz() -> dict[str, str]:
    """Liveness: the process answers; no database, no token."""
    return {"status": "ok"}


def _metrics() -> tuple[bytes, int, dict[str, str]]:
    """Prometheus text format, no token (counts only, no identifiers; see app.metrics)."""
    from flask import current_app

    from app import metrics
    from app.api.context import EXTENSION

    body = metrics.exposition(current_app.extensions[EXTENSION])
    return body, 200, {"Content-Type": metrics.CONTENT_TYPE}
