"""The `/api` blueprint every API module adds its routes to, with its JSON error handlers."""

from __future__ import annotations

from flask import Blueprint
from flask.blueprints import BlueprintSetupState
from werkzeug.routing import PathConverter

from app.api.errors import register_error_handlers


class DoiConverter(PathConverter):
    """A DOI in a path: slashes allowed, but never ending in `/retry`.

    A plain `path` converter lets `GET /api/dois/<doi>` swallow `/api/dois/x/retry`, so
    an OPTIONS or a 405 there would advertise GET for a POST-only route.
    """

    regex = r"[^/].*?(?<!/retry)"


bp = Blueprint("api", __name__, url_prefix="/api")


def _add_converters(state: BlueprintSetupState) -> None:
    state.app.url_map.converters.setdefault("doi", DoiConverter)


# Recorded before any route, so it runs before their rules are added.
bp.record_once(_add_converters)
register_error_handlers(bp)
