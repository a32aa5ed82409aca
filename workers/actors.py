"""Dramatiq actors: thin, idempotent, taking ids; each delegates to one service call.

Retries live in Postgres (see app.outbox), so Dramatiq's own retries are off: a
message that crashes is simply re-enqueued by the relay when its lease expires.
"""

from __future__ import annotations

import dramatiq

from app.services import doi_sync
from workers import broker as _broker  # noqa: F401 - the broker must exist before any actor
from workers import context

# A backstop for a call stuck past DataCite's read timeout. If it outlives the lease
# anyway, the relay re-delivers and the lease fence makes the late finish a no-op.
SYNC_TIME_LIMIT_MS = 90_000


@dramatiq.actor(
    actor_name="sync_doi", queue_name="doi", max_retries=0, time_limit=SYNC_TIME_LIMIT_MS
)
def sync_doi(intent_id: int, lease_token: str) -> None:
    """Bring one DOI to its target (one DataCite call at most)."""
    doi_sync.run(context.runtime(), intent_id, lease_token)


ALL = (sync_doi,)
