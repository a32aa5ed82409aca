"""Domain errors the API turns into 4xx answers; services raise, views translate."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base: a request that cannot be carried out as asked, and changed nothing."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInputError(ServiceError):
    status = 400
    code = "invalid_input"


class NotFoundError(ServiceError):
    status = 404
    code = "not_found"


class ConflictError(ServiceError):
    status = 409
    code = "conflict"


class UnprocessableError(ServiceError):
    status = 422
    code = "invalid_metadata"
