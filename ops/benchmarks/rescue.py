"""Rescue time: a doi-worker SIGKILLed mid-call → seconds until the DOI reaches its target.

    python -m ops.benchmarks.rescue [--repeat 3] [--latency-ms 5000] [--timeout 400]

Each run, with the default settings (no lease override): a fresh database, a private
redis-server, `doiflow sandbox`, one `doiflow relay` and one doi-worker (the Procfile's
`dramatiq workers.worker -Q doi --processes 1 --threads 4`). First the floor, in the
same run: a dataset created with nothing killed, commit → concept DOI `draft`. Then the
next PUT of a second dataset's DOI is slowed (`latency_ms`, once) so its worker is
surely mid-call; once the sandbox's log shows that PUT arriving, the worker's process
group is SIGKILLed and a new worker started at once. The clock runs from the kill until
the DOI is `draft` in the database.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

import redis

from app.config import load_settings
from app.runtime import Runtime
from app.services import datasets
from ops.benchmarks.figures import Run, emit, interleaved, medians
from ops.benchmarks.harness import Bench, connect, progress, service_env, wait_until
from ops.benchmarks.stack import Sandbox, concept_doi, start_relay, start_sandbox, start_worker

METADATA = {"titles": [{"title": "Rescue benchmark"}]}


def main() -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--latency-ms", type=int, default=5000, help="the killed call's delay")
    parser.add_argument("--timeout", type=float, default=400, help="give up after (s)")
    args = parser.parse_args()
    config = {"repeat": args.repeat, "latency_ms": args.latency_ms}
    with Bench("rescue") as bench:
        redis_url = bench.redis()
        runs = interleaved(
            args.repeat, [lambda number: measure(bench, redis_url, number, args)], describe
        )
        median = medians(runs)
        print(describe(0, median))
    emit("rescue", config, runs, median)
    return 0


def describe(number: int, run: Run) -> str:
    """One human line per run (0: the median)."""
    label = f"run {number}" if number else "median"
    if run["second_put_after_kill_s"] >= 0:
        resent = f"DataCite saw the re-sent PUT {run['second_put_after_kill_s']:.1f} s after it"
    else:
        # The killed PUT was still applied: the rescued delivery looks before it writes.
        resent = (
            f"no PUT re-sent: the rescued delivery looked (GET {run['look_after_kill_s']:.1f} s "
            "after the kill) and found the write applied"
        )
    return (
        f"{label}: DOI draft {run['rescue_seconds']:.1f} s after the SIGKILL ({resent}; "
        f"{run['puts']:.0f} PUTs; lease {run['lease_seconds']:g} s by default); "
        f"without a kill, commit → draft {run['floor_seconds']:.2f} s"
    )


def measure(bench: Bench, redis_url: str, number: int, args: argparse.Namespace) -> Run:
    """One kill and rescue on fresh processes and a fresh database."""
    database_url = bench.database("rescue")
    redis.Redis.from_url(redis_url).flushdb()
    sandbox = start_sandbox(bench, service_env({}))
    settings = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, **sandbox.settings}
    env = service_env(settings)
    runtime = Runtime.from_settings(load_settings(settings))
    try:
        worker = start_worker(bench, env)
        start_relay(bench, env)
        floor = time_to_draft(runtime, database_url, f"floor-{number}", 60)
        dataset = f"rescue-{number}"
        doi = concept_doi(dataset)
        sandbox.add_faults({"method": "PUT", "doi": doi, "latency_ms": args.latency_ms, "times": 1})
        create(runtime, dataset)
        wait_until(lambda: puts_of(sandbox, doi), 30, f"the PUT of {doi} to arrive")
        worker.kill()
        killed, killed_at = time.monotonic(), datetime.now(UTC)
        bench.processes.remove(worker)
        progress(f"rescue: worker killed mid-PUT of {doi}; a new one starts; waiting for draft")
        start_worker(bench, env, name="doi-worker-2")
        wait_for_draft(database_url, doi, args.timeout)
        rescued = time.monotonic() - killed
        puts = puts_of(sandbox, doi)
        looks = requests_of(sandbox, doi, "GET")
    finally:
        runtime.close()
    for process in [p for p in bench.processes if p is not sandbox.process]:
        bench.stop(process)
    bench.stop(sandbox.process)
    second = datetime.fromisoformat(puts[-1]["time"]) if len(puts) > 1 else None
    look = next(
        (t for t in (datetime.fromisoformat(e["time"]) for e in looks) if t > killed_at), None
    )
    return {
        "rescue_seconds": rescued,
        "second_put_after_kill_s": (second - killed_at).total_seconds() if second else -1.0,
        "look_after_kill_s": (look - killed_at).total_seconds() if look else -1.0,
        "puts": len(puts),
        "lease_seconds": runtime.settings.lease_seconds,
        "floor_seconds": floor,
    }


def create(runtime: Runtime, dataset: str) -> None:
    """One public dataset through the service layer (its concept DOI heads for draft)."""
    with runtime.sessions.begin() as session:
        datasets.create_dataset(
            runtime.settings, session, dataset, embargoed=False, metadata=METADATA
        )


def time_to_draft(runtime: Runtime, database_url: str, dataset: str, timeout: float) -> float:
    """Seconds from the create's commit until its concept DOI is draft, nothing killed."""
    create(runtime, dataset)
    started = time.monotonic()
    wait_for_draft(database_url, concept_doi(dataset), timeout)
    return time.monotonic() - started


def wait_for_draft(database_url: str, doi: str, timeout: float) -> None:
    """Poll every 50 ms until the DOI's row says draft."""
    with connect(database_url) as conn:

        def drafted() -> bool:
            row = conn.execute("SELECT state FROM dois WHERE doi = %s", (doi,)).fetchone()
            return bool(row and row[0] == "draft")

        wait_until(drafted, timeout, f"{doi} to be draft")


def puts_of(sandbox: Sandbox, doi: str) -> list[dict]:
    """The PUTs of one DOI in the sandbox's request log, in arrival order."""
    return requests_of(sandbox, doi, "PUT")


def requests_of(sandbox: Sandbox, doi: str, method: str) -> list[dict]:
    """One method's requests for one DOI in the sandbox's request log, in arrival order."""
    return [
        entry
        for entry in sandbox.request_log()
        if entry["method"] == method and (entry.get("doi") or "").lower() == doi
    ]


if __name__ == "__main__":
    sys.exit(main())
