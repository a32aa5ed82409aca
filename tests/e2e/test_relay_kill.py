"""Chaos: the relay is SIGKILLed while it claims and enqueues a backlog, then restarted."""

from __future__ import annotations

from collections import Counter

import pytest
import redis

from tests.e2e.conftest import Stack, concept_doi, confirmations
from tests.e2e.harness import wait_until

DOI_QUEUE_MESSAGES = "dramatiq:doi.msgs"
BACKLOG = 30


@pytest.fixture(scope="module")
def e2e_overrides() -> dict[str, str]:
    """Small batches, so the backlog takes several claim-and-enqueue rounds."""
    return {"RELAY_BATCH_SIZE": "5"}


def test_relay_killed_mid_batch_loses_and_duplicates_nothing(
    stack: Stack, e2e_redis: redis.Redis
) -> None:
    # Given a backlog of intents and neither relay nor worker running
    api, sandbox = stack.api, stack.sandbox
    dois = [concept_doi(f"relay-kill-{n}") for n in range(BACKLOG)]
    for n in range(BACKLOG):
        api.create_dataset(f"relay-kill-{n}")

    # When the relay starts and is SIGKILLed as soon as its first messages reach Redis
    stack.start_relay(wait=False)
    wait_until(
        lambda: e2e_redis.hlen(DOI_QUEUE_MESSAGES) > 0,
        20,
        "the relay's first message in Redis",
        interval=0.002,
    )
    stack.harness.kill("relay")
    enqueued = e2e_redis.hlen(DOI_QUEUE_MESSAGES)
    print(f"relay killed with {enqueued} of {BACKLOG} messages enqueued")
    assert enqueued < BACKLOG, "the relay finished before the kill: this run exercised nothing"

    # And it is restarted, and a worker starts
    stack.start_relay()
    stack.start_worker()

    # Then every DOI reaches draft, confirmed exactly once
    for doi in dois:
        body = api.wait_for_state(doi, "draft", timeout=20)
        assert len(confirmations(body, "draft")) == 1, body["history"]
    # And DataCite holds each DOI once, as a draft; a repeated PUT (if any) changed nothing
    held = sandbox.dois()
    assert {doi: held.get(doi, {}).get("state") for doi in dois} == dict.fromkeys(dois, "draft")
    puts = Counter(entry["doi"] for entry in sandbox.requests(method="PUT"))
    assert set(puts) == set(dois)
    print(f"PUTs per DOI: {sorted(Counter(puts.values()).items())}")
