"""Measure DOI throughput through the whole pipeline: API service → outbox → relay → Redis →
Dramatiq worker threads → DataCite sandbox → state machine.

    python -m ops.benchmarks.throughput [--datasets 500] [--threads 8] [--latency-ms 0] [--preload]

Uses a scratch Postgres database, Redis DB 12 and an in-process sandbox (no rate limit
on either side). Prints how long the creates took and how long until every concept DOI
was confirmed as a draft, with DOIs per second for each. With --preload the datasets are
created before the relay and workers start, so the drain rate is measured on its own.
"""

from __future__ import annotations

import argparse
import sys
import time

import psycopg
import redis
import requests
from sqlalchemy import func, select

from app.config import load_settings
from app.models import Doi
from app.runtime import Runtime
from app.schema import upgrade
from app.services import datasets
from ops.sandbox import SandboxServer

DATABASE = "doiflow_throughput"
REDIS_URL = "redis://127.0.0.1:6379/12"


def main() -> int:
    """Run the benchmark and print the measured figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=500)
    parser.add_argument("--threads", type=int, default=8, help="worker threads")
    parser.add_argument("--latency-ms", type=int, default=0, help="added DataCite latency")
    parser.add_argument("--preload", action="store_true", help="create all, then start workers")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    runtime, sandbox = _setup(args)
    from workers.embedded import EmbeddedWorkers

    workers = EmbeddedWorkers(runtime, worker_threads=args.threads)
    if not args.preload:
        workers.start()
    started = time.perf_counter()
    for n in range(args.datasets):
        with runtime.sessions.begin() as session:
            datasets.create_dataset(
                runtime, session, f"bench{n}", embargoed=False, metadata=_meta(n)
            )
    created = time.perf_counter() - started
    print(
        f"created {args.datasets} datasets in {created:.2f} s "
        f"({args.datasets / created:.0f}/s, one transaction each)",
        flush=True,
    )
    if args.preload:
        started = time.perf_counter()
        workers.start()
    drafted = _wait_for_drafts(runtime, args.datasets)
    total = time.perf_counter() - started
    workers.stop()
    requests_made = len(sandbox.requests())
    print(
        f"all {drafted} concept DOIs draft after {total:.2f} s: {drafted / total:.1f} DOIs/s "
        f"end to end, {requests_made} DataCite requests, {args.threads} worker threads, "
        f"{args.latency_ms} ms added latency{', preloaded' if args.preload else ''}"
    )
    sandbox.stop()
    runtime.close()
    return 0 if drafted == args.datasets and requests_made == args.datasets else 1


def _setup(args: argparse.Namespace) -> tuple[Runtime, SandboxServer]:
    with psycopg.connect(args.admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    redis.Redis.from_url(REDIS_URL).flushdb()
    sandbox = SandboxServer(host="127.0.0.1", port=0, users={"BENCH": "pw"}, prefixes=["10.80507"])
    sandbox.start()
    if args.latency_ms:
        sandbox.add_faults({"method": "PUT", "latency_ms": args.latency_ms})
    base = args.admin_url.rsplit("/", 1)[0]
    settings = load_settings(
        {
            "DATABASE_URL": f"{base}/{DATABASE}",
            "REDIS_URL": REDIS_URL,
            "DOI_INSTANCE": "bench",
            "DATACITE_API_URL": sandbox.url,
            "DATACITE_USER": "BENCH",
            "DATACITE_PASSWORD": "pw",
            "DATACITE_PREFIX": "10.80507",
            "DATACITE_RATE_LIMIT": "1000000/300s",
            "RELAY_POLL_SECONDS": "0.2",
        }
    )
    upgrade(settings.database_url)
    return Runtime.from_settings(settings), sandbox


def _wait_for_drafts(runtime: Runtime, expected: int, timeout: float = 600) -> int:
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        with runtime.sessions() as session:
            count = session.scalar(select(func.count()).where(Doi.state == "draft")) or 0
        if count >= expected:
            break
        time.sleep(0.1)
    return int(count)


def _meta(n: int) -> dict[str, object]:
    return {"titles": [{"title": f"Benchmark dataset {n}"}]}


if __name__ == "__main__":
    requests.packages.urllib3.disable_warnings()  # type: ignore[attr-defined]
    sys.exit(main())
