"""Dramatiq actors: thin, idempotent, taking ids; each delegates to one service call.

Retries live in Postgres (see app.outbox), so Dramatiq's own retries are off: a
message that crashes is simply re-enqueued by the relay when its lease expires.
"""

from __future__ import annotations

import dramatiq

from app.services import doi_sync
from workers import broker as _broker  # noqa: F401 - the broker must exist before any actor
from workers import context


@dramatiq.actor(
    # No time_limit here: the relay sets one per message, inside the intent's lease.
    actor_name="sync_doi",
    queue_name="doi",
    max_retries=0,
)
def sync_doi(intent_id: int, lease_token: str) -> None:
    """Bring one DOI to its target (one DataCite call at most)."""
    doi_sync.run(context.runtime(), intent_id, lease_token)


ALL = (sync_doi,)
