"""The relay's claim (`app.claiming.claim_due`, limit 100) timed beside many rows.

With `analyze=True` the outbox is filled the way the relay leaves it with no workers:
`enqueued` rows that were pending when statistics were last taken (ANALYZE runs while
they are pending) and were enqueued afterwards, plus due pending rows. No ANALYZE
follows the enqueues: the planner sees statistics that predate them, as the issue
describes. With `analyze=False` no statistics exist at all, as in a relay run that
starts right after a burst of inserts. Each claim runs in its own transaction, rolled
back, so every timing sees the same rows.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from app import claiming
from app.db import make_engine
from ops.benchmarks.harness import Bench, connect, progress, sqlalchemy_url

FILL = """
INSERT INTO outbox (created_at, updated_at, topic, queue, key, payload, status, attempts,
                    available_at)
SELECT now(), now(), 'sync_doi', 'doi', %s || g, jsonb_build_object('doi_id', g),
       'pending', 0, now() - interval '1 minute'
FROM generate_series(1, %s) g
"""
ENQUEUE = """
UPDATE outbox SET status = 'enqueued', lease_token = gen_random_uuid()::text,
       lease_expires_at = now() + interval '1 hour', updated_at = now()
WHERE key LIKE 'doi:e%'
"""
STATS = """
SELECT c.reltuples::bigint, s.last_analyze IS NOT NULL, s.last_autoanalyze IS NOT NULL,
       s.n_mod_since_analyze
FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.relname = 'outbox'
"""


def measure(
    bench: Bench, enqueued: int, due: int = 1000, *, analyze: bool = True, times: int = 5
) -> dict[str, Any]:
    """Median and best claim time (ms) with `enqueued` rows in flight; prints the plan."""
    database_url = bench.database("claim")
    stats_note = "statistics taken before enqueueing" if analyze else "no statistics"
    progress(f"claim: {enqueued} enqueued rows, {due} due, {stats_note}")
    with connect(database_url) as conn:
        conn.execute(FILL, ("doi:e", enqueued))
        conn.execute(FILL, ("doi:p", due))
        _flush_stats(conn)  # so the inserts are counted before the ANALYZE, not after it
        if analyze:
            conn.execute("ANALYZE outbox")
        conn.execute(ENQUEUE)
        _flush_stats(conn)
        stats = conn.execute(STATS).fetchone()
    engine = make_engine(sqlalchemy_url(database_url))
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, sql: str, params: Any, *_rest: Any) -> None:
        statements.append((sql, params))

    event.listen(engine, "before_cursor_execute", capture)
    timings, claimed = [], 0
    try:
        for _ in range(times):
            with Session(engine) as session:
                started = time.perf_counter()
                claimed = len(claiming.claim_due(session, limit=100, lease_seconds=120))
                timings.append((time.perf_counter() - started) * 1000)
                session.rollback()
        # One claim's statements: the plan settings (`STEADY_PLAN`), then the claim itself.
        plan = explain(engine, statements[: len(statements) // times])
    finally:
        engine.dispose()
    result = {
        "enqueued": enqueued,
        "due": due,
        "analyzed_before_enqueue": analyze,
        "claimed": claimed,
        "median_ms": statistics.median(timings),
        "best_ms": min(timings),
        "plan_seq_scan": any("Seq Scan on outbox" in line for line in plan),
        "stats_reltuples": stats[0] if stats else None,  # -1: never analyzed
        "stats_mod_since_analyze": stats[3] if stats else None,
    }
    print(
        f"claim_due(limit=100) with {enqueued:,} enqueued and {due:,} due rows ({stats_note}): "
        f"median {result['median_ms']:.1f} "
        f"ms, best {result['best_ms']:.1f} ms over {times} claims of {claimed}; statistics: "
        f"reltuples {result['stats_reltuples']}, {result['stats_mod_since_analyze']} rows "
        "changed since the last ANALYZE; plan:"
    )
    print("    " + "\n    ".join(plan))
    return result


def _flush_stats(conn: Any) -> None:
    # A backend's table counters reach pg_stat_user_tables only when it flushes them.
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.execute("SELECT 1")


def explain(engine: Any, claim: list[tuple[str, Any]]) -> list[str]:
    """EXPLAIN ANALYZE of a claim's last statement after the ones before it (its settings),
    in one transaction rolled back (it locks the rows it reads)."""
    *settings, (sql, params) = claim
    with engine.connect() as conn:
        cursor = conn.connection.cursor()
        for before, before_params in settings:
            cursor.execute(before, before_params)
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plan = [row[0] for row in cursor.fetchall()]
        conn.rollback()
    return plan
