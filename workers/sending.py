"""Sending a batch of claimed intents to the broker in one round trip.

For Redis the batch goes through one pipeline of Dramatiq's own `dispatch` script, the
very command `RedisBroker.enqueue` runs for each message, so stock Dramatiq workers read
these messages as any other (a test consumes them with a plain worker). Other brokers
(the in-memory one of the embedded default) get one `enqueue` per message.

The relay's speed is this module's speed: at thousands of intents a second it is
where the relay spends its CPU. So a message is encoded straight from the claim (with
Dramatiq's default JSON encoder, the very bytes it would write, from a template), and
`Message` objects are built only for middleware that hooks enqueues (none of
Dramatiq's defaults does).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis
from dramatiq.encoder import JSONEncoder
from dramatiq.middleware import Middleware
from redis.commands.core import Script
from redis.exceptions import NoScriptError

from app.outbox import Claim

TimeLimitOf = Callable[[Claim], int]


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


def send(broker: dramatiq.Broker, claims: Sequence[Claim], time_limit_of: TimeLimitOf) -> None:
    """Enqueue every claim's message, or raise (then none may be assumed sent)."""
    if isinstance(broker, RedisBroker):
        _pipeline(broker, claims, time_limit_of)
        return
    for claim in claims:
        broker.enqueue(message_for(claim, time_limit_ms=time_limit_of(claim)))


def _hooks_enqueue(broker: dramatiq.Broker) -> bool:
    """Whether any middleware overrides the enqueue hooks (then it sees every message)."""
    return any(
        type(m).before_enqueue is not Middleware.before_enqueue
        or type(m).after_enqueue is not Middleware.after_enqueue
        for m in broker.middleware
    )


def _pipeline(broker: RedisBroker, claims: Sequence[Claim], time_limit_of: TimeLimitOf) -> None:
    # What RedisBroker.enqueue does per message (dramatiq 2.x), with the script calls
    # queued on one pipeline instead of one round trip each.
    dispatch = broker.scripts["dispatch"]
    encoder = dramatiq.get_encoder()
    fast = type(encoder) is JSONEncoder  # dramatiq's default: its exact bytes, made here
    hooked = _hooks_enqueue(broker)
    now = current_millis()  # the messages' timestamp and the dispatch script's clock
    fixed = (broker.broker_id, broker.heartbeat_timeout, broker.dead_message_ttl)
    unpack = broker._max_unpack_size()
    commands: list[tuple[Any, ...]] = []
    sent: list[dramatiq.Message[Any]] = []
    for claim in claims:
        # Unique per claim, as Redis needs (a new claim of an intent has a new lease):
        # no uuid4 to make for every message.
        redis_message_id = f"{claim.intent_id}-{claim.lease_token}"
        time_limit = time_limit_of(claim)
        if fast and not hooked and _plain(claim):
            encoded = _json_message(claim, time_limit, redis_message_id, now)
        else:
            data: dict[str, Any] = {
                "queue_name": claim.queue,
                "actor_name": claim.topic,
                "args": (claim.intent_id, claim.lease_token),
                "kwargs": {},
                "options": {"time_limit": time_limit, "redis_message_id": redis_message_id},
                "message_id": str(claim.intent_id),
                "message_timestamp": now,
            }
            if hooked:
                message: dramatiq.Message[Any] = dramatiq.Message(**data)
                broker.emit_before("enqueue", message, None)
                data = message.asdict()  # a hook may have changed its options
                sent.append(message)
            encoded = encoder.encode(data)
        maintain = broker._should_do_maintenance("enqueue")
        commands.append(
            ("enqueue", now, claim.queue, *fixed, maintain, unpack, redis_message_id, encoded)
        )
    _dispatch_all(broker, dispatch, commands)
    for message in sent:
        broker.emit_after("enqueue", message, None)


# Characters that never need escaping in a JSON string (topics, queues, lease tokens).
_PLAIN = re.compile(r"[A-Za-z0-9_.:-]+")


def _plain(claim: Claim) -> bool:
    return all(_PLAIN.fullmatch(text) for text in (claim.queue, claim.topic, claim.lease_token))


def _json_message(claim: Claim, time_limit: int, redis_message_id: str, timestamp: int) -> bytes:
    """What `JSONEncoder().encode(message.asdict())` gives for this message, byte for byte
    (a test compares them), without building the dict and walking it: the strings are
    plain (`_plain`), the numbers ints."""
    return (
        f'{{"queue_name":"{claim.queue}","actor_name":"{claim.topic}",'
        f'"args":[{claim.intent_id},"{claim.lease_token}"],"kwargs":{{}},'
        f'"options":{{"time_limit":{time_limit},"redis_message_id":"{redis_message_id}"}},'
        f'"message_id":"{claim.intent_id}","message_timestamp":{timestamp}}}'
    ).encode()


def _dispatch_all(broker: RedisBroker, dispatch: Script, commands: list[tuple[Any, ...]]) -> None:
    """EVALSHA each command in one pipeline, without asking first whether Redis has the
    script (one more round trip per batch): a Redis that lost it (a restart, SCRIPT FLUSH)
    answers NOSCRIPT for exactly the commands it did not run, and only those go again,
    so no message is enqueued twice with the same lease."""
    pipe = broker.client.pipeline(transaction=False)
    for args in commands:
        pipe.evalsha(dispatch.sha, 1, broker.namespace, *args)
    results = pipe.execute(raise_on_error=False)
    pairs = zip(commands, results, strict=True)
    failed = [args for args, result in pairs if isinstance(result, Exception)]
    if not failed:
        return
    errors = [result for result in results if isinstance(result, Exception)]
    if not all(isinstance(error, NoScriptError) for error in errors):
        raise next(e for e in errors if not isinstance(e, NoScriptError))
    dispatch.sha = broker.client.script_load(dispatch.script)
    pipe = broker.client.pipeline(transaction=False)
    for args in failed:
        pipe.evalsha(dispatch.sha, 1, broker.namespace, *args)
    pipe.execute()
