"""Show that the relay's claim is an index scan on a large outbox, and how long it takes.

    python -m ops.benchmarks.claim_plan [--rows 200000] [--admin-url postgresql://postgres@127.0.0.1/postgres]

Creates its own scratch database (doiflow_bench_plan_<uuid>, dropped at the end), fills
the outbox (1% pending, 1% enqueued, the rest done), prints EXPLAIN ANALYZE of the claim
query and the measured claim time, and exits 1 if Postgres chose a sequential scan of
the outbox.
"""

from __future__ import annotations

import argparse
import sys
import time

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from app import claiming
from app.db import make_engine
from ops.benchmarks.harness import ADMIN_URL, Bench, sqlalchemy_url

FILL = """
INSERT INTO outbox
    (created_at, updated_at, topic, queue, key, payload, status, attempts, available_at)
SELECT now(), now(), 'sync_doi', 'doi', 'doi:' || g, '{}'::jsonb,
       CASE WHEN g % 100 = 0 THEN 'pending' WHEN g % 100 = 1 THEN 'enqueued' ELSE 'done' END,
       0, now() - interval '1 second'
FROM generate_series(1, :rows) g
"""


def main() -> int:
    """Run the benchmark; 0 when the claim uses the index."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--admin-url", default=ADMIN_URL)
    args = parser.parse_args()
    with Bench("plan", args.admin_url) as bench:
        return measure(sqlalchemy_url(bench.database("plan")), args.rows)


def measure(url: str, rows: int) -> int:
    """Fill, explain and time the claim on the database at `url`."""
    engine = make_engine(url)
    print(f"filling the outbox with {rows} rows ...", flush=True)
    with engine.begin() as conn:
        conn.execute(text(FILL), {"rows": rows})
        conn.execute(text("ANALYZE outbox"))
    statements: list[tuple[str, object]] = []
    event.listen(
        engine,
        "before_cursor_execute",
        lambda _c, _cur, sql, params, *_: statements.append((sql, params)),
    )
    with Session(engine) as session:
        started = time.perf_counter()
        claims = claiming.claim_due(session, limit=100, lease_seconds=30)
        elapsed_ms = (time.perf_counter() - started) * 1000
        session.rollback()
    sql, params = statements[0]
    with engine.connect() as conn:
        cursor = conn.connection.cursor()
        cursor.execute("EXPLAIN ANALYZE " + sql, params)
        plan = [row[0] for row in cursor.fetchall()]
    print("\n".join(plan))
    print(
        f"claimed {len(claims)} of {rows // 100} due intents in {elapsed_ms:.1f} ms "
        "(first call, cold)"
    )
    engine.dispose()
    seq_scan = any("Seq Scan on outbox" in line for line in plan)
    print("claim uses a sequential scan of the outbox!" if seq_scan else "claim is an index scan")
    return 1 if seq_scan else 0


if __name__ == "__main__":
    sys.exit(main())
