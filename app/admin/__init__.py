"""The admin page (`/admin`): the operator's window on doiflow, server-rendered.

`init_app` refuses a weak SECRET_KEY, installs logins, roles, CSRF and cookies
(`app.admin.security`), and registers the blueprint with its pages (`app.admin.views`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from app.runtime import Runtime


def init_app(app: Flask, runtime: Runtime) -> None:
    """Add the admin page to `app`; ConfigError when SECRET_KEY is empty or a placeholder."""
    from app.admin import security, views
    from app.admin.blueprint import bp

    security.check_secret_key(runtime.settings)
    security.install(app)
    views.load()
    app.register_blueprint(bp)
