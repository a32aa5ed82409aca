"""Start doiflow's real processes for a benchmark: sandbox, relay, doi-worker, gunicorn.

The command lines are the Procfile's (gunicorn with `--workers 2 --access-logfile -`,
the doi-worker with `--processes 1`), bound to 127.0.0.1 on free ports; each process
gets exactly the environment the benchmark gives it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psycopg
import requests

from ops.benchmarks.harness import BIN, Bench, Process, free_port, listening_relays

SANDBOX_USER = "BENCH.REPO"
SANDBOX_PASSWORD = "bench-secret"  # noqa: S105 - the sandbox's own throwaway account
PREFIX = "10.80507"
INSTANCE = "bench"


class Sandbox:
    """A `doiflow sandbox` process and its control API."""

    def __init__(self, process: Process, url: str) -> None:
        self.process = process
        self.url = url

    @property
    def settings(self) -> dict[str, str]:
        """The DATACITE_* variables pointing doiflow at this sandbox."""
        return {
            "DATACITE_API_URL": self.url,
            "DATACITE_USER": SANDBOX_USER,
            "DATACITE_PASSWORD": SANDBOX_PASSWORD,
            "DATACITE_PREFIX": PREFIX,
            "DOI_INSTANCE": INSTANCE,
        }

    def add_faults(self, *rules: dict[str, Any]) -> None:
        """POST /__sandbox/faults."""
        answer = requests.post(f"{self.url}/__sandbox/faults", json=list(rules), timeout=5)
        answer.raise_for_status()

    def request_log(self) -> list[dict[str, Any]]:
        """The request log: method, path, doi, status, time (ISO, UTC) of every API call."""
        answer = requests.get(f"{self.url}/__sandbox/requests", timeout=30)
        answer.raise_for_status()
        entries: list[dict[str, Any]] = answer.json()
        return entries

    def reset(self) -> None:
        """Forget DOIs, requests and faults."""
        requests.post(f"{self.url}/__sandbox/reset", timeout=5).raise_for_status()


def concept_doi(dataset_id: str) -> str:
    """The concept DOI doiflow derives for a dataset under the sandbox's prefix."""
    return f"{PREFIX}/{INSTANCE}.{dataset_id}".lower()


def start_sandbox(
    bench: Bench, env: Mapping[str, str], *, rate_limit: str | None = None
) -> Sandbox:
    """`doiflow sandbox` on a free port, ready to answer."""
    port = free_port()
    argv = [str(BIN / "doiflow"), "sandbox", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--user", SANDBOX_USER, "--password", SANDBOX_PASSWORD, "--prefix", PREFIX]
    if rate_limit:
        argv += ["--rate-limit", rate_limit]
    process = bench.start("sandbox", argv, env)
    url = f"http://127.0.0.1:{port}"
    process.wait_for(
        lambda: requests.get(f"{url}/__sandbox/dois", timeout=1).ok, 30, "GET /__sandbox/dois"
    )
    return Sandbox(process, url)


def relay_argv(profile: Path | None = None) -> list[str]:
    """`doiflow relay`, or the same entry point under cProfile (stats written at exit)."""
    if profile is None:
        return [str(BIN / "doiflow"), "relay"]
    return [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "app.cli", "relay"]


def start_relay(
    bench: Bench,
    env: Mapping[str, str],
    *,
    name: str = "relay",
    profile: Path | None = None,
) -> Process:
    """`doiflow relay`, ready once its LISTEN connection is open."""
    process = bench.start(name, relay_argv(profile), env)
    process.wait_for_log("relay started", 60)
    database_url = env["DATABASE_URL"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        process.wait_for(lambda: listening_relays(conn, database_url) > 0, 30, "LISTEN")
    return process


def start_worker(
    bench: Bench,
    env: Mapping[str, str],
    *,
    threads: int = 4,
    processes: int = 1,
    name: str = "doi-worker",
) -> Process:
    """The Procfile's doi-worker (`dramatiq workers.worker -Q doi`), ready for messages."""
    argv = [str(BIN / "dramatiq"), "workers.worker", "-Q", "doi", "--processes", str(processes)]
    argv += ["--threads", str(threads)]
    process = bench.start(name, argv, env)
    ready = "Worker process is ready for action"  # each worker process says so once
    process.wait_for(lambda: process.log_text().count(ready) >= processes, 60, repr(ready))
    return process


def start_gunicorn(
    bench: Bench, app_spec: str, env: Mapping[str, str], *, workers: int = 2, name: str = "web"
) -> tuple[Process, int]:
    """gunicorn with the Procfile's flags (sync workers, access log to stdout); its port."""
    port = free_port()
    argv = [str(BIN / "gunicorn"), app_spec, "--no-control-socket", "--bind", f"127.0.0.1:{port}"]
    argv += ["--workers", str(workers), "--access-logfile", "-"]
    process = bench.start(name, argv, {**env, "PORT": str(port)})
    process.wait_for(
        lambda: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok, 60, "/healthz"
    )
    return process, port


def create_token(env: Mapping[str, str], scopes: str = "read,write") -> str:
    """`doiflow create-token`; the plain token is the last line of its stdout."""
    done = subprocess.run(  # noqa: S603 - fixed argv
        [str(BIN / "doiflow"), "create-token", "--name", "bench", "--scopes", scopes],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1].strip()
