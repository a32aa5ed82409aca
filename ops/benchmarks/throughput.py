"""DOI throughput through the whole pipeline: service → outbox → relay → Redis → doi-worker
→ DataCite sandbox → state machine, with real processes.

    python -m ops.benchmarks.throughput [--datasets 500] [--threads 8] [--processes 2]
        [--latency-ms 0] [--preload] [--rate-limit 10/1s] [--repeat 3]

Each run: a fresh database, a private redis-server, a `doiflow sandbox` (with
`--rate-limit` it answers 429 beyond the limit; with `--latency-ms` every PUT waits
that long), one `doiflow relay` and one doi-worker (`dramatiq workers.worker -Q doi
--processes P --threads N/P`, P from `--processes`: 2 by default, as in the Procfile, or 1
when `--threads` is odd).
Datasets are created through the service layer, one transaction each. Without
--preload the processes run first and the clock starts with the creates; with --preload
the datasets exist before the processes start and the clock starts at the first
DataCite request (the sandbox's log), so the drain is measured alone. It stops when
every concept DOI is `draft` in the database.

The limit, in the same run: with --latency-ms, threads ÷ latency, and the rate of
`--threads` bare HTTP clients PUTting drafts to the same sandbox (no rate limit only);
with --rate-limit (given to the workers as DATACITE_RATE_LIMIT and to the sandbox) the
limit counting the bucket's initial burst, N / ((N - burst) / rate), which is the ratio's
bound, and the nominal rate. The 429s the sandbox answered are counted from its request
log; "snoozes" are the throttles recorded on the intents (our bucket's and 429s).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

import redis
import requests

from app.config import load_settings
from app.runtime import Runtime
from app.services import datasets
from ops.benchmarks.figures import Run, emit, interleaved, medians, ratio
from ops.benchmarks.harness import Bench, connect, progress, service_env
from ops.benchmarks.stack import (
    SANDBOX_PASSWORD,
    SANDBOX_USER,
    Sandbox,
    start_relay,
    start_sandbox,
    start_worker,
)
from ops.sandbox.faults import parse_rate_limit


def main() -> int:
    """Run the benchmark; 1 if a run did not bring every DOI to draft."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=500)
    parser.add_argument("--threads", type=int, default=8, help="worker threads in all")
    parser.add_argument(
        "--processes",
        type=int,
        help="doi-worker processes sharing --threads (default 2, as in the Procfile; 1 if odd)",
    )
    parser.add_argument("--latency-ms", type=int, default=0, help="added DataCite latency")
    parser.add_argument("--preload", action="store_true", help="create all, then start workers")
    parser.add_argument("--rate-limit", help="DataCite rate limit, e.g. 10/1s (both sides)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--admin-url", help="Postgres admin URL (default $BENCH_POSTGRES_URL)")
    args = parser.parse_args()
    if args.processes is None:
        args.processes = 2 if args.threads % 2 == 0 else 1
    if args.processes < 1 or args.threads % args.processes:
        parser.error("--threads must be a multiple of --processes")
    # (requests, period seconds), parsed as the sandbox parses its --rate-limit.
    limit = parse_rate_limit(args.rate_limit) if args.rate_limit else None
    config = {
        k: getattr(args, k)
        for k in ("datasets", "threads", "processes", "latency_ms", "preload", "rate_limit")
    }
    with Bench("throughput", args.admin_url) as bench:
        redis_url = bench.redis()
        sandboxes: list[Sandbox] = []

        def project(number: int) -> Run:
            run, sandbox = measure(bench, redis_url, args)
            sandboxes.append(sandbox)
            return run

        def anchor(number: int) -> Run:
            sandbox = sandboxes[-1]
            figures: Run = {}
            if args.latency_ms:
                figures["threads_over_latency_per_s"] = args.threads / (args.latency_ms / 1000)
            if limit is None:
                figures["raw_clients_per_s"] = raw_put_rate(sandbox, args, number)
            else:
                count, period = limit
                figures["limit_per_s"] = count / period
                if args.datasets > count:
                    best = (args.datasets - count) / (count / period)
                    figures["limit_with_burst_per_s"] = args.datasets / best
            bench.stop(sandbox.process)
            return figures

        def derive(run: Run) -> Run:
            # The ratio is to a bound the pipeline cannot beat: with a rate limit, the
            # limit counting its initial burst (the nominal rate can be beaten by it).
            bound = (
                run.get("threads_over_latency_per_s")
                or run.get("limit_with_burst_per_s")
                or run.get("limit_per_s")
                or run["raw_clients_per_s"]
            )
            extra = {"ratio": ratio(run["dois_per_s"], bound)}
            if "raw_clients_per_s" in run:
                extra["ratio_to_raw_clients"] = ratio(run["dois_per_s"], run["raw_clients_per_s"])
            if "limit_per_s" in run:
                extra["ratio_to_nominal_limit"] = ratio(run["dois_per_s"], run["limit_per_s"])
            return extra

        runs = interleaved(args.repeat, [project, anchor], describe, derive)
        median = medians(runs)
        print(describe(0, median))
    emit("throughput", config, runs, median)
    return 0 if all(run["drafted"] == args.datasets for run in runs) else 1


def describe(number: int, run: Run) -> str:
    """One human line per run (0: the median)."""
    label = f"run {number}" if number else "median"
    parts = [
        f"{label}: {run['drafted']:.0f} concept DOIs draft in {run['seconds']:.2f} s: "
        f"{run['dois_per_s']:.1f} DOIs/s ({run['puts']:.0f} PUTs, {run['status_429']:.0f} "
        f"answered 429, {run['throttles']:.0f} snoozes)"
    ]
    if "threads_over_latency_per_s" in run:
        parts.append(f"threads ÷ latency {run['threads_over_latency_per_s']:.1f}/s")
    if "raw_clients_per_s" in run:
        parts.append(f"bare clients {run['raw_clients_per_s']:.1f} PUTs/s")
    if "limit_per_s" in run:
        parts.append(
            f"limit {run['limit_per_s']:.1f}/s ({run.get('limit_with_burst_per_s', 0):.1f}/s "
            "with the initial burst)"
        )
    parts.append(f"ratio {run['ratio']:.3f}")
    if "ratio_to_nominal_limit" in run:
        parts.append(f"ratio to the nominal limit {run['ratio_to_nominal_limit']:.3f}")
    if "ratio_to_raw_clients" in run:
        parts.append(f"ratio to bare clients {run['ratio_to_raw_clients']:.3f}")
    return "; ".join(parts)


def measure(bench: Bench, redis_url: str, args: argparse.Namespace) -> tuple[Run, Sandbox]:
    """One run of the pipeline; the sandbox stays up for the anchor."""
    database_url = bench.database("throughput")
    redis.Redis.from_url(redis_url).flushdb()
    sandbox = start_sandbox(bench, service_env({}), rate_limit=args.rate_limit)
    if args.latency_ms:
        sandbox.add_faults({"method": "PUT", "latency_ms": args.latency_ms})
    settings = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        **sandbox.settings,
        # Without --rate-limit our own bucket must not be what is measured.
        "DATACITE_RATE_LIMIT": args.rate_limit or "1000000/300s",
    }
    env = service_env(settings)
    runtime = Runtime.from_settings(load_settings(settings))
    try:
        if args.preload:
            create(runtime, args.datasets)
            started = None
        else:
            start_pipeline(bench, env, args)
            started = datetime.now(UTC)
            create(runtime, args.datasets)
        if args.preload:
            start_pipeline(bench, env, args)
        drafted, done = wait_for_drafts(database_url, args.datasets)
    finally:
        runtime.close()
    for process in [p for p in bench.processes if p.name in ("relay", "doi-worker")]:
        bench.stop(process)
    log = sandbox.request_log()
    puts = [entry for entry in log if entry["method"] == "PUT"]
    if started is None:
        started = min(datetime.fromisoformat(entry["time"]) for entry in puts)
    seconds = (done - started).total_seconds()
    return {
        "drafted": drafted,
        "seconds": seconds,
        "dois_per_s": drafted / seconds,
        "puts": len(puts),
        "status_429": sum(1 for entry in log if entry["status"] == 429),
        "throttles": snoozes(database_url),
    }, sandbox


def start_pipeline(bench: Bench, env: dict[str, str], args: argparse.Namespace) -> None:
    """One doi-worker (`--processes` of `--threads` / `--processes` each), then one relay."""
    threads = args.threads // args.processes
    start_worker(bench, env, threads=threads, processes=args.processes)
    start_relay(bench, env)


def create(runtime: Runtime, count: int) -> None:
    """Create `count` public datasets through the service layer, one transaction each."""
    started = time.monotonic()
    for n in range(count):
        with runtime.sessions.begin() as session:
            datasets.create_dataset(
                runtime.settings,
                session,
                f"bench{n}",
                embargoed=False,
                metadata={"titles": [{"title": f"Benchmark dataset {n}"}]},
            )
    elapsed = time.monotonic() - started
    progress(f"created {count} datasets in {elapsed:.2f} s ({count / elapsed:.0f}/s)")


def wait_for_drafts(database_url: str, expected: int, stall: float = 120) -> tuple[int, datetime]:
    """Poll every 50 ms until `expected` DOIs are draft; their count and the wall time."""
    count, last_change, next_report = 0, time.monotonic(), time.monotonic() + 5
    with connect(database_url) as conn:
        while True:
            row = conn.execute("SELECT count(*) FROM dois WHERE state = 'draft'").fetchone()
            now = time.monotonic()
            if (seen := int(row[0]) if row else 0) != count:
                count, last_change = seen, now
            if count >= expected:
                return count, datetime.now(UTC)
            if now - last_change > stall:
                progress(f"no DOI became draft for {stall:g} s; stopping at {count}")
                return count, datetime.now(UTC)
            if now >= next_report:
                progress(f"{count} of {expected} DOIs draft")
                next_report = now + 5
            time.sleep(0.05)


def snoozes(database_url: str) -> int:
    """Throttles recorded on the intents (our bucket or a 429; none uses an attempt)."""
    with connect(database_url) as conn:
        row = conn.execute(
            "SELECT coalesce(sum((payload->>'throttles')::int), 0) FROM outbox"
        ).fetchone()
    return int(row[0]) if row else 0


def raw_put_rate(sandbox: Sandbox, args: argparse.Namespace, number: int) -> float:
    """PUTs/s of `--threads` bare HTTP clients creating `--datasets` drafts in the sandbox."""
    progress(f"anchor: {args.threads} bare clients PUT {args.datasets} drafts")
    numbers = iter(range(args.datasets))
    lock = threading.Lock()
    failures: list[Any] = []

    def client() -> None:
        with requests.Session() as session:
            session.auth = (SANDBOX_USER, SANDBOX_PASSWORD)
            session.headers["Content-Type"] = "application/vnd.api+json"
            while True:
                with lock:
                    n = next(numbers, None)
                if n is None:
                    return
                doi = f"10.80507/bench.raw{number}-{n}"
                body = {"data": {"type": "dois", "attributes": {"titles": [{"title": "t"}]}}}
                answer = session.put(f"{sandbox.url}/dois/{doi}", json=body, timeout=30)
                if answer.status_code not in (200, 201):
                    failures.append(answer.status_code)

    threads = [threading.Thread(target=client) for _ in range(args.threads)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if failures:
        raise RuntimeError(f"bare clients: {len(failures)} PUTs failed: {failures[:5]}")
    return args.datasets / elapsed


if __name__ == "__main__":
    sys.exit(main())
