"""Dramatiq actors: one per registered topic, each a thin call into the generic runner.

Retries live in Postgres (see app.retry), so Dramatiq's own retries are off: a message
that crashes is simply re-enqueued by the relay when its lease expires.
"""

from __future__ import annotations

from typing import Any

import dramatiq

from app.topics import REGISTRY, Topic
from workers import broker as _broker  # noqa: F401 - the broker must exist before any actor
from workers import context


def _actor_for(topic: Topic) -> dramatiq.Actor[[int, str], None]:
    handler: Any = None

    def deliver(intent_id: int, lease_token: str) -> None:
        nonlocal handler
        handler = handler or topic.load_handler()
        context.runner().run(handler, intent_id, lease_token)

    deliver.__name__ = deliver.__qualname__ = topic.name
    deliver.__doc__ = f"Deliver one `{topic.name}` intent through the runner."
    # No time_limit here: the relay sets one per message, inside the intent's lease.
    # actor_name is a wire name: renaming a function never strands queued messages.
    declare = dramatiq.actor(actor_name=topic.name, queue_name=topic.queue, max_retries=0)
    return declare(deliver)


ACTORS = {name: _actor_for(topic) for name, topic in REGISTRY.items()}
ALL = tuple(ACTORS.values())
