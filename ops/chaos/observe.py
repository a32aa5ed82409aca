"""What doiflow, its database and the sandbox hold once the chaos has stopped."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg.rows import dict_row

from ops.chaos.config import PREFIX
from ops.chaos.journal import ApiClient
from ops.chaos.sandbox import SandboxControl
from ops.chaos.wiretap import WireEntry

OPEN_INTENTS = """
    SELECT id, key, topic, status, attempts, available_at, lease_expires_at, last_error, payload
    FROM outbox WHERE status IN ('pending', 'enqueued') ORDER BY id
"""
OPEN_JOBS = """
    SELECT j.id, j.dataset_id, v.name AS version, j.status, j.created_at,
           json_agg(json_build_object('name', s.name, 'status', s.status, 'error', s.error)
                    ORDER BY s.position) AS steps
    FROM jobs j LEFT JOIN versions v ON v.id = j.version_id
    JOIN job_steps s ON s.job_id = j.id
    WHERE j.status = 'in_progress' GROUP BY j.id, v.name ORDER BY j.id
"""
ALL_INTENTS = "SELECT * FROM outbox ORDER BY id"
DOI_ROWS = "SELECT id, doi, kind, dataset_id, state, target FROM dois ORDER BY id"


@dataclass
class Snapshot:
    """Everything the checks compare against the model."""

    phase: str
    datasets: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    dois: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    open_intents: list[dict[str, Any]] = field(default_factory=list)
    open_jobs: list[dict[str, Any]] = field(default_factory=list)
    remote: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    wire: list[WireEntry] = field(default_factory=list)


def open_intents(database_url: str) -> list[dict[str, Any]]:
    """Outbox rows still pending or enqueued, read straight from Postgres."""
    with psycopg.connect(database_url, row_factory=dict_row, connect_timeout=5) as conn:
        return list(conn.execute(OPEN_INTENTS))


def all_intents(database_url: str) -> list[dict[str, Any]]:
    """The whole outbox, done rows too (kept as evidence)."""
    with psycopg.connect(database_url, row_factory=dict_row, connect_timeout=5) as conn:
        return list(conn.execute(ALL_INTENTS))


def wait_drained(database_url: str, timeout: float, quiet: float = 1.5) -> bool:
    """Wait until no intent is open for `quiet` seconds in a row, or `timeout` passes."""
    deadline = time.monotonic() + timeout
    calm_since: float | None = None
    while time.monotonic() < deadline:
        if open_intents(database_url):
            calm_since = None
        elif calm_since is None:
            calm_since = time.monotonic()
        elif time.monotonic() - calm_since >= quiet:
            return True
        time.sleep(0.2)
    return False


def observe(
    phase: str,
    api: ApiClient,
    sandbox: SandboxControl,
    wire: list[WireEntry],
    database_url: str,
    dataset_ids: Iterable[str],
) -> Snapshot:
    """Read doiflow (API and database) and the sandbox."""
    snapshot = Snapshot(phase=phase, wire=wire)
    with psycopg.connect(database_url, row_factory=dict_row, connect_timeout=5) as conn:
        snapshot.rows = {row["doi"]: row for row in conn.execute(DOI_ROWS)}
        snapshot.open_intents = list(conn.execute(OPEN_INTENTS))
        snapshot.open_jobs = list(conn.execute(OPEN_JOBS))
    for dataset in dataset_ids:
        entry = api.read(f"/api/datasets/{dataset}", dataset)
        snapshot.datasets[dataset] = entry.answer if entry.ok else None
    for doi in snapshot.rows:
        entry = api.read(f"/api/dois/{quote(doi, safe='/')}")
        if entry.ok:
            snapshot.dois[doi] = entry.answer
    for doi in sandbox.dois():
        if doi.startswith(PREFIX + "/"):
            record = sandbox.record(doi)
            if record is not None:
                snapshot.remote[doi] = record
    snapshot.requests = sandbox.requests()
    return snapshot
