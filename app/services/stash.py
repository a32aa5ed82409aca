"""The stash: DataCite's record of a DOI, committed before every DELETE or hide.

A deletion in an archive is sometimes a mistake, and DataCite cannot undo a DELETE of
a draft or a hide by itself. The DOI worker's choreography (`doi_sync`) takes a stash
as a step of its own: a delivery whose one remote call is the GET and whose record
commits the stash; the destructive call is made by a later delivery of the same intent,
only once a stash (or a recorded 404: nothing remote) exists for it. The stash lives
in Postgres, not in a temp directory that a container restart would lose.

A stash is never trusted blindly: its content is kept as JSON text with its SHA-256,
and one that does not parse or match is treated as absent, with a warning logged and
shown on the DOI. Stashes expire after STASH_RETENTION_SECONDS; `prune_expired` deletes
them (the clock calls it; `doiflow stash prune` until then).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.clients.errors import RemoteDoi
from app.config import Settings
from app.db import utcnow
from app.models import Doi, Stash

log = logging.getLogger("doiflow.stash")

# Rows deleted per statement when pruning: short statements, never a long lock.
PRUNE_BATCH = 1000

# What DataCite adds to a record by itself: never part of the metadata a restore sends.
BOOKKEEPING = frozenset(
    {
        "doi",
        "prefix",
        "suffix",
        "identifiers",
        "url",
        "state",
        "event",
        "schemaVersion",
        "xml",
        "metadataVersion",
        "isActive",
        "created",
        "registered",
        "published",
        "updated",
        "viewsOverTime",
        "downloadsOverTime",
        "citationsOverTime",
        "viewCount",
        "downloadCount",
        "referenceCount",
        "citationCount",
        "partCount",
        "partOfCount",
        "versionCount",
        "versionOfCount",
        "source",
        "reason",
        "contentUrl",
        "landingPage",
    }
)


@dataclass(frozen=True)
class Reading:
    """A stash as read back: its attributes when DataCite had a record, or why not."""

    stash: Stash
    attributes: dict[str, Any] | None
    warning: str | None = None

    @property
    def usable(self) -> bool:
        """True when the stash holds a record a restore can rebuild the DOI from."""
        return self.attributes is not None


def taken_for(session: Session, intent_id: int) -> bool:
    """True when this destructive intent already has its stash (a retry re-uses it)."""
    return session.scalar(select(Stash.id).where(Stash.intent_id == intent_id)) is not None


def record(
    session: Session,
    settings: Settings,
    doi: Doi,
    *,
    intent_id: int,
    action: str,
    seen: RemoteDoi | None,
    now: datetime | None = None,
) -> Stash:
    """Commit (in the caller's transaction) what the GET found; None found: nothing remote."""
    now = now or utcnow()
    content = None if seen is None else json.dumps(seen.attributes, sort_keys=True)
    stash = Stash(
        doi_id=doi.id,
        intent_id=intent_id,
        action=action,
        found=seen is not None,
        remote_state=seen.state if seen is not None else None,
        url=seen.url if seen is not None else None,
        content=content,
        content_sha256=_sha256(content) if content is not None else None,
        metadata_hash=doi.confirmed_hash,
        dataset_created_at=doi.dataset.created_at,
        taken_at=now,
        expires_at=now + timedelta(seconds=settings.stash_retention_seconds),
    )
    session.add(stash)
    session.flush()
    log.info(
        "stash taken",
        extra={"action": "stash_taken", "stash_id": stash.id, "found": stash.found},
    )
    return stash


def read(stash: Stash) -> Reading:
    """The stash's attributes; a damaged one is treated as absent, with a warning."""
    if not stash.found:
        return Reading(stash, None)
    problem = _problem(stash)
    if problem is None:
        return Reading(stash, json.loads(stash.content or ""))
    warning = f"stash {stash.id} is unreadable ({problem}): treated as absent"
    log.warning(
        "stash unreadable",
        extra={"action": "stash_corrupt", "stash_id": stash.id, "problem": problem},
    )
    return Reading(stash, None, warning)


def _problem(stash: Stash) -> str | None:
    if stash.content is None:
        return "no content"
    if stash.content_sha256 != _sha256(stash.content):
        return "its SHA-256 does not match"
    try:
        value = json.loads(stash.content)
    except ValueError as error:
        return f"not JSON: {error}"
    return None if isinstance(value, dict) else "not a JSON object"


def of_doi(session: Session, doi_id: int) -> list[Stash]:
    """Every stash of a DOI, newest first."""
    query = select(Stash).where(Stash.doi_id == doi_id).order_by(Stash.taken_at.desc(), Stash.id)
    return list(session.scalars(query))


def latest_live(session: Session, doi_id: int, *, now: datetime) -> Stash | None:
    """The DOI's newest stash that has not expired, if any."""
    query = select(Stash).where(Stash.doi_id == doi_id, Stash.expires_at > now)
    return session.scalars(query.order_by(Stash.taken_at.desc(), Stash.id.desc())).first()


def describe(stash: Stash, *, now: datetime) -> dict[str, Any]:
    """A stash for people and the API: what, when, how old, when it goes, and any warning."""
    reading = read(stash)
    return {
        "id": stash.id,
        "intent_id": stash.intent_id,
        "action": stash.action,
        "found": stash.found,
        "remote_state": stash.remote_state,
        "url": stash.url,
        "taken_at": stash.taken_at.isoformat(),
        "expires_at": stash.expires_at.isoformat(),
        "age_seconds": round(max(0.0, (now - stash.taken_at).total_seconds()), 1),
        "expires_in_seconds": round(max(0.0, (stash.expires_at - now).total_seconds()), 1),
        "expired": stash.expires_at <= now,
        "warning": reading.warning,
    }


def archive_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """The metadata of a stashed record, without what DataCite adds by itself or left empty."""
    return {
        name: value
        for name, value in attributes.items()
        if name not in BOOKKEEPING and value not in (None, [], {}, "")
    }


def prune_batch(session: Session, *, now: datetime, limit: int = PRUNE_BATCH) -> int:
    """Delete up to `limit` expired stashes; returns how many went."""
    doomed = select(Stash.id).where(Stash.expires_at <= now).order_by(Stash.id).limit(limit)
    ids = list(session.scalars(doomed))
    if not ids:
        return 0
    session.execute(
        delete(Stash).where(Stash.id.in_(ids)).execution_options(synchronize_session=False)
    )
    return len(ids)


def prune_expired(session: Session, *, now: datetime) -> int:
    """Delete every stash expired at `now` (in bounded batches); returns how many went."""
    total = 0
    while True:
        gone = prune_batch(session, now=now)
        total += gone
        if gone < PRUNE_BATCH:
            return total


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
