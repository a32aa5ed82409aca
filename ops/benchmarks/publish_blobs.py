"""Publishing one version of 10,000 blobs: the server time of `POST /api/datasets/{id}/versions`.

    .venv/bin/python -m ops.benchmarks.publish_blobs [--blobs 10000] [--runs 5]

The app runs in this process on a private database (dropped at the end), with DataCite
and S3 configured (the web path makes no call to either, so neither is started) and
DOI_PUBLISH=true, so a publish writes everything it writes in production: the version,
its blob rows and references, a legal hold per blob, the job, its verification intents
and the DOI rows. Each run publishes a new version of fresh blobs through the WSGI app
(the Flask test client: no network, no HTTP parsing) and prints the server time, split
into the time the database statements took and the rest (JSON, validation, ORM), and the
statements per table, the CPU time the web process itself used (what contention for
the CPUs does not inflate), and the machine's load average (the wall times grow with it).
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import time
from collections import Counter
from typing import Any

from sqlalchemy import event

from app import create_app
from app.api.validation import read_body
from app.config import load_settings
from app.runtime import Runtime
from app.services import tokens
from ops.benchmarks.harness import Bench, progress

METADATA = {
    "titles": [{"title": "Benchmark"}],
    "creators": [{"name": "Doe, Jane"}],
    "publisher": "Example Archive",
    "publicationYear": "2026",
    "types": {"resourceTypeGeneral": "Dataset"},
}
TABLE = re.compile(r"^\s*(?:INSERT INTO|UPDATE|DELETE FROM|SELECT .*? FROM)\s+\"?(\w+)", re.S)


def blobs(run: int, count: int) -> list[dict[str, Any]]:
    """`count` fresh blob references of run `run`."""
    return [
        {"key": f"r{run}/{n:06d}", "version_id": f"v{run}x{n}", "sha256": f"{n:064x}", "size": n}
        for n in range(count)
    ]


class StatementClock:
    """Counts statements per table and the time spent in them, on one engine."""

    def __init__(self, engine: Any) -> None:
        self.seconds = 0.0
        self.tables: Counter[str] = Counter()
        self._started: list[float] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def reset(self) -> None:
        self.seconds, self.tables = 0.0, Counter()

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        match = TABLE.match(statement)
        self.tables[match[1] if match else statement.split()[0].upper()] += 1
        self._started.append(time.perf_counter())

    def _after(self, *args: Any) -> None:
        self.seconds += time.perf_counter() - self._started.pop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blobs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with Bench("publish-blobs") as bench:
        env = {
            "DATABASE_URL": bench.database(),
            "DATACITE_API_URL": "http://127.0.0.1:9",  # never called by the web path
            "DATACITE_USER": "REPO.BENCH",
            "DATACITE_PASSWORD": "unused",
            "DATACITE_PREFIX": "10.80507",
            "DOI_PUBLISH": "true",
            "S3_BUCKET": "bench-bucket",  # holds are recorded; S3 is called by workers only
            "ADMIN_ENABLED": "false",
            "VERSION_MAX_BLOBS": str(max(args.blobs, 10_000)),
        }
        runtime = Runtime.from_settings(load_settings(env))
        app = create_app(runtime=runtime)
        client = app.test_client()
        with runtime.sessions.begin() as session:
            _, plain = tokens.create_token(session, "bench", ["read", "write"])
        headers = {"Authorization": f"Bearer {plain}"}
        created = client.post("/api/datasets", json={"id": "bench"}, headers=headers)
        if created.status_code != 201:
            raise SystemExit(f"create answered {created.status_code}")
        clock = StatementClock(runtime.engine)
        times, sql_times, read_times, cpu_times, size = [], [], [], [], 0
        for run in range(args.runs):
            body = json.dumps(
                {"version": f"1.{run}", "metadata": METADATA, "blobs": blobs(run, args.blobs)}
            ).encode()
            size = len(body)
            clock.reset()
            started, cpu_started = time.perf_counter(), time.process_time()
            answer = client.post(
                "/api/datasets/bench/versions",
                data=body,
                headers={**headers, "Content-Type": "application/json"},
            )
            elapsed = time.perf_counter() - started
            cpu_times.append(time.process_time() - cpu_started)
            if answer.status_code != 202:
                raise SystemExit(f"publish answered {answer.status_code}: {answer.get_data()!r}")
            times.append(elapsed)
            sql_times.append(clock.seconds)
            read_times.append(_reading_time(app, body))
            progress(
                f"run {run + 1}: {elapsed * 1000:.0f} ms server time, "
                f"{clock.seconds * 1000:.0f} ms in {sum(clock.tables.values())} statements, "
                f"{cpu_times[-1] * 1000:.0f} ms of the web process' CPU"
            )
        runtime.close()
    print(
        f"publish of {args.blobs} blobs ({size / 1e6:.2f} MB body), {args.runs} runs: "
        f"server time median {statistics.median(times) * 1000:.0f} ms "
        f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}); "
        f"of which database statements {statistics.median(sql_times) * 1000:.0f} ms and "
        f"reading the body (JSON, schema, limits) {statistics.median(read_times) * 1000:.0f} ms; "
        f"web process CPU {statistics.median(cpu_times) * 1000:.0f} ms; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(
        "statements per table (last run): "
        + ", ".join(f"{table} {count}" for table, count in sorted(clock.tables.items()))
    )


def _reading_time(app: Any, body: bytes) -> float:
    """The time `read_body` takes over `body` alone (parse, schema, limits), in seconds."""
    with app.test_request_context(data=body, content_type="application/json"):
        started = time.perf_counter()
        read_body("PublishVersion")
        return time.perf_counter() - started


if __name__ == "__main__":
    main()
