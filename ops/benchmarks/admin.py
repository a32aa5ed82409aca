"""Time the admin pages over a million intents, from a logged-in client, through gunicorn.

    python -m ops.benchmarks.admin [--intents 1000000] [--holds 300000] [--requests 30]
        [--keep] [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]

Creates a scratch database, seeds it in SQL (intents over 30 days: mostly done, some
failed, pending, superseded and discarded; four topics on three queues; 100,000 DOIs;
three events per intent; legal holds on versions of 100 blobs, mostly on, 1% each
pending, released and failed), starts gunicorn on it, logs in, and prints p50 and p95 per
page, then EXPLAIN ANALYZE of each page's main query. Exits 1 when a page's p95 is over
the target (300 ms). The database is dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import requests
from sqlalchemy import Select, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from app.admin.queries import holds as hold_queries
from app.admin.queries import outbox as queries
from app.admin.queries.dashboard import OUTCOMES
from app.db import make_engine
from app.enums import AdminRole
from app.models import Intent, IntentEvent, LegalHold
from app.schema import upgrade
from app.services import admins

TARGET_MS = 300.0
PASSWORD = "benchmark password " + secrets.token_hex(4)
BIN = Path(sys.executable).parent

SEED = [
    (
        "datasets",
        """INSERT INTO datasets (id, embargoed, draft_metadata, created_at, updated_at)
           SELECT 'ds-' || g, false, '{}'::jsonb, now(), now()
           FROM generate_series(1, :dois) g""",
    ),
    (
        "dois",
        """INSERT INTO dois (doi, kind, dataset_id, state, target, attempts, last_status,
                             last_error, created_at, updated_at, row_version)
           SELECT '10.80507/bench.ds-' || g, 'concept', 'ds-' || g,
                  CASE WHEN g % 200 = 0 THEN 'failed' WHEN g % 3 = 0 THEN 'findable'
                       ELSE 'draft' END,
                  CASE WHEN g % 3 = 0 THEN 'findable' ELSE 'draft' END,
                  1, CASE WHEN g % 200 = 0 THEN 422 END,
                  CASE WHEN g % 200 = 0 THEN 'permanent error: DataCite answered 422' END,
                  now() - interval '30 days', now() - (g % 1000) * interval '1 minute', 1
           FROM generate_series(1, :dois) g""",
    ),
    (
        "outbox",
        """INSERT INTO outbox (created_at, updated_at, topic, queue, key, payload, status,
                               attempts, available_at, last_error)
           SELECT at, at + interval '2 seconds', t.topic, t.queue, t.prefix || (g % t.keys + 1),
                  jsonb_build_object(t.field, g % t.keys + 1, 'n', g % 7), s.status,
                  CASE WHEN s.status = 'done' THEN 1 ELSE 3 END, at,
                  CASE WHEN s.status IN ('failed', 'superseded', 'discarded') THEN
                       (ARRAY['permanent error: DataCite PUT answered 422: creators is missing',
                              'retries exhausted: DataCite GET timed out after 30 s',
                              'permanent error: DataCite PUT answered 404',
                              'retries exhausted: S3 503 SlowDown'])[g % 4 + 1] END
           FROM generate_series(1, :intents) g
           CROSS JOIN LATERAL (SELECT now() - interval '30 days'
                               + (g::float / :intents) * interval '30 days' AS at) a
           CROSS JOIN LATERAL (SELECT CASE WHEN g % 100 < 70 THEN 0 WHEN g % 100 < 85 THEN 1
                                           WHEN g % 100 < 95 THEN 2 ELSE 3 END AS k) c
           JOIN (VALUES (0, 'sync_doi', 'doi', 'doi:', 'doi_id', :dois),
                        (1, 'set_hold', 'holds', 'blob:', 'blob_id', 300000),
                        (2, 'verify_blob', 'holds', 'blob:', 'blob_id', 300000),
                        (3, 'prune_stash', 'default', 'stash:', 'stash_id', 5000))
                AS t(k, topic, queue, prefix, field, keys) ON t.k = c.k
           CROSS JOIN LATERAL (SELECT CASE WHEN g % 1000 < 15 THEN 'failed'
                                           WHEN g % 1000 < 20 THEN 'superseded'
                                           WHEN g % 1000 < 22 THEN 'discarded'
                                           WHEN g > :intents - 300 THEN 'pending'
                                           ELSE 'done' END AS status) s""",
    ),
    (
        "intent_events",
        """INSERT INTO intent_events (intent_id, at, kind, data)
           SELECT o.id, o.created_at + e.delay, e.kind,
                  CASE e.kind
                    WHEN 'started' THEN jsonb_build_object('attempt', 1)
                    WHEN 'call' THEN jsonb_build_object('service', 'datacite', 'method', 'PUT',
                         'target', o.key, 'status', CASE WHEN o.status = 'done' THEN 201
                         ELSE 422 END, 'elapsed_ms', 40 + o.id % 200, 'retry_after', null,
                         'error', o.last_error)
                    ELSE jsonb_build_object('reason', coalesce(o.last_error, 'ok')) END
           FROM outbox o
           CROSS JOIN (VALUES ('started', interval '1 second'),
                              ('call', interval '1.2 seconds'),
                              ('outcome', interval '1.3 seconds')) AS e0(kind0, delay)
           CROSS JOIN LATERAL (SELECT CASE WHEN e0.kind0 <> 'outcome' THEN e0.kind0
                                           WHEN o.status = 'done' THEN 'done'
                                           WHEN o.status = 'pending' THEN 'retry'
                                           ELSE 'fail' END AS kind, e0.delay) e
           WHERE o.status <> 'pending' OR e0.kind0 <> 'outcome' OR o.id % 2 = 0""",
    ),
    (
        "doi_transitions",
        """INSERT INTO doi_transitions (doi_id, at, event, from_state, to_state, intent_id,
                                        http_status, detail)
           SELECT (o.payload->>'doi_id')::bigint, o.created_at + interval '1.25 seconds',
                  CASE WHEN o.status = 'done' THEN 'confirm_draft' ELSE 'fail' END,
                  'pending', CASE WHEN o.status = 'done' THEN 'draft' ELSE 'failed' END,
                  o.id, CASE WHEN o.status = 'done' THEN 201 ELSE 422 END, o.last_error
           FROM outbox o WHERE o.topic = 'sync_doi' AND o.status IN ('done', 'failed')""",
    ),
]


# Legal holds: a version of HOLDS_PER_VERSION blobs for each of the first datasets, one
# hold per blob (mostly on; some pending, released by a person, failed), a transition each.
HOLDS_PER_VERSION = 100
HOLD_SEED = [
    (
        "versions",
        """INSERT INTO versions (dataset_id, name, metadata_snapshot, created_at)
           SELECT 'ds-' || g, 'v1', '{}'::jsonb, now() - interval '10 days'
           FROM generate_series(1, ceil(CAST(:holds AS float) / :per)::int) g""",
    ),
    (
        "blobs",
        """INSERT INTO blobs (key, version_id, sha256, size, created_at, verified_at)
           SELECT 'data/ds-' || ((g - 1) / :per + 1) || '/' || lpad(g::text, 7, '0') || '.csv',
                  'v' || g, md5(g::text) || md5(g::text), g, now() - interval '10 days',
                  now() - interval '10 days'
           FROM generate_series(1, :holds) g""",
    ),
    (
        "version_blobs",
        """INSERT INTO version_blobs (version_id, blob_id)
           SELECT v.id, b.id FROM blobs b
           JOIN versions v ON v.dataset_id = split_part(b.key, '/', 2) AND v.name = 'v1'""",
    ),
    (
        "legal_holds",
        """INSERT INTO legal_holds (blob_id, state, target, release_reason, last_error,
                                    created_at, updated_at, row_version)
           SELECT b.id, s.state, CASE WHEN s.state = 'released' THEN 'off' ELSE 'on' END,
                  CASE WHEN s.state = 'released' THEN 'court order ' || b.id END,
                  CASE WHEN s.state = 'failed' THEN 'S3 403 AccessDenied' END,
                  b.created_at, b.created_at + (b.id % 1000) * interval '1 second', 1
           FROM blobs b
           CROSS JOIN LATERAL (SELECT CASE WHEN b.id % 100 = 1 THEN 'pending'
                                           WHEN b.id % 100 = 2 THEN 'released'
                                           WHEN b.id % 100 = 3 THEN 'failed'
                                           ELSE 'on' END AS state) s""",
    ),
    (
        "hold_transitions",
        """INSERT INTO hold_transitions (hold_id, at, event, from_state, to_state, detail)
           SELECT h.id, h.updated_at, CASE h.state WHEN 'released' THEN 'confirm_off'
                  WHEN 'failed' THEN 'fail' ELSE 'confirm_on' END, 'pending',
                  CASE WHEN h.state = 'pending' THEN 'pending' ELSE h.state END,
                  'S3 confirmed it'
           FROM legal_holds h WHERE h.state <> 'pending'""",
    ),
]


def main() -> int:
    """Seed, serve, time and explain; 0 when every page's p95 meets the target."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--intents", type=int, default=1_000_000)
    parser.add_argument("--dois", type=int, default=100_000)
    parser.add_argument("--holds", type=int, default=300_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    args = parser.parse_args()
    with scratch_database(args.admin_url, keep=args.keep) as url:
        seed(url, intents=args.intents, dois=args.dois, holds=args.holds)
        with gunicorn(url) as base:
            client = logged_in(base)
            results = time_pages(client, base, pages(url), args.requests)
        explain_all(url)
    worst = max(p95 for _, _, p95 in results)
    print(f"\nworst p95 {worst:.1f} ms (target {TARGET_MS:.0f} ms)")
    return 0 if worst <= TARGET_MS else 1


@contextmanager
def scratch_database(admin_url: str, *, keep: bool) -> Iterator[str]:
    """A new database migrated to head, dropped afterwards."""
    name = f"doiflow_bench_admin_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    url = f"{url}/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        if keep:
            print(f"kept database {name}")
        else:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(url: str, *, intents: int, dois: int, holds: int) -> None:
    """Fill every table the pages read, then VACUUM ANALYZE (as autovacuum would)."""
    engine = make_engine(url)
    values = {"intents": intents, "dois": dois, "holds": holds, "per": HOLDS_PER_VERSION}
    for table, sql in [*SEED, *HOLD_SEED]:
        started = time.monotonic()
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL synchronous_commit = off"))
            count = conn.execute(text(sql), values).rowcount
        print(f"seeded {table}: {count:,} rows in {time.monotonic() - started:.1f} s", flush=True)
    with Session(engine) as session, session.begin():
        admins.create(session, "bench@example.org", PASSWORD, AdminRole.ADMIN, actor="cli:bench")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


@contextmanager
def gunicorn(url: str) -> Iterator[str]:
    """The web process as the Procfile runs it (two workers), on a free port."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "LOG_LEVEL": "WARNING",
    }
    argv = [str(BIN / "gunicorn"), "app:create_app()", "--bind", f"127.0.0.1:{port}"]
    process = subprocess.Popen(  # noqa: S603 - our own venv's gunicorn, fixed arguments
        [*argv, "--workers", "2", "--no-control-socket"], env=env, stdout=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/healthz", timeout=5).ok:
                    break
            except requests.RequestException:  # still booting
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def logged_in(base: str) -> requests.Session:
    """A client with an admin session, logged in through the form."""
    client = requests.Session()
    form = client.get(f"{base}/admin/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    if token is None:
        raise RuntimeError("no CSRF token on the login page")
    answer = client.post(
        f"{base}/admin/login",
        data={"email": "bench@example.org", "password": PASSWORD, "csrf_token": token.group(1)},
        allow_redirects=False,
        timeout=10,
    )
    if answer.status_code != 303:
        raise RuntimeError(f"login answered {answer.status_code}: {answer.text[:300]}")
    return client


def pages(url: str) -> list[tuple[str, str]]:
    """(name, path) of every page timed; cursors and ids read from the seeded data."""
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        deep = "SELECT id FROM outbox WHERE {} ORDER BY id DESC OFFSET %s LIMIT 1"
        offset = 499 * 50 - 1  # the last row of page 499: page 500 starts after it
        done_500 = conn.execute(deep.format("status = 'done'"), (offset,)).fetchone()
        hold_500 = conn.execute(deep.format("topic = 'set_hold'"), (offset,)).fetchone()
        failed = conn.execute("SELECT max(id) FROM outbox WHERE status = 'failed'").fetchone()
        holds = "SELECT id FROM legal_holds ORDER BY id DESC OFFSET %s LIMIT 1"
        holds_500 = conn.execute(holds, (offset,)).fetchone()
        released = conn.execute("SELECT max(id) FROM legal_holds WHERE state = 'released'")
        released_hold = released.fetchone()
    if not (done_500 and hold_500 and failed):
        raise RuntimeError("too few intents for page 500: seed at least 200,000")
    if not (holds_500 and released_hold):
        raise RuntimeError("too few legal holds for page 500: seed at least 30,000")
    return [
        ("dashboard", "/admin/"),
        ("outbox, no filter", "/admin/outbox"),
        ("status=failed", "/admin/outbox?status=failed"),
        ("status=done", "/admin/outbox?status=done"),
        ("topic=set_hold", "/admin/outbox?topic=set_hold"),
        ("queue=holds", "/admin/outbox?queue=holds"),
        ("key=doi:4242", "/admin/outbox?key=doi:4242"),
        ("error=timed out", "/admin/outbox?error=timed+out"),
        ("error=..., everywhere", "/admin/outbox?error=timed+out&everywhere=1"),
        ("payload doi_id=4242", "/admin/outbox?payload=%7B%22doi_id%22%3A+4242%7D"),
        ("payload n=3 (common)", "/admin/outbox?payload=%7B%22n%22%3A+3%7D"),
        ("status=failed&topic=sync_doi", "/admin/outbox?status=failed&topic=sync_doi"),
        ("status=done page 1", "/admin/outbox?status=done"),
        ("status=done page 500", f"/admin/outbox?status=done&before={done_500[0]}"),
        ("topic=set_hold page 500", f"/admin/outbox?topic=set_hold&before={hold_500[0]}"),
        ("intent detail (failed)", f"/admin/outbox/{failed[0]}"),
        ("DOIs, state=failed", "/admin/dois?state=failed"),
        ("bulk discard confirm", "/admin/outbox/bulk?action=discard&status=failed"),
        *HOLD_PAGES,
        ("holds page 500", f"/admin/holds?before={holds_500[0]}"),
        ("hold detail (released)", f"/admin/holds/{released_hold[0]}"),
    ]


HOLD_PAGES = [
    ("holds, no filter", "/admin/holds"),
    ("holds state=failed", "/admin/holds?state=failed"),
    ("holds state=pending", "/admin/holds?state=pending"),
    ("holds dataset=ds-42", "/admin/holds?dataset=ds-42"),
    ("holds key=data/ds-42/", "/admin/holds?key=data/ds-42/"),
    ("holds key=data/ds-4 (common)", "/admin/holds?key=data/ds-4"),
    ("holds key=nothing/ (no match)", "/admin/holds?key=nothing/"),
]


def time_pages(
    client: requests.Session, base: str, paths: list[tuple[str, str]], count: int
) -> list[tuple[str, float, float]]:
    """p50 and p95 of each page over `count` requests (after 3 to warm up)."""
    results = []
    print(f"\n{'page':32} {'p50 ms':>8} {'p95 ms':>8}")
    for name, path in paths:
        timings = []
        for n in range(count + 3):
            started = time.perf_counter()
            answer = client.get(base + path, timeout=30)
            elapsed = (time.perf_counter() - started) * 1000
            if answer.status_code != 200:
                raise RuntimeError(f"{path} answered {answer.status_code}: {answer.text[:300]}")
            if n >= 3:
                timings.append(elapsed)
        timings.sort()
        p50 = statistics.median(timings)
        p95 = timings[max(0, round(0.95 * len(timings)) - 1)]
        results.append((name, p50, p95))
        print(f"{name:32} {p50:8.1f} {p95:8.1f}", flush=True)
    return results


def explain_all(url: str) -> None:
    """EXPLAIN ANALYZE of the queries behind the pages, as the app builds them."""
    engine = make_engine(url)
    with Session(engine) as session:
        for name, query in _queries(session):
            sql = str(
                query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
            )
            plan = session.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")).scalars().all()
            print(f"\n-- {name}")
            print("\n".join(f"   {line}" for line in plan if _key_line(line)))
    engine.dispose()


def _queries(session: Session) -> Iterator[tuple[str, Select]]:  # type: ignore[type-arg]
    filters = {
        "outbox, no filter": {},
        "status=failed": {"status": "failed"},
        "topic=set_hold": {"topic": "set_hold"},
        "queue=holds": {"queue": "holds"},
        "key=doi:4242": {"key": "doi:4242"},
        "error=timed out (newest 200,000)": {"error": "timed out"},
        "error=timed out, everywhere": {"error": "timed out", "everywhere": "1"},
        "payload doi_id=4242": {"payload": '{"doi_id": 4242}', "everywhere": "1"},
        "payload n=3 (common)": {"payload": '{"n": 3}'},
    }
    for name, args in filters.items():
        given = queries.OutboxFilter.from_args(args)
        floor = queries.search_floor(session, given)
        query = queries.list_query(session, given, floor).order_by(Intent.id.desc()).limit(51)
        yield name, query
    hold_filters = {
        "holds, no filter": {},
        "holds state=failed": {"state": "failed"},
        "holds dataset=ds-42": {"dataset": "ds-42"},
        "holds key=nothing/ (no match)": {"key": "nothing/"},
    }
    for name, args in hold_filters.items():
        query = hold_queries.list_query(hold_queries.HoldFilter.from_args(args))
        yield name, query.order_by(LegalHold.id.desc()).limit(51)
    yield (
        "snapshot: intents per status",
        select(Intent.status, text("count(*)")).group_by(Intent.status),
    )
    yield (
        "snapshot: throughput (24 h)",
        select(IntentEvent.kind, text("count(*)"))
        .where(IntentEvent.kind.in_(OUTCOMES), IntentEvent.at >= text("now() - interval '1 day'"))
        .group_by(IntentEvent.kind),
    )
    yield (
        "timeline events",
        select(IntentEvent).where(IntentEvent.intent_id == 500_000).order_by(IntentEvent.id),
    )


def _key_line(line: str) -> bool:
    keep = ("Scan", "Limit", "Sort", "Aggregate", "Execution Time", "Planning Time", "Filter")
    return any(word in line for word in keep)


if __name__ == "__main__":
    sys.exit(main())
