"""Blob endpoint: deleting a blob version, refused while published or held (holds issue)."""

from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue

from app.api.auth import require
from app.api.blueprint import bp
from app.api.errors import ApiError
from app.enums import Scope


@bp.delete("/blobs/<path:key>")
@require(Scope.WRITE)
def delete_blob(key: str) -> ResponseReturnValue:
    """Not implemented yet: answering 501 is safer than a delete that skips the hold checks."""
    raise ApiError(
        501,
        "not_implemented",
        "deleting a blob version is not implemented yet; nothing was changed",
        {"key": key, "version_id": request.args.get("version_id")},
    )
