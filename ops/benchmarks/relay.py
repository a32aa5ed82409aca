"""Relay throughput: intents/s of the real `doiflow relay` vs this machine's in-series limit.

    python -m ops.benchmarks.relay [--due 20000] [--repeat 3] [--limit-batch 500]
        [--claim-sizes 0,10000,100000] [--claim-backlog N] [--profile relay.prof]

Each run: a fresh database and a private redis-server; one `doiflow relay` (no
workers, RELAY_MAX_IN_FLIGHT above --due) waits on LISTEN; N due intents (topic
sync_doi, queue doi, distinct keys) are inserted and NOTIFYed in one transaction;
the clock runs from that commit until every intent is `enqueued` and its message is
in Redis (polled every 50 ms). Then, in the same run, the limit: a raw batched
`UPDATE … SKIP LOCKED RETURNING` claim over a scratch table and pipelined Dramatiq-shaped
Redis writes, in series: 1 / (1/claim + 1/redis). Finally `app.claiming.claim_due`
(limit 100) is timed in-process over 0, 10k and 100k enqueued rows whose statistics
predate the enqueues, and over --due pending rows with no statistics at all (the state
each run above starts in), each with its EXPLAIN ANALYZE plan.
"""

from __future__ import annotations

import argparse
import pstats
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import redis

from ops.benchmarks import claim_times, limits
from ops.benchmarks.figures import Run, emit, interleaved, medians, ratio
from ops.benchmarks.harness import Bench, Process, connect, progress, service_env
from ops.benchmarks.stack import start_relay

SEED = """
INSERT INTO outbox (created_at, updated_at, topic, queue, key, payload, status, attempts,
                    available_at)
SELECT now(), now(), 'sync_doi', 'doi', 'doi:' || g, jsonb_build_object('doi_id', g),
       'pending', 0, now() - interval '1 second'
FROM generate_series(1, %s) g
"""
QUEUE_KEY = "dramatiq:doi"  # the Redis broker's list for queue "doi" (dispatch.lua)


class StallError(RuntimeError):
    """The relay stopped moving intents; the message holds what was seen."""


def main() -> int:
    """Run the benchmark; 0 when every run moved every intent."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--due", type=int, default=20_000, help="due intents per run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--limit-batch", type=int, default=500, help="batch of the raw limit")
    parser.add_argument("--claim-sizes", default="0,10000,100000", help="enqueued rows; '' skips")
    parser.add_argument(
        "--claim-backlog", type=int, default=-1, help="due rows, no statistics (-1: --due; 0 skips)"
    )
    parser.add_argument("--stall-seconds", type=float, default=30, help="no progress → abort")
    parser.add_argument(
        "--lease-seconds", type=float, help="LEASE_SECONDS for the relay (default: the project's)"
    )
    parser.add_argument("--profile", type=Path, help="run the last run's relay under cProfile")
    args = parser.parse_args()
    if args.claim_backlog < 0:
        args.claim_backlog = args.due
    config = {"due": args.due, "repeat": args.repeat, "limit_batch": args.limit_batch}
    config["lease_seconds"] = args.lease_seconds
    with Bench("relay") as bench:
        redis_url = bench.redis()

        def project(_number: int) -> Run:
            return measure_relay(bench, redis_url, args, None)

        def limit(_number: int) -> Run:
            return measure_limit(bench, redis_url, args.due, args.limit_batch)

        def derive(run: Run) -> Run:
            return {"ratio": ratio(run["relay_per_s"], run["limit_per_s"])}

        runs = interleaved(args.repeat, [project, limit], describe, derive)
        median = medians(runs)
        print(
            f"median of {len(runs)}: relay {median['relay_per_s']:,.0f} intents/s; limit "
            f"{median['limit_per_s']:,.0f}/s (claim {median['claim_per_s']:,.0f}/s, redis "
            f"{median['redis_per_s']:,.0f}/s); ratio {median['ratio']:.3f}"
        )
        sizes = [int(s) for s in args.claim_sizes.split(",") if s.strip()]
        claims = [claim_times.measure(bench, size) for size in sizes]
        if args.claim_backlog:
            # The state a relay run starts in: a burst of due rows, no statistics yet.
            claims.append(claim_times.measure(bench, 0, args.claim_backlog, analyze=False))
        if args.profile:
            # An extra run, not counted: cProfile slows the relay down.
            progress(f"profiling one more relay run into {args.profile}")
            profiled = measure_relay(bench, redis_url, args, args.profile.resolve())
            print(f"profiled run (not counted): relay {profiled['relay_per_s']:,.0f} intents/s")
    if args.profile and args.profile.exists():
        print_profile(args.profile.resolve())
    emit("relay", config, runs, median, claim_times=claims)
    return 0


def describe(number: int, run: Run) -> str:
    """One human line per run."""
    return (
        f"run {number}: relay {run['relay_per_s']:,.0f} intents/s ({run['due']} in "
        f"{run['relay_seconds']:.2f} s, first message after {run['first_ms']:.0f} ms, "
        f"{run['duplicates_in_redis']:.0f} duplicates, {run['rescued_rows']:.0f} rescued, "
        f"{run['autoanalyzed']:.0f} autoanalyze); "
        f"limit {run['limit_per_s']:,.0f}/s (claim {run['claim_per_s']:,.0f}/s, redis "
        f"{run['redis_per_s']:,.0f}/s); ratio {run['ratio']:.3f}"
    )


def measure_relay(
    bench: Bench, redis_url: str, args: argparse.Namespace, profile: Path | None
) -> Run:
    """One relay run on a fresh database: seconds from the seeding commit to all enqueued."""
    due, stall_seconds = args.due, args.stall_seconds
    database_url = bench.database("relay")
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    settings = {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
    # No workers complete anything: the in-flight bound would stop the relay at 1000.
    settings["RELAY_MAX_IN_FLIGHT"] = str(due + 1)
    if args.lease_seconds:
        settings["LEASE_SECONDS"] = f"{args.lease_seconds:g}"
        settings["DATACITE_READ_TIMEOUT"] = f"{min(30, args.lease_seconds / 2):g}"
    env = service_env(settings)
    relay = start_relay(bench, env, profile=profile)
    with connect(database_url) as conn:
        with conn.transaction():
            conn.execute(SEED, (due,))
            conn.execute("NOTIFY doiflow_outbox")
        started = time.monotonic()
        progress(f"relay: {due} due intents committed; waiting until all are in Redis")
        try:
            first, done = wait_drained(conn, client, relay, due, started, stall_seconds)
        finally:
            evidence = after_run(conn, relay)
    in_redis = int(client.llen(QUEUE_KEY))
    client.close()
    bench.stop(relay)
    if evidence["statuses"].get("enqueued") != due or in_redis < due:
        raise RuntimeError(f"expected {due} enqueued and in Redis: {evidence}, {in_redis} in Redis")
    return {
        "due": due,
        "relay_seconds": done - started,
        "relay_per_s": due / (done - started),
        "first_ms": (first - started) * 1000,
        # Messages sent twice: leases that expired (no workers) and were re-enqueued.
        "duplicates_in_redis": in_redis - due,
        "rescued_rows": evidence["rescued_rows"],
        "autoanalyzed": evidence["autoanalyzed"],
    }


def wait_drained(
    conn: psycopg.Connection,
    client: redis.Redis,
    relay: Process,
    due: int,
    started: float,
    stall_seconds: float,
) -> tuple[float, float]:
    """Poll every 50 ms until `due` rows are enqueued and their messages are in Redis.

    A stall is no new high-water mark of enqueued rows for `stall_seconds`: rows whose
    lease expired go back to pending, so the count can move without progressing.
    """
    first = best_at = started
    best, in_redis = 0, 0
    next_report = started + 5
    while True:
        row = conn.execute("SELECT count(*) FROM outbox WHERE status = 'enqueued'").fetchone()
        enqueued, in_redis = (int(row[0]) if row else 0), int(client.llen(QUEUE_KEY))
        now = time.monotonic()
        if in_redis and first == started:
            first = now
        if enqueued > best:
            best, best_at = enqueued, now
        if enqueued == due and in_redis >= due:
            return first, now
        if not relay.running:
            raise StallError(f"the relay exited: {relay.tail()}")
        if now - best_at > stall_seconds:
            raise StallError(diagnose(conn, relay, (enqueued, in_redis), stall_seconds))
        if now >= next_report:
            progress(f"relay: {enqueued} enqueued, {in_redis} in Redis after {now - started:.0f} s")
            next_report = now + 5
        time.sleep(0.05)


def after_run(conn: psycopg.Connection, relay: Process) -> dict[str, Any]:
    """Evidence for a slow or stalled run: statuses, rescued rows, an autoanalyze."""
    statuses = dict(conn.execute("SELECT status, count(*) FROM outbox GROUP BY 1").fetchall())
    row = conn.execute("SELECT count(*) FROM outbox WHERE attempts > 0").fetchone()
    analyzed = conn.execute(
        "SELECT autoanalyze_count FROM pg_stat_user_tables WHERE relname = 'outbox'"
    ).fetchone()
    rescues = relay.log_text().count("expired leases rescued")
    if rescues:
        progress(f"relay: the relay logged {rescues} rescues of expired leases")
    return {
        "statuses": statuses,
        "rescued_rows": int(row[0]) if row else 0,
        "autoanalyzed": int(analyzed[0]) if analyzed else 0,
    }


def diagnose(conn: psycopg.Connection, relay: Process, seen: tuple[int, int], stall: float) -> str:
    """What the database and the relay look like when nothing has moved for a while."""
    statuses = conn.execute("SELECT status, count(*) FROM outbox GROUP BY 1").fetchall()
    row = conn.execute("SELECT count(*) FROM outbox WHERE attempts > 0").fetchone()
    rescues = relay.log_text().count("expired leases rescued")
    activity = conn.execute(
        "SELECT pid, state, wait_event_type, wait_event, left(query, 120) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    ).fetchall()
    return (
        f"no new high of enqueued rows for {stall:g} s, now {seen[0]} enqueued / {seen[1]} in "
        f"Redis; outbox by status {statuses}; {row[0] if row else 0} rows with attempts > 0 and "
        f"{rescues} 'expired leases rescued' lines in the relay's log (leases ran out: nothing "
        f"completes intents here); backends {activity}; relay log:\n{relay.tail(10)}"
    )


def measure_limit(bench: Bench, redis_url: str, due: int, batch: int) -> dict[str, Any]:
    """The in-series limit, measured now: raw claim rate and pipelined Redis write rate."""
    progress(f"limit: raw claim of {due} rows in batches of {batch}, then Redis writes")
    database_url = bench.database("limit")
    claim = limits.claim_limit(database_url, due, batch)
    written = limits.redis_limit(redis_url, due, batch)
    limit = limits.in_series(claim["claim_per_s"], written["redis_per_s"])
    return {
        "claim_per_s": claim["claim_per_s"],
        "redis_per_s": written["redis_per_s"],
        "limit_per_s": limit,
    }


def print_profile(path: Path, lines: int = 25) -> None:
    """The relay's hottest functions (own time), from its cProfile dump."""
    print(f"profile of the last run's relay ({path}), top {lines} by own time:")
    stats = pstats.Stats(str(path), stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(lines)
    print("the same, doiflow's and the broker's functions by cumulative time:")
    stats.sort_stats("cumulative").print_stats(r"(app|workers|dramatiq/brokers)/", lines)


if __name__ == "__main__":
    sys.exit(main())
