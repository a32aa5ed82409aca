"""Time `doi reconcile`'s two phases over N settled DOIs, against the in-process sandbox.

    python -m ops.benchmarks.reconcile [--dois 2000] [--drift 20]
        [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]

Creates a scratch database, creates N datasets through the service (a concept DOI
each), marks them confirmed drafts and seeds the sandbox with exactly what doiflow
wants, then changes `--drift` of them at the sandbox (state). Prints the time to read
DataCite (its listing, 1000 a page) and to compare, the DataCite requests made, and
the drift found. The rate limit is not in the figures (a local bucket far above it):
with DataCite's 3000 requests per 5 minutes, a full run costs one request per 1000
DOIs plus one per DOI missing from the listing. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import time
import uuid

import psycopg
from sqlalchemy import select, text

from app.clients.datacite import DataCiteClient
from app.config import Limit, load_settings
from app.db import utcnow
from app.models import Doi
from app.ratelimit import LocalTokenBucket
from app.runtime import Runtime
from app.schema import upgrade
from app.services import datasets, payloads, reconcile, reconcile_read
from app.services.metadata import metadata_hash
from ops.benchmarks.harness import drop_database, progress, sqlalchemy_url
from ops.sandbox import SandboxServer
from ops.sandbox.testing import DEFAULT_ACCOUNT

TITLE = {"titles": [{"title": "Benchmark"}], "publicationYear": "2026"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dois", type=int, default=2000)
    parser.add_argument("--drift", type=int, default=20)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    name = f"doiflow_bench_reconcile_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    database_url = f"{args.admin_url.rpartition('/')[0]}/{name}"
    sandbox = SandboxServer().start()  # the default account: DEFAULT_ACCOUNT
    try:
        run(sqlalchemy_url(database_url), sandbox, args.dois, args.drift)
    finally:
        sandbox.stop()
        drop_database(args.admin_url, name)


def run(database_url: str, sandbox: SandboxServer, count: int, drift: int) -> None:
    upgrade(database_url)
    settings = load_settings(
        {
            "DATABASE_URL": database_url,
            "DATACITE_API_URL": sandbox.url,
            "DATACITE_USER": DEFAULT_ACCOUNT.user,
            "DATACITE_PASSWORD": DEFAULT_ACCOUNT.password,
            "DATACITE_PREFIX": DEFAULT_ACCOUNT.prefix,
            "DOI_INSTANCE": "bench",
        }
    )
    runtime = Runtime.from_settings(settings)
    progress(f"seeding {count} settled DOIs")
    with runtime.sessions.begin() as session:
        for n in range(count):
            datasets.create_dataset(settings, session, f"ds{n}", embargoed=False, metadata=TITLE)
    control = sandbox.control
    with runtime.sessions.begin() as session:
        for doi in session.scalars(select(Doi).order_by(Doi.id)):
            wanted = payloads.desired_attributes(session, settings, doi)
            doi.state, doi.confirmed_hash = "draft", metadata_hash(wanted)
            doi.confirmed_url = wanted["url"]
            control.seed(doi.doi, state="draft", attributes=wanted, owner=DEFAULT_ACCOUNT.user)
        # Nothing left to send: the syncs those creations queued count as done.
        session.execute(text("UPDATE outbox SET status = 'done', updated_at = :t"), {"t": utcnow()})
    with runtime.sessions() as session:
        drifting = list(session.scalars(select(Doi.doi).order_by(Doi.id).limit(drift)))
    for doi in drifting:
        record = control.doi(doi) or {}
        control.seed(doi, state="findable", attributes=record.get("attributes"))
    control.clear_requests()
    bucket = LocalTokenBucket(Limit(1_000_000, 1))
    take = reconcile_read.bucket_taker(bucket)
    with runtime.sessions() as session:
        known = reconcile.known_dois(session)
    client = DataCiteClient(sandbox.url, DEFAULT_ACCOUNT.user, DEFAULT_ACCOUNT.password)
    started = time.perf_counter()
    remote = reconcile_read.read(client, settings, take, known, listed=True)
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    report = reconcile.compare_all(runtime.sessions, settings, remote, read_at=None)
    compare_s = time.perf_counter() - started
    requests = len(control.requests())
    print(f"DOIs: {count}; DataCite requests: {requests}")
    print(f"read DataCite: {read_s:.2f} s ({count / read_s:.0f} DOIs/s)")
    print(f"compare: {compare_s:.2f} s ({count / compare_s:.0f} DOIs/s)")
    print(f"drift found: {report.counts()} (seeded {drift} state)")
    client.close()
    runtime.close()


if __name__ == "__main__":
    main()
