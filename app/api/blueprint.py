"""The `/api` blueprint every API module adds its routes to, with its JSON error handlers."""

from __future__ import annotations

from flask import Blueprint

from app.api.errors import register_error_handlers

bp = Blueprint("api", __name__, url_prefix="/api")
register_error_handlers(bp)
