"""Fixtures for the end-to-end ring: a database per module, processes per test.

Postgres must be running and `redis-server` installed (the session starts its own,
tests/fixtures/redis.py; E2E_REDIS_URL names another): when not, these fixtures raise
and the tests FAIL (never skip). Each module gets a fresh database migrated by the release
step (`doiflow db upgrade`, as a subprocess) and an API token made by
`doiflow create-token`; each test gets its own DataCite sandbox, web, relay and
worker processes, started by the test as it needs them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
import requests

from tests.e2e.harness import (
    BIN,
    Harness,
    Process,
    clean_environment,
    free_port,
    http_ok,
    json_of,
    run_command,
    wait_until,
)

ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REPO_ROOT = Path(__file__).resolve().parents[2]

SANDBOX_USER = "REPO.ID"
SANDBOX_PASSWORD = "e2e-pw-7f3a9c1d"  # distinctive: tests grep logs for it
PREFIX = "10.80507"
INSTANCE = "e2e"

KERNEL4 = {
    "titles": [{"title": "T"}],
    "creators": [{"name": "Doe, Jane"}],
    "publisher": {"name": "Example Archive"},
    "publicationYear": "2026",
    "types": {"resourceTypeGeneral": "Dataset"},
}

# Short leases, fast retries and a quick poll keep the whole ring well under 3 minutes.
FAST_SETTINGS = {
    "SECRET_KEY": "e2e-secret-key",
    "DOI_PUBLISH": "false",
    "DOI_INSTANCE": INSTANCE,
    "LANDING_URL_TEMPLATE": "https://archive.example.org/datasets/{dataset}/{version}",
    "TOMBSTONE_URL_TEMPLATE": "https://archive.example.org/tombstone/{dataset}",
    "DOI_MAX_ATTEMPTS": "5",
    "RETRY_BASE_SECONDS": "0.2",
    "RETRY_CAP_SECONDS": "1",
    "DATACITE_READ_TIMEOUT": "1",
    # Above the longest latency an e2e test injects (3 s).
    "DATACITE_WRITE_GRACE_SECONDS": "3.5",
    "LEASE_SECONDS": "4",
    "RELAY_POLL_SECONDS": "0.2",
    "RELAY_BATCH_SIZE": "10",
}


def concept_doi(dataset_id: str) -> str:
    """The concept DOI doiflow derives for a dataset (lowercase)."""
    return f"{PREFIX}/{INSTANCE}.{dataset_id}".lower()


def version_doi(dataset_id: str, version: str) -> str:
    """The version DOI doiflow derives for a dataset version (lowercase)."""
    return f"{concept_doi(dataset_id)}/{version}".lower()


def confirmations(doi: Mapping[str, Any], state: str) -> list[dict]:
    """History entries in which DataCite confirmed `state` (from a `GET /api/dois/…` body)."""
    return [
        entry
        for entry in doi.get("history") or []
        if str(entry.get("event", "")).startswith("confirm_") and entry.get("to") == state
    ]


def seconds_between(earlier: Mapping[str, Any], later: Mapping[str, Any]) -> float:
    """Seconds between two sandbox request-log entries (their arrival `time`s)."""
    start, end = (datetime.fromisoformat(e["time"]) for e in (earlier, later))
    return (end - start).total_seconds()


class Api:
    """The doiflow JSON API over HTTP, with a bearer token."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Any request, relative to the API root."""
        return self.session.request(method, f"{self.url}{path}", timeout=10, **kwargs)

    def create_dataset(
        self, dataset_id: str, metadata: dict | None = None, *, embargoed: bool = False
    ) -> dict:
        """POST /api/datasets, expecting 201."""
        body = {"id": dataset_id, "embargoed": embargoed, "metadata": metadata or KERNEL4}
        return json_of(self.call("POST", "/api/datasets", json=body), 201)

    def dataset(self, dataset_id: str) -> dict:
        """GET /api/datasets/{id}."""
        return json_of(self.call("GET", f"/api/datasets/{dataset_id}"), 200)

    def doi(self, doi: str) -> dict:
        """GET /api/dois/{doi}."""
        return json_of(self.call("GET", f"/api/dois/{doi}"), 200)

    def wait_for_state(self, doi: str, state: str, timeout: float = 15) -> dict:
        """Poll GET /api/dois/{doi} until the DOI is in `state`; return its body."""
        seen: dict[str, Any] = {}

        def reached() -> dict | None:
            seen.update(self.doi(doi))
            return dict(seen) if seen.get("state") == state else None

        return wait_until(
            reached,
            timeout,
            f"DOI {doi} to be {state} in GET /api/dois",
            interval=0.1,
            describe=lambda: {
                k: seen.get(k) for k in ("state", "target", "attempts", "last_error")
            },
        )


class SandboxControl:
    """The DataCite sandbox's control API (`/__sandbox/…`)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def add_faults(self, *rules: dict) -> None:
        """POST /__sandbox/faults."""
        json_of(
            requests.post(f"{self.url}/__sandbox/faults", json=list(rules), timeout=5), (200, 201)
        )

    def requests(self, doi: str | None = None, method: str | None = None) -> list[dict]:
        """The request log, optionally only one DOI's and one method's."""
        entries = json_of(requests.get(f"{self.url}/__sandbox/requests", timeout=5), 200)
        return [
            e
            for e in entries
            if (doi is None or (e.get("doi") or "").lower() == doi)
            and (method is None or e["method"] == method)
        ]

    def dois(self) -> dict[str, dict]:
        """GET /__sandbox/dois, keyed by DOI."""
        return {
            d["doi"].lower(): d
            for d in json_of(requests.get(f"{self.url}/__sandbox/dois", timeout=5), 200)
        }

    def state_of(self, doi: str) -> str | None:
        """The DOI's state in the sandbox, or None when DataCite has never heard of it."""
        record = self.dois().get(doi)
        return record["state"] if record else None

    def wait_for_state(self, doi: str, state: str, timeout: float = 15) -> dict:
        """Poll /__sandbox/dois until the DOI is in `state` there."""
        return wait_until(
            lambda: self.state_of(doi) == state and self.dois()[doi],
            timeout,
            f"DOI {doi} to be {state} in the sandbox",
            interval=0.1,
            describe=lambda: self.state_of(doi),
        )


class Stack:
    """One test's processes: sandbox and web at once; relays and workers on demand."""

    def __init__(self, harness: Harness, token: str) -> None:
        self.harness = harness
        self.token = token
        self.sandbox_url = ""
        self.api: Api
        self.sandbox: SandboxControl

    def start_sandbox(self) -> Process:
        """`doiflow sandbox` on a free port; points DATACITE_* at it for later processes."""
        port = free_port()
        process = self.harness.start(
            "sandbox",
            [
                str(BIN / "doiflow"),
                "sandbox",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--user",
                SANDBOX_USER,
                "--password",
                SANDBOX_PASSWORD,
                "--prefix",
                PREFIX,
            ],
        )
        self.sandbox_url = f"http://127.0.0.1:{port}"
        process.wait_ready(
            lambda: http_ok(f"{self.sandbox_url}/__sandbox/dois"), 20, "GET /__sandbox/dois"
        )
        self.harness.env.update(
            DATACITE_API_URL=self.sandbox_url,
            DATACITE_USER=SANDBOX_USER,
            DATACITE_PASSWORD=SANDBOX_PASSWORD,
            DATACITE_PREFIX=PREFIX,
        )
        self.sandbox = SandboxControl(self.sandbox_url)
        return process

    def start_web(self) -> Process:
        """The Procfile's web process: gunicorn serving the app factory."""
        port = free_port()
        process = self.harness.start(
            "web",
            # No control socket: its default path is per user, so parallel test runs would share it.
            [
                str(BIN / "gunicorn"),
                "app:create_app()",
                "--config",
                "python:app.gunicorn_config",
                "--bind",
                f"127.0.0.1:{port}",
                "--no-control-socket",
            ],
            env={"PORT": str(port)},
        )
        url = f"http://127.0.0.1:{port}"
        process.wait_ready(lambda: http_ok(f"{url}/healthz"), 30, "GET /healthz")
        self.api = Api(url, self.token)
        return process

    def start_relay(self, name: str = "relay", *, wait: bool = True) -> Process:
        """`doiflow relay`; ready once it says it is waiting for intents."""
        process = self.harness.start(name, [str(BIN / "doiflow"), "relay"])
        if wait:
            process.wait_for_log("relay started", 20)
        return process

    def start_worker(self, name: str = "worker") -> Process:
        """The Procfile's doi-worker: dramatiq on the `doi` queue only."""
        process = self.harness.start(
            name,
            [
                str(BIN / "dramatiq"),
                "workers.worker",
                "-Q",
                "doi",
                "--processes",
                "1",
                "--threads",
                "2",
            ],
        )
        process.wait_for_log("Worker process is ready for action", 30)
        return process

    def start_hold_worker(self, name: str = "hold-worker") -> Process:
        """The Procfile's hold-worker: dramatiq on the `holds` queue only (every S3 call)."""
        process = self.harness.start(
            name,
            [
                str(BIN / "dramatiq"),
                "workers.worker",
                "-Q",
                "holds",
                "--processes",
                "1",
                "--threads",
                "4",
            ],
        )
        process.wait_for_log("Worker process is ready for action", 30)
        return process


@contextmanager
def answer_waiting_to_be_recorded(
    stack: Stack, database_url: str, dataset_id: str, *, latency_ms: int = 2000
) -> Iterator[str]:
    """Inside the block DataCite has answered the dataset's first PUT (`latency_ms` late:
    the time we have to take the row) and the worker waits to record it: a transaction
    of ours holds the DOI's row until the block ends. Yields the DOI."""
    doi = concept_doi(dataset_id)
    stack.sandbox.add_faults({"method": "PUT", "doi": doi, "times": 1, "latency_ms": latency_ms})
    stack.api.create_dataset(dataset_id)
    wait_until(lambda: stack.sandbox.requests(doi, "PUT"), 10, f"the first PUT of {doi}")
    with psycopg.connect(database_url) as holder:
        holder.execute("SELECT id FROM dois WHERE doi = %s FOR UPDATE", (doi,))
        wait_until(lambda: rows_waited_for(database_url) == 1, 10, "the record to wait for the row")
        yield doi
        holder.rollback()


def rows_waited_for(database_url: str) -> int:
    """Sessions of the database waiting for a row lock (another transaction's row)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND wait_event IN ('tuple', 'transactionid')"
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.fixture(scope="module")
def e2e_overrides() -> dict[str, str]:
    """Extra settings for a module's processes; modules override this fixture."""
    return {}


@pytest.fixture(scope="module")
def e2e_database_url() -> Iterator[str]:
    """A fresh, empty Postgres database for this module; dropped afterwards."""
    name = f"doiflow_e2e_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = ADMIN_URL.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def e2e_redis(e2e_redis_url: str) -> Iterator[redis.Redis]:
    """The e2e Redis database (tests/fixtures/redis.py), flushed (FLUSHDB, this one only) first."""
    client = redis.Redis.from_url(e2e_redis_url, socket_connect_timeout=5)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="module")
def e2e_env(
    e2e_database_url: str,
    e2e_redis: redis.Redis,
    e2e_redis_url: str,
    e2e_overrides: dict[str, str],
) -> dict[str, str]:
    """The environment every process of this module starts with (DataCite added per test)."""
    return clean_environment(
        {
            "DATABASE_URL": e2e_database_url,
            "REDIS_URL": e2e_redis_url,
            **FAST_SETTINGS,
            **e2e_overrides,
        }
    )


@pytest.fixture(scope="module")
def api_token(e2e_env: dict[str, str]) -> str:
    """Run the release step, then `doiflow create-token`; the token is stdout's last line."""
    run_command([str(BIN / "doiflow"), "db", "upgrade"], e2e_env)
    out = run_command(
        [str(BIN / "doiflow"), "create-token", "--name", "e2e", "--scopes", "read,write,operator"],
        e2e_env,
    )
    return out.strip().splitlines()[-1].strip()


@pytest.fixture
def harness(e2e_env: dict[str, str], tmp_path: Path) -> Iterator[Harness]:
    """A process manager whose processes all stop when the test ends."""
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    manager = Harness(log_dir=log_dir, env=dict(e2e_env), cwd=REPO_ROOT)
    try:
        yield manager
    finally:
        manager.stop_all()


@pytest.fixture
def stack(harness: Harness, api_token: str) -> Stack:
    """A sandbox and a web process, running; the test starts relays and workers."""
    processes = Stack(harness, api_token)
    processes.start_sandbox()
    processes.start_web()
    return processes


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the last log lines of every process to a failing test's report."""
    report = yield
    manager = getattr(item, "funcargs", {}).get("harness")
    if report.failed and isinstance(manager, Harness) and manager.processes:
        report.sections.append(("e2e process logs", manager.report()))
    return report
