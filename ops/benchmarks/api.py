"""`POST /api/datasets` req/s through gunicorn vs a bare endpoint writing the same rows.

    python -m ops.benchmarks.api [--clients 8] [--warmup 2] [--seconds 10] [--repeat 3]
        [--profile 300]

Each run, on fresh databases: the project is `gunicorn "app:create_app()"` with the
Procfile's settings (2 sync workers, access log), DataCite configured against a
`doiflow sandbox` (the API only writes intents; it never calls DataCite), and a
bearer token from `doiflow create-token --scopes read,write`. The anchor is
`ops.benchmarks.bare_api` under the same gunicorn settings: the same dataset, DOI and
outbox rows plus NOTIFY in one SQLAlchemy Core transaction, no authentication. The
load: `--clients` threads, each with one keep-alive `http.client` connection, POSTing
unique public datasets back to back; answers completed inside the window after the
warm-up are counted. The client shares the machine's 2 cores with the server.
With --profile N, N creates also run in-process through Flask's test client under
cProfile, and the hottest functions are printed.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import uuid
from typing import Any

from ops.benchmarks.figures import Run, emit, interleaved, medians, ratio
from ops.benchmarks.harness import Bench, connect, progress, service_env
from ops.benchmarks.load import HttpLoad, post_load
from ops.benchmarks.stack import Sandbox, create_token, start_gunicorn, start_sandbox

METADATA = {"titles": [{"title": "t"}]}


def main() -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, help="creates to profile in-process")
    args = parser.parse_args()
    config = {k: getattr(args, k) for k in ("clients", "workers", "warmup", "seconds", "repeat")}
    with Bench("api") as bench:
        redis_url = bench.redis()
        sandbox = start_sandbox(bench, service_env({}))

        def project(number: int) -> Run:
            return measure(bench, "project", number, args, sandbox, redis_url)

        def anchor(number: int) -> Run:
            return measure(bench, "bare", number, args, sandbox, redis_url)

        def derive(run: Run) -> Run:
            return {"ratio": ratio(run["project_per_s"], run["bare_per_s"])}

        runs = interleaved(args.repeat, [project, anchor], describe, derive)
        median = medians(runs)
        print(describe(0, median))
        if args.profile:
            profile_in_process(bench, sandbox, redis_url, args.profile)
    emit("api", config, runs, median)
    return 0


def describe(number: int, run: Run) -> str:
    """One human line per run (number 0: the median)."""
    label = f"run {number}" if number else "median"
    return (
        f"{label}: POST /api/datasets {run['project_per_s']:.0f} req/s "
        f"({run['project_errors']:.0f} errors); bare endpoint {run['bare_per_s']:.0f} req/s "
        f"({run['bare_errors']:.0f} errors); ratio {run['ratio']:.3f}"
    )


def measure(
    bench: Bench, side: str, number: int, args: argparse.Namespace, sandbox: Sandbox, redis: str
) -> Run:
    """One side of one run: a fresh database, gunicorn, the load, the rows it wrote."""
    database_url = bench.database(side)
    env = service_env(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis,
            "SECRET_KEY": "bench-secret-key",
            **sandbox.settings,
        }
    )
    headers = {}
    app_spec = "ops.benchmarks.bare_api:create_app()"
    if side == "project":
        headers["Authorization"] = f"Bearer {create_token(env)}"
        app_spec = "app:create_app()"
    web, port = start_gunicorn(bench, app_spec, env, workers=args.workers, name=f"web-{side}")
    tag = uuid.uuid4().hex[:6]
    progress(f"{side}: {args.clients} clients for {args.warmup:g} + {args.seconds:g} s")
    try:
        load = post_load(
            port,
            "/api/datasets",
            lambda n: {"id": f"b{tag}-{n}", "embargoed": False, "metadata": METADATA},
            clients=args.clients,
            warmup=args.warmup,
            seconds=args.seconds,
            headers=headers,
        )
    finally:
        bench.stop(web)
    rows = written_rows(database_url)
    if rows["outbox"] < load.measured or rows["dois"] < load.measured:
        raise RuntimeError(f"{side}: {load.measured} creates answered 201 but wrote {rows}")
    return _figures(side, load, rows)


def _figures(side: str, load: HttpLoad, rows: dict[str, int]) -> Run:
    return {
        f"{side}_per_s": load.per_s,
        f"{side}_errors": load.errors,
        f"{side}_statuses": {str(k): v for k, v in load.statuses.items()},
        f"{side}_rows": rows,
    }


def written_rows(database_url: str) -> dict[str, int]:
    """Datasets, DOIs and outbox intents in the database (one of each per create)."""
    with connect(database_url) as conn:
        counts = {}
        for table in ("datasets", "dois", "outbox"):
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
            counts[table] = int(row[0]) if row else 0
    return counts


def profile_in_process(bench: Bench, sandbox: Sandbox, redis: str, creates: int) -> None:
    """Where a create's time goes: N creates through the test client under cProfile."""
    from app import create_app
    from app.config import load_settings

    database_url = bench.database("profile")
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis,
        "SECRET_KEY": "bench-secret-key",
        **sandbox.settings,
    }
    token = create_token(service_env(env))
    app = create_app(load_settings(env))
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    def post(n: int) -> Any:
        body = {"id": f"p-{n}", "embargoed": False, "metadata": METADATA}
        return client.post("/api/datasets", json=body, headers=headers)

    post(-1)  # connections and caches warm
    profiler = cProfile.Profile()
    profiler.enable()
    statuses = [post(n).status_code for n in range(creates)]
    profiler.disable()
    print(f"profile of {creates} in-process creates ({statuses.count(201)} answered 201):")
    stats = pstats.Stats(profiler, stream=sys.stdout)
    # doiflow's own functions: where a create's time goes (auth, service, serializing).
    stats.sort_stats("cumulative").print_stats(r"/app/", 30)
    app.extensions["doiflow"].close()


if __name__ == "__main__":
    sys.exit(main())
