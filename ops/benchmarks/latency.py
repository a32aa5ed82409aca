"""Commit → message in Redis, p50/p99, at offered rates, vs the LISTEN/NOTIFY round trip.

    python -m ops.benchmarks.latency [--rate 100 --rate 1000] [--seconds 10] [--repeat 3]

Each run and rate: a fresh database and a flushed private redis-server, one
`doiflow relay` (no workers), and writer processes committing intents at the offered
rate (open loop), one transaction each with the row and the NOTIFY `app.outbox.add`
writes (over plain psycopg, so the writers leave the relay the CPU; see outbox_writer).
A writer notes the moment it issues COMMIT. An observer process subscribed to Redis keyspace
notifications of the broker's queue list (`dramatiq:doi`) notes when each RPUSH lands;
nothing consumes the messages, so the n-th RPUSH is the n-th list entry, whose message
(in `dramatiq:doi.msgs`) carries the intent id as its message id. In the same run: the
NOTIFY round trip at the same rate, from COMMIT to the notification arriving in a
listener process.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psycopg
import redis
from psycopg.types.json import Jsonb

from app import outbox
from ops.benchmarks import limits
from ops.benchmarks.figures import Run, emit, interleaved, latency_summary, medians
from ops.benchmarks.harness import Bench, connect, progress, service_env, wait_until
from ops.benchmarks.load import offer_from_processes
from ops.benchmarks.relay import print_profile
from ops.benchmarks.stack import start_relay

QUEUE_KEY = "dramatiq:doi"  # dramatiq's RedisBroker: list of ids; the messages in its .msgs hash
MESSAGES_KEY = "dramatiq:doi.msgs"


def main() -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, action="append", help="intents/s offered (repeat)")
    parser.add_argument("--seconds", type=float, default=10, help="how long each rate is offered")
    parser.add_argument(
        "--writers", type=int, default=0, help="writer processes, 2 threads each (0: rate/250)"
    )
    parser.add_argument(
        "--drain-seconds", type=float, default=60, help="wait for late messages after the writers"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--profile", type=Path, help="one more run at the last rate, relay profiled"
    )
    args = parser.parse_args()
    rates = args.rate or [100.0]
    config = {"rates": rates, "seconds": args.seconds, "repeat": args.repeat}
    config["drain_seconds"] = args.drain_seconds
    with Bench("latency") as bench:
        redis_url = bench.redis()
        steps = []
        for rate in rates:
            writers = args.writers or max(1, math.ceil(rate / 250))
            steps.append(
                _project_step(bench, redis_url, rate, args.seconds, writers, args.drain_seconds)
            )
            steps.append(_anchor_step(bench, rate, args.seconds, writers))
        runs = interleaved(args.repeat, steps, describe)
        median = medians(runs)
        if args.profile:
            # An extra run, not counted: cProfile slows the relay down.
            rate = rates[-1]
            writers = args.writers or max(1, math.ceil(rate / 250))
            profile = args.profile.resolve()
            extra = measure_project(
                bench, redis_url, rate, args.seconds, writers, profile, args.drain_seconds
            )
            print(describe(0, {f"profiled run (not counted) {rate:g}/s": {"project": extra}}))
    print(f"median of {len(runs)}:\n{describe(0, median)}")
    if args.profile and args.profile.exists():
        print_profile(args.profile.resolve())
    emit("latency", config, runs, median)
    return 0


def _project_step(
    bench: Bench, redis_url: str, rate: float, seconds: float, writers: int, drain: float
):
    def step(_number: int) -> Run:
        figures = measure_project(bench, redis_url, rate, seconds, writers, drain=drain)
        return {f"{rate:g}/s": {"project": figures}}

    return step


def _anchor_step(bench: Bench, rate: float, seconds: float, writers: int):
    def step(_number: int) -> Run:
        progress(f"anchor: NOTIFY round trip at {rate:g}/s for {seconds:g} s")
        database_url = bench.database("notify")
        return {
            f"{rate:g}/s": {
                "notify": limits.notify_round_trip(database_url, rate, seconds, writers)
            }
        }

    return step


def describe(number: int, run: Run) -> str:
    """Human lines: project and NOTIFY p50/p99 for each rate."""
    lines = []
    for rate, figures in run.items():
        project, notify = figures.get("project", {}), figures.get("notify", {})
        missing = project.get("not_landed", 0)
        late = (
            f"; {missing:.0f} not in Redis when the wait ended, counted with the time waited, "
            "so these percentiles are lower bounds"
            if missing
            else ""
        )
        lines.append(
            f"{'run ' + str(number) if number else 'median'} at {rate} offered "
            f"({project.get('achieved_per_s', math.nan):.0f}/s achieved): commit → Redis p50 "
            f"{project.get('p50_ms', math.nan):.2f} ms, p99 {project.get('p99_ms', math.nan):.2f} "
            f"ms (max {project.get('max_ms', math.nan):.1f}; claimed p99 "
            f"{project.get('claimed', {}).get('p99_ms', math.nan):.1f} ms, COMMIT p99 "
            f"{project.get('commit', {}).get('p99_ms', math.nan):.1f} ms{late}); "
            f"NOTIFY round trip p50 {notify.get('p50_ms', math.nan):.2f} ms, p99 "
            f"{notify.get('p99_ms', math.nan):.2f} ms"
        )
    return "\n".join(lines)


def measure_project(
    bench: Bench,
    redis_url: str,
    rate: float,
    seconds: float,
    writers: int,
    profile: Path | None = None,
    drain: float = 60,
) -> dict[str, Any]:
    """One rate: intents committed through app.outbox.add, observed landing in Redis."""
    database_url = bench.database("latency")
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.config_set("notify-keyspace-events", "Kl")
    settings = {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
    # No workers: every intent stays enqueued, so in-flight bounding must not stop the
    # relay, and no lease may run out (nothing renews it) and send a message twice.
    in_flight = str(int(rate * seconds) * 2 + 1000)
    relay_env = service_env({**settings, "RELAY_MAX_IN_FLIGHT": in_flight, "LEASE_SECONDS": "3600"})
    relay = start_relay(bench, relay_env, profile=profile)
    observer = Observer(redis_url)
    try:
        progress(f"project: {rate:g} intents/s offered for {seconds:g} s ({writers} writers)")

        # Writer processes, each with its own connection (see outbox_writer).
        offered = offer_from_processes(
            rate, seconds, writers, outbox_writer, database_url, threads=1
        )
        commits = [commit for _, _, commit in offered.results]
        expected = len(offered.results)
        try:
            wait_until(lambda: client.llen(QUEUE_KEY) >= expected, drain, "every message in Redis")
        except TimeoutError:
            progress(
                f"project: only {client.llen(QUEUE_KEY)} of {expected} in Redis after {drain:g} s"
            )
        given_up = time.monotonic()
        landed = observer.stop()
        claimed = claim_lag(database_url)
    finally:
        observer.close()
        bench.stop(relay)
    committed = {intent_id: at for intent_id, at, _ in offered.results}
    ids = client.lrange(QUEUE_KEY, 0, -1)
    messages = client.hmget(MESSAGES_KEY, ids) if ids else []
    client.close()
    arrivals = [int(json.loads(m)["message_id"]) for m in messages if m is not None]
    arrived = {i: at for i, at in zip(arrivals, landed, strict=False) if i in committed}
    # Messages still missing when the wait ended count with the time waited so far: the
    # percentiles are then lower bounds, never a survivor-only median.
    latencies = [arrived.get(i, given_up) - at for i, at in committed.items()]
    return {
        **latency_summary(latencies),
        "offered_per_s": rate,
        "achieved_per_s": offered.achieved_per_s,
        "writer_late_p99_ms": offered.late_ms_p99,
        "not_landed": len(committed) - len(arrived),
        "notifications": len(landed),
        # Where the time went: the writers' COMMIT itself, and created → claimed in the rows.
        "commit": latency_summary(commits),
        "claimed": claimed,
    }


# The row and the NOTIFY `app.outbox.add` writes for a new intent, in one transaction.
WRITE_INTENT = """
INSERT INTO outbox (created_at, updated_at, topic, queue, key, payload, status, attempts,
                    available_at)
VALUES (now(), now(), 'sync_doi', 'doi', %s, %s, 'pending', 0, now())
RETURNING id
"""


def outbox_writer(database_url: str) -> Callable[[int], tuple[int, float, float]]:
    """In a writer process: an action committing one intent with what `app.outbox.add`
    writes (the row, then `NOTIFY doiflow_outbox`), over plain psycopg; the intent id,
    the moment COMMIT was issued, and how long it took.

    Not through the ORM: on this 2-core machine, 1,000 ORM writes a second take most of
    a core, which the relay under test then lacks. In a deployment the writers are the
    web processes, on machines of their own; here they should cost as little as they can.
    """
    conn = psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"))
    lock = threading.Lock()  # one connection per process; its threads take turns on it

    def write(k: int) -> tuple[int, float, float]:
        with lock:
            row = conn.execute(WRITE_INTENT, (f"doi:{k}", Jsonb({"doi_id": k}))).fetchone()
            conn.execute(f"NOTIFY {outbox.NOTIFY_CHANNEL}")
            committing = time.monotonic()
            conn.commit()
            return int(row[0]), committing, time.monotonic() - committing

    return write


def claim_lag(database_url: str) -> dict[str, float]:
    """created_at (the writer's flush) → updated_at (the relay's claim), p50/p99/max in ms.

    Rows still pending count until now (a lower bound, as for the messages).
    """
    with connect(database_url) as conn:
        rows = conn.execute(
            "SELECT extract(epoch FROM CASE WHEN status = 'enqueued' THEN updated_at "
            "ELSE clock_timestamp() END - created_at) FROM outbox"
        ).fetchall()
    return latency_summary([float(row[0]) for row in rows])


class Observer:
    """A process subscribed to the queue list's keyspace events, noting each RPUSH's time."""

    def __init__(self, redis_url: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_observe, args=(redis_url, child), daemon=True)
        self._process.start()
        if not self._pipe.poll(30) or self._pipe.recv() != "ready":
            self.close()
            raise RuntimeError("the Redis observer did not start")

    def stop(self) -> list[float]:
        """The monotonic time of every RPUSH seen, in order."""
        self._pipe.send("stop")
        landed: list[float] = self._pipe.recv() if self._pipe.poll(30) else []
        return landed

    def close(self) -> None:
        """End the observer process."""
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()


def _observe(redis_url: str, pipe: Connection) -> None:
    client = redis.Redis.from_url(redis_url)
    subscription = client.pubsub(ignore_subscribe_messages=True)
    db = client.connection_pool.connection_kwargs.get("db", 0)
    subscription.subscribe(f"__keyspace@{db}__:{QUEUE_KEY}")
    subscription.get_message(timeout=1)  # the subscribe confirmation
    pipe.send("ready")
    landed: list[float] = []
    while not pipe.poll():
        message = subscription.get_message(timeout=0.1)
        if message is not None and message["data"] == b"rpush":
            landed.append(time.monotonic())
    # Drain what arrived before the stop request.
    while (message := subscription.get_message(timeout=0.05)) is not None:
        if message["data"] == b"rpush":
            landed.append(time.monotonic())
    pipe.send(landed)
    subscription.close()
    client.close()


if __name__ == "__main__":
    sys.exit(main())
