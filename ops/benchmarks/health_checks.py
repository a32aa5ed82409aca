"""Time each health check on a large archive, and print its plan.

    python -m ops.benchmarks.health_checks [--datasets 200000] [--repeat 3]

Creates its own scratch database (dropped at the end) and fills it with `--datasets`
public datasets, each with a concept DOI, two published versions and their findable
version DOIs, and one done sync intent per DOI; a few DOIs are behind their target. Then
it times `health_checks.measure` (what `GET /api/health` and the dashboard run per request),
with and without the archive-wide checks (`doiflow doi check` and the clock's snapshot
run them; `GET /api/health` and the dashboard read them from the snapshot), each new
check alone, and prints their plans.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from sqlalchemy import func, select, text

from app.config import load_settings
from app.db import make_engine, make_session_factory
from app.services import health_checks
from ops.benchmarks.harness import ADMIN_URL, Bench, progress, sqlalchemy_url

FILL = [
    """INSERT INTO datasets (id, embargoed, draft_metadata, created_at, updated_at)
       SELECT 'ds' || g, false, '{}'::jsonb, now(), now() FROM generate_series(1, :n) g""",
    """INSERT INTO versions (dataset_id, name, metadata_snapshot, created_at)
       SELECT 'ds' || g, 'v' || v, '{}'::jsonb, now()
       FROM generate_series(1, :n) g, generate_series(1, 2) v""",
    """INSERT INTO dois (doi, kind, dataset_id, version_id, state, target, attempts,
                         created_at, updated_at, row_version)
       SELECT '10.80507/b.' || dataset_id || '/' || name, 'version', dataset_id, id,
              'findable', 'findable', 0, now() - interval '1 day', now() - interval '1 day', 1
       FROM versions""",
    """INSERT INTO dois (doi, kind, dataset_id, state, target, attempts, created_at,
                         updated_at, row_version)
       SELECT '10.80507/b.' || id, 'concept', id, 'findable', 'findable', 0,
              now() - interval '1 day', now() - interval '1 day', 1
       FROM datasets""",
    """INSERT INTO outbox (created_at, updated_at, topic, queue, key, payload, status,
                           attempts, available_at)
       SELECT now(), now(), 'sync_doi', 'doi', 'doi:' || id, '{}'::jsonb, 'done', 1, now()
       FROM dois""",
    # A few DOIs behind their target, nothing moving them
    """UPDATE dois SET state = 'draft' WHERE id % 50000 = 7""",
    "ANALYZE",
]
NEW_CHECKS = {
    "public_datasets_without_concept_doi": lambda _s: health_checks._datasets_without_concept(),
    "versions_without_doi": lambda _s: health_checks._versions_without_doi(),
    "drafts_waiting_for_publish": lambda _s: health_checks._waiting_drafts(),
}


def _before():  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from app.db import utcnow

    return utcnow() - timedelta(hours=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--admin-url", default=ADMIN_URL)
    args = parser.parse_args()
    with Bench("health", args.admin_url) as bench:
        return measure(sqlalchemy_url(bench.database("health")), args.datasets, args.repeat)


def measure(url: str, datasets: int, repeat: int) -> int:
    """Fill, then time and explain the checks."""
    engine = make_engine(url)
    progress(f"filling {datasets} datasets, {3 * datasets} DOIs ...")
    with engine.begin() as conn:
        for statement in FILL:
            conn.execute(text(statement), {"n": datasets})
    settings = load_settings({"DATABASE_URL": url, "DOI_PUBLISH": "true"})
    sessions = make_session_factory(engine)
    figures: dict[str, float] = {}
    with sessions() as session:
        runs = []
        for _ in range(repeat):
            started = time.perf_counter()
            checks = health_checks.measure(session, settings)
            runs.append((time.perf_counter() - started) * 1000)
        figures["measure_ms"] = round(statistics.median(runs), 1)
        print(f"health.measure, archive-wide (doi check, snapshot): {figures['measure_ms']} ms")
        runs = []
        for _ in range(repeat):
            started = time.perf_counter()
            health_checks.measure(session, settings, archive_wide=False)
            runs.append((time.perf_counter() - started) * 1000)
        figures["per_request_ms"] = round(statistics.median(runs), 1)
        print(f"health.measure per request (/api/health): median {figures['per_request_ms']} ms")
        print(f"  checks: {json.dumps(checks)}")
        runs = []
        for _ in range(repeat):
            started = time.perf_counter()
            behind = health_checks._count_behind(session, settings, _before())
            runs.append((time.perf_counter() - started) * 1000)
        figures["dois_behind_target_ms"] = round(statistics.median(runs), 1)
        print(f"dois_behind_target: {behind} found, median {figures['dois_behind_target_ms']} ms")
        for name, build in NEW_CHECKS.items():
            query = build(settings)
            runs = []
            for _ in range(repeat):
                started = time.perf_counter()
                count = session.scalar(
                    select(func.count()).select_from(
                        query.limit(health_checks.COUNT_LIMIT + 1).subquery()
                    )
                )
                runs.append((time.perf_counter() - started) * 1000)
            figures[f"{name}_ms"] = round(statistics.median(runs), 1)
            compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
            plan = session.execute(text(f"EXPLAIN {compiled}")).scalars().all()
            print(f"{name}: {count} found, median {figures[f'{name}_ms']} ms")
            print("    " + "\n    ".join(plan))
    engine.dispose()
    print(json.dumps({"datasets": datasets, **figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
