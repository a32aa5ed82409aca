"""The one place the Dramatiq broker is configured; imported before any actor.

With REDIS_URL set, messages go through Redis; without it (the embedded default)
an in-memory StubBroker is used and worker threads run in the same process.
"""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

QUEUES = ("default", "doi", "holds")


def build_broker(redis_url: str | None) -> dramatiq.Broker:
    """A Redis broker for `redis_url` (redis:// or rediss://), else an in-memory one."""
    broker: dramatiq.Broker = RedisBroker(url=redis_url) if redis_url else StubBroker()
    for queue in QUEUES:
        broker.declare_queue(queue)
    return broker


def install(broker: dramatiq.Broker) -> dramatiq.Broker:
    """Make `broker` the global one and register every doiflow actor on it."""
    dramatiq.set_broker(broker)
    from workers import actors

    for actor in actors.ALL:
        if actor.actor_name not in broker.actors:
            broker.declare_actor(actor)
    return broker


broker = build_broker(os.environ.get("REDIS_URL"))
dramatiq.set_broker(broker)
