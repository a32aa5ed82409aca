"""What this machine allows, measured beside each project figure (ported from shared/limits).

- `claim_limit`: a raw batched `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)
  RETURNING` claim over a scratch table, one commit per batch (relay_limits.py, step 2).
- `redis_limit`: Dramatiq-shaped messages (as the relay builds them) encoded and written
  with pipelined HSET + RPUSH, the broker's enqueue without the Lua round trip (step 4).
- `notify_round_trip`: commit of a NOTIFY → the listener in another process has it
  (notify_latency.py, with the listener in its own process like the relay).
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
import uuid
from multiprocessing.connection import Connection

import dramatiq
import psycopg
import redis

from ops.benchmarks.figures import latency_summary
from ops.benchmarks.load import offer

SCRATCH_TABLE = """
CREATE TABLE lim_outbox (
    id bigserial PRIMARY KEY, topic text NOT NULL, key text NOT NULL, payload jsonb NOT NULL,
    status text NOT NULL DEFAULT 'pending', available_at timestamptz NOT NULL DEFAULT now(),
    lease uuid, enqueued_at timestamptz)
"""
CLAIM = """
UPDATE lim_outbox SET status = 'enqueued', lease = gen_random_uuid(), enqueued_at = now()
WHERE id IN (SELECT id FROM lim_outbox WHERE status = 'pending' AND available_at <= now()
             ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)
RETURNING id, topic, key, payload
"""
LIMIT_NAMESPACE = "bench-limit"


def claim_limit(database_url: str, rows: int, batch: int) -> dict[str, float]:
    """Claims per second of the raw batched claim over `rows` due rows."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS lim_outbox")
        conn.execute(SCRATCH_TABLE)
        conn.execute("CREATE INDEX ON lim_outbox (available_at, id) WHERE status = 'pending'")
        copy = "COPY lim_outbox (topic, key, payload) FROM STDIN"
        with conn.cursor() as cur, cur.copy(copy) as cp:
            for i in range(rows):
                cp.write_row(("sync_doi", f"k{i}", json.dumps({"doi_id": i})))
    with psycopg.connect(database_url) as conn:
        claimed = 0
        started = time.perf_counter()
        while True:
            got = conn.execute(CLAIM, (batch,)).fetchall()
            conn.commit()
            if not got:
                break
            claimed += len(got)
        elapsed = time.perf_counter() - started
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP TABLE lim_outbox")
    return {"claim_per_s": claimed / elapsed, "claimed": claimed}


def relay_messages(count: int) -> list[dramatiq.Message[None]]:
    """Messages shaped like the relay's (args, options and id), with a broker message id."""
    return [
        dramatiq.Message(
            queue_name="doi",
            actor_name="sync_doi",
            args=(i, str(uuid.uuid4())),
            kwargs={},
            options={"time_limit": 108_000_000, "redis_message_id": str(uuid.uuid4())},
            message_id=str(i),
        )
        for i in range(count)
    ]


def redis_limit(redis_url: str, count: int, batch: int) -> dict[str, float]:
    """Messages per second: encode + pipelined HSET/RPUSH, `batch` per round trip."""
    messages = relay_messages(count)
    client = redis.Redis.from_url(redis_url)
    queue, table = f"{LIMIT_NAMESPACE}:doi", f"{LIMIT_NAMESPACE}:doi.msgs"
    try:
        started = time.perf_counter()
        for first in range(0, count, batch):
            pipe = client.pipeline(transaction=False)
            for message in messages[first : first + batch]:
                redis_id = message.options["redis_message_id"]
                pipe.hset(table, redis_id, message.encode())
                pipe.rpush(queue, redis_id)
            pipe.execute()
        elapsed = time.perf_counter() - started
        written = int(client.llen(queue))
    finally:
        client.delete(queue, table)
        client.close()
    return {"redis_per_s": written / elapsed, "written": written}


def in_series(claim_per_s: float, redis_per_s: float) -> float:
    """Both steps one after the other: 1 / (1/claim + 1/redis)."""
    return 1 / (1 / claim_per_s + 1 / redis_per_s)


def _listen(database_url: str, channel: str, pipe: Connection) -> None:
    # Runs in its own process, as the relay does: GIL and scheduling are not shared.
    received: list[tuple[int, float]] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"LISTEN {channel}")
        pipe.send("ready")
        while not pipe.poll():
            for note in conn.notifies(timeout=0.2):
                received.append((int(note.payload), time.monotonic()))
    pipe.send(received)


def notify_round_trip(database_url: str, rate: float, seconds: float, writers: int) -> dict:
    """Commit start → notification in the listener process, p50/p99, at an offered rate."""
    channel = f"bench_anchor_{uuid.uuid4().hex[:8]}"
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    listener = context.Process(target=_listen, args=(database_url, channel, child), daemon=True)
    listener.start()
    local = threading.local()

    def send(number: int) -> tuple[int, float]:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = psycopg.connect(database_url)
        conn.execute("SELECT pg_notify(%s, %s)", (channel, str(number)))
        started = time.monotonic()  # as for the project: the clock starts at COMMIT
        conn.commit()
        return number, started

    try:
        if not parent.poll(30) or parent.recv() != "ready":
            raise RuntimeError("the NOTIFY listener did not start")
        offered = offer(rate, seconds, writers, send)
        time.sleep(0.5)
        parent.send("stop")
        received = parent.recv() if parent.poll(30) else []
    finally:
        listener.join(timeout=10)
        if listener.is_alive():
            listener.kill()
    sent = dict(offered.results)
    latencies = [at - sent[number] for number, at in received if number in sent]
    return {
        **latency_summary(latencies),
        "offered_per_s": rate,
        "achieved_per_s": offered.achieved_per_s,
        "lost": len(sent) - len(latencies),
    }
