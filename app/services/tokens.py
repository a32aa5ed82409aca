"""API bearer tokens: shown once at creation, stored only as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from app.db import utcnow
from app.enums import Scope
from app.models import ApiToken
from app.services.errors import InvalidInputError, NotFoundError

TOKEN_PREFIX = "dfl_"  # noqa: S105 - a public marker, not a secret


def digest(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def parse_scopes(text: str) -> list[str]:
    """`read,write` → ['read', 'write'], refusing unknown scopes."""
    scopes = [s.strip().lower() for s in text.split(",") if s.strip()]
    known = {s.value for s in Scope}
    unknown = sorted(set(scopes) - known)
    if not scopes or unknown:
        raise InvalidInputError(
            f"scopes must be a comma-separated subset of {sorted(known)}, got {text!r}"
        )
    return scopes


NAME_MAX = 128  # the column's width


def check_name(name: str) -> str:
    """A token's name, stripped: required, not blank, at most NAME_MAX characters."""
    cleaned = name.strip()
    if not cleaned:
        raise InvalidInputError("a token needs a name saying who uses it, e.g. archive-backend")
    if len(cleaned) > NAME_MAX:
        raise InvalidInputError(f"a token's name is at most {NAME_MAX} characters")
    return cleaned


def create_token(session: Session, name: str, scopes: list[str]) -> tuple[ApiToken, str]:
    """A new token row and the plain token, which is never stored or shown again."""
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=check_name(name), token_hash=digest(plain), scopes=",".join(scopes))
    session.add(token)
    session.flush()
    return token, plain


# last_used_at says "in use lately", not "this instant": written at most this often,
# so a busy token costs no write on most requests and its row is rarely locked.
LAST_USED_EVERY = timedelta(minutes=1)


class LiveToken(NamedTuple):
    """What a request's authentication needs of its token: never the digest."""

    id: int
    name: str
    scopes: str
    last_used_at: datetime | None


# Columns, not the ORM entity: every API request runs this, and loading an object
# costs more than the query. The statement is built once.
_LIVE_TOKEN = select(ApiToken.id, ApiToken.name, ApiToken.scopes, ApiToken.last_used_at).where(
    ApiToken.token_hash == bindparam("digest"), ApiToken.revoked_at.is_(None)
)


def authenticate(session: Session, plain: str) -> LiveToken | None:
    """The live token matching `plain`, or None (revocation counts at once)."""
    row = session.execute(_LIVE_TOKEN, {"digest": digest(plain)}).first()
    token = None if row is None else LiveToken(*row)
    now = utcnow()
    if token is not None and (
        token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY
    ):
        # Guarded, no wait: a concurrent request of the same token may be writing it now.
        session.execute(
            update(ApiToken)
            .where(
                ApiToken.id == token.id,
                (ApiToken.last_used_at.is_(None)) | (ApiToken.last_used_at < now - LAST_USED_EVERY),
            )
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
    return token


def list_tokens(session: Session, *, include_revoked: bool = False) -> list[ApiToken]:
    """Every token (live ones only unless asked), oldest first."""
    query = select(ApiToken).order_by(ApiToken.id)
    if not include_revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    return list(session.scalars(query))


def has_scope(token: ApiToken | LiveToken, scope: Scope) -> bool:
    """Admin implies operator implies write implies read."""
    order = [Scope.READ.value, Scope.WRITE.value, Scope.OPERATOR.value, Scope.ADMIN.value]
    granted = max((order.index(s) for s in token.scopes.split(",") if s in order), default=-1)
    return granted >= order.index(scope.value)


def revoke_token(session: Session, token_id: int) -> ApiToken:
    """Revoke a live token (a guarded update); NotFoundError when none is live by that id."""
    revoked = session.scalars(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .returning(ApiToken)
        .execution_options(synchronize_session="fetch")
    ).first()
    if revoked is None:
        raise NotFoundError(f"no live API token has id {token_id}")
    return revoked
