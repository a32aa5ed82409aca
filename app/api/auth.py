"""Bearer tokens: `Authorization: Bearer <token>`, checked against a required scope."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from flask import g, request

from app.api.context import request_transaction, transaction
from app.api.errors import ApiError
from app.enums import Scope
from app.services import tokens

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Caller:
    """Who made the request: the token's id and name, never the token itself."""

    token_id: int
    name: str


def require(
    scope: Scope, *, one_transaction: bool = True
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a view so it runs only for a live token holding `scope` (or a higher one).

    The token is checked in the request's one transaction, which the view then joins.
    A view that calls a remote service (`one_transaction=False`) is authenticated in a
    short transaction of its own and opens its own around the call, never across it.
    """

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            plain = _bearer_token()  # a missing header costs no transaction at all
            if not one_transaction:
                g.caller = authenticate_request(scope, plain)
                return view(*args, **kwargs)
            with request_transaction():
                g.caller = authenticate_request(scope, plain)
                return view(*args, **kwargs)

        return guarded

    return decorate


def authenticate_request(scope: Scope, plain: str | None = None) -> Caller:
    """The caller behind this request's bearer token, or a 401/403 ApiError."""
    plain = plain if plain is not None else _bearer_token()
    with transaction() as session:
        token = tokens.authenticate(session, plain)
        if token is None:
            raise _unauthorized("invalid_token", "the bearer token is unknown or revoked")
        if not tokens.has_scope(token, scope):
            raise ApiError(
                403,
                "insufficient_scope",
                f"this token lacks the {scope.value!r} scope",
                {"required_scope": scope.value, "token_scopes": token.scopes.split(",")},
                {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope.value}"'},
            )
        return Caller(token_id=token.id, name=token.name)


def current_caller() -> Caller:
    """The caller authenticated by `require` for this request."""
    caller: Caller = g.caller
    return caller


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, plain = header.strip().partition(" ")
    if not header:
        raise _unauthorized(None, "authentication required: send Authorization: Bearer <token>")
    if scheme.lower() != "bearer" or not plain.strip():
        raise _unauthorized("invalid_request", "the Authorization header must be 'Bearer <token>'")
    return plain.strip()


def _unauthorized(error: str | None, message: str) -> ApiError:
    challenge = f'Bearer error="{error}"' if error else "Bearer"
    code = "invalid_token" if error == "invalid_token" else "unauthorized"
    return ApiError(401, code, message, None, {"WWW-Authenticate": challenge})
