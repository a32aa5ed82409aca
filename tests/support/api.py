"""Helpers for the API tests: request bodies, row counts, the error envelope."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.models import Base
from app.runtime import Runtime
from tests.support.lifecycle import PREFIX, metadata
from tests.support.lifecycle import blob as lifecycle_blob

__all__ = ["PREFIX", "metadata"]


def blob(n: int = 1, **overrides: Any) -> dict[str, Any]:
    """A blob reference like lifecycle_helpers.blob, with fields overridden."""
    return {**lifecycle_blob(n), **overrides}


def publication(version: str | None = "1.0", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": metadata("Published"),
        "blobs": [blob(1), blob(2)],
        **overrides,
    }
    if version is not None:
        body["version"] = version
    return body


def concept(dataset_id: str) -> str:
    return f"{PREFIX}/test.{dataset_id}".lower()


def row_counts(runtime: Runtime) -> dict[str, int]:
    """Rows per table: a refused request must leave every count as it was."""
    with runtime.sessions() as session:
        return {
            table.name: int(session.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
        }


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is the error envelope with this status (and code); returns the error."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.get_json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert isinstance(error["message"], str)
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return error
