"""Chaos: Redis loses every queued message (FLUSHDB) while intents are in flight."""

from __future__ import annotations

import redis

from tests.e2e.conftest import Stack, concept_doi, confirmations
from tests.e2e.harness import wait_until

DOI_QUEUE_MESSAGES = "dramatiq:doi.msgs"  # the Redis broker's hash of queued message bodies


def test_intents_survive_a_redis_flush(stack: Stack, e2e_redis: redis.Redis) -> None:
    # Given the relay is running but no worker consumes the doi queue
    stack.start_relay()
    api, sandbox = stack.api, stack.sandbox
    names = [f"flush-{n}" for n in range(5)]

    # When datasets are created, their intents sit in Redis as messages
    for name in names:
        api.create_dataset(name)
    wait_until(
        lambda: e2e_redis.hlen(DOI_QUEUE_MESSAGES) == len(names),
        10,
        f"{len(names)} messages on the doi queue in Redis",
        describe=lambda: e2e_redis.hlen(DOI_QUEUE_MESSAGES),
    )

    # And Redis loses them all (FLUSHDB on the e2e database number only)
    e2e_redis.flushdb()
    assert e2e_redis.hlen(DOI_QUEUE_MESSAGES) == 0
    for name in names:
        assert api.doi(concept_doi(name))["state"] == "pending"

    # When a worker starts
    stack.start_worker()

    # Then every DOI still reaches its target: the relay rescues the expired leases
    for name in names:
        body = api.wait_for_state(concept_doi(name), "draft", timeout=20)
        sandbox.wait_for_state(concept_doi(name), "draft")
        assert len(confirmations(body, "draft")) == 1, body["history"]
        assert len(sandbox.requests(concept_doi(name), "PUT")) == 1
