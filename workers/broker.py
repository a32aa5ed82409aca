"""The one place the Dramatiq broker is configured; imported before any actor.

Until a process installs its real broker, a placeholder StubBroker is the global one,
so declaring actors never makes Dramatiq guess a broker (it would connect to a local
Redis or RabbitMQ). Worker processes install Redis from REDIS_URL (`workers.worker`);
the embedded default installs an in-memory broker.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from app.config import ConfigError, Settings

QUEUES = ("default", "doi", "holds")


def build_broker(redis_url: str | None) -> dramatiq.Broker:
    """A Redis broker for `redis_url` (redis:// or rediss://), else an in-memory one."""
    broker: dramatiq.Broker = RedisBroker(url=redis_url) if redis_url else StubBroker()
    for queue in QUEUES:
        broker.declare_queue(queue)
    return broker


def redis_broker(settings: Settings, process: str) -> dramatiq.Broker:
    """The Redis broker a standalone process needs; REDIS_URL is required there."""
    if not settings.redis_url:
        raise ConfigError(f"REDIS_URL is required to run the {process} (e.g. redis://host:6379/0)")
    return build_broker(settings.redis_url)


def install(broker: dramatiq.Broker) -> dramatiq.Broker:
    """Make `broker` the global one and register every doiflow actor on it."""
    dramatiq.set_broker(broker)
    from workers import actors

    for actor in actors.ALL:
        if actor.actor_name not in broker.actors:
            broker.declare_actor(actor)
    return broker


dramatiq.set_broker(StubBroker())
