"""The registry of intent topics: each names its actor, its queue and its handler.

The relay reads it to refuse intents nobody consumes; the worker entry module reads it
to declare one Dramatiq actor per topic. Handlers are named by import path, so the web
path (which only writes intents) never imports the code that calls DataCite or S3.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Topic:
    """A kind of work: its stable actor name (a wire name), its queue, its handler."""

    name: str
    queue: str
    handler: str  # "module:attribute" of the topic's runner Handler
    # Longer than the relay's default time limit (a look and a write): for a topic whose
    # one delivery reads much (reconcile). The heartbeat keeps its lease alive meanwhile.
    time_limit_seconds: float | None = None

    def load_handler(self) -> Any:
        """Import the handler (workers only)."""
        module, _, attribute = self.handler.partition(":")
        return getattr(importlib.import_module(module), attribute)


SYNC_DOI = Topic("sync_doi", queue="doi", handler="app.services.doi_sync:HANDLER")
# Every S3 call is on the `holds` queue, which only the hold-worker consumes.
VERIFY_BLOBS = Topic("verify_blobs", queue="holds", handler="app.services.hold_verify:HANDLER")
APPLY_HOLD = Topic("apply_hold", queue="holds", handler="app.services.hold_apply:HANDLER")
VERIFY_HOLDS = Topic("verify_holds", queue="holds", handler="app.services.hold_check:HANDLER")
# The clock's maintenance tasks (pruning, snapshots): database work on the `default` queue.
MAINTAIN = Topic("maintain", queue="default", handler="app.services.maintenance:HANDLER")

# Reads DataCite, so it is on the doi queue (the doi-worker makes every DataCite call).
# One delivery reads DataCite's whole listing: up to six hours, paced by the rate limit.
RECONCILE = Topic(
    "doi.reconcile",
    queue="doi",
    handler="app.services.reconcile_task:HANDLER",
    time_limit_seconds=6 * 3600,
)

# Posts to the archive, neither DataCite nor S3: the general worker's queue.
ARCHIVE_WEBHOOK = Topic("archive_webhook", queue="default", handler="app.services.webhooks:HANDLER")

REGISTRY: dict[str, Topic] = {
    topic.name: topic
    for topic in (
        SYNC_DOI,
        VERIFY_BLOBS,
        APPLY_HOLD,
        VERIFY_HOLDS,
        MAINTAIN,
        RECONCILE,
        ARCHIVE_WEBHOOK,
    )
}


def topic_named(name: str) -> Topic:
    """The registered topic called `name`; KeyError for one nobody consumes."""
    return REGISTRY[name]
