"""Sending a batch of claimed intents to the broker in one round trip.

For Redis the batch goes through one pipeline of Dramatiq's own `dispatch` script, the
very command `RedisBroker.enqueue` runs for each message, so stock Dramatiq workers read
these messages as any other (a test consumes them with a plain worker). Other brokers
(the in-memory one of the embedded default) get one `enqueue` per message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import uuid4

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis

from app.outbox import Claim


def message_for(claim: Claim, *, time_limit_ms: int) -> dramatiq.Message[Any]:
    """The Dramatiq message of one claim: its id is the intent id, its args the lease."""
    return dramatiq.Message(
        queue_name=claim.queue,
        actor_name=claim.topic,
        args=(claim.intent_id, claim.lease_token),
        kwargs={},
        options={"time_limit": time_limit_ms},
        message_id=str(claim.intent_id),
    )


def send(broker: dramatiq.Broker, messages: Sequence[dramatiq.Message[Any]]) -> None:
    """Enqueue every message, or raise (then none may be assumed sent)."""
    if isinstance(broker, RedisBroker):
        _pipeline(broker, messages)
        return
    for message in messages:
        broker.enqueue(message)


def _pipeline(broker: RedisBroker, messages: Sequence[dramatiq.Message[Any]]) -> None:
    # What RedisBroker.enqueue does per message (dramatiq 2.x), with the script calls
    # queued on one pipeline instead of one round trip each.
    pipe = broker.client.pipeline(transaction=False)
    dispatch = broker.scripts["dispatch"]
    sent = []
    for original in messages:
        message = original.copy(options={"redis_message_id": str(uuid4())})
        broker.emit_before("enqueue", message, None)
        args = [
            "enqueue",
            current_millis(),
            message.queue_name,
            broker.broker_id,
            broker.heartbeat_timeout,
            broker.dead_message_ttl,
            broker._should_do_maintenance("enqueue"),
            broker._max_unpack_size(),
            message.options["redis_message_id"],
            message.encode(),
        ]
        dispatch(keys=[broker.namespace], args=args, client=pipe)
        sent.append(message)
    pipe.execute()
    for message in sent:
        broker.emit_after("enqueue", message, None)
