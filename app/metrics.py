"""Prometheus metrics: what the workers measure, and what the snapshot counted.

Workers measure as they go: DataCite request durations (by method and status class),
token-bucket waits, deliveries by topic and outcome. With PROMETHEUS_MULTIPROC_DIR set
(prometheus_client's multiprocess mode: every process of a host writes its figures
there), `/metrics` on the web process and each worker host's exposition server
(`WORKER_METRICS_ADDRESS`) add up every process's figures; without it, a process
serves its own (`doiflow dev`, where the workers are threads of the web process).

Counts (DOIs per state and kind, intents per status and topic, holds per state, outbox
lag and oldest pending age) come from the dashboard snapshot (`dashboard_snapshots`),
refreshed at most every ADMIN_SNAPSHOT_SECONDS by whichever process asks first, so a
scrape never counts a table itself. No label carries a DOI or a dataset id: every label
value comes from a closed set (states, kinds, statuses, topics, methods, outcomes).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app.clients.errors import PermanentError, RemoteError, ThrottledError

if TYPE_CHECKING:
    from app.runtime import Runtime

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OUTCOMES = ("success", "permanent", "throttled", "transient")
METHODS = ("GET", "PUT", "POST", "DELETE")

DATACITE_SECONDS = Histogram(
    "doiflow_datacite_request_duration_seconds",
    "DataCite requests by method and status class (2xx, 4xx, 5xx, none: no answer).",
    ["method", "status_class"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BUCKET_WAITS = Counter(
    "doiflow_ratelimit_waits",
    "Takes from the shared DataCite token bucket that had to wait (snoozed or slept).",
)
BUCKET_WAIT_SECONDS = Counter(
    "doiflow_ratelimit_wait_seconds",
    "Seconds the waiting takes from the DataCite token bucket were told to wait.",
)
DELIVERIES = Counter(
    "doiflow_deliveries",
    "Intent deliveries settled, by topic and outcome (success, permanent, throttled, transient).",
    ["topic", "outcome"],
)


def status_class(status: int | None) -> str:
    """`2xx`, `4xx`, `5xx` … or `none` when no answer came."""
    return "none" if status is None else f"{status // 100}xx"


def observe_datacite(method: str, status: int | None, seconds: float) -> None:
    """One DataCite request (the client calls this for every request)."""
    verb = method if method in METHODS else "OTHER"
    DATACITE_SECONDS.labels(verb, status_class(status)).observe(seconds)


def observe_bucket_wait(seconds: float) -> None:
    """A take from the token bucket that was told to wait `seconds`."""
    BUCKET_WAITS.inc()
    BUCKET_WAIT_SECONDS.inc(seconds)


def outcome_of(error: RemoteError | None) -> str:
    """The delivery outcome for a remote step's error (None: success)."""
    if error is None:
        return "success"
    if isinstance(error, ThrottledError):
        return "throttled"
    if isinstance(error, PermanentError):
        return "permanent"
    return "transient"


def count_delivery(topic: str, error: RemoteError | None) -> None:
    """One settled delivery (the runner calls this as it settles the intent)."""
    from app.topics import REGISTRY as TOPICS

    DELIVERIES.labels(topic if topic in TOPICS else "other", outcome_of(error)).inc()


class SnapshotCollector(Collector):
    """Gauges from the dashboard snapshot (taken anew when older than its max age)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Any]:
        from app.admin.queries import dashboard
        from app.topics import REGISTRY as TOPICS

        settings = self.runtime.settings
        snapshot = dashboard.current(self.runtime, settings.admin_snapshot_seconds)
        data: dict[str, Any] = snapshot.data if snapshot is not None else {}
        age = GaugeMetricFamily(
            "doiflow_snapshot_age_seconds", "Age of the snapshot these counts come from."
        )
        if snapshot is not None:
            age.add_metric([], dashboard._age(snapshot))
        yield age
        dois = GaugeMetricFamily(
            "doiflow_dois", "DOIs per state and kind.", labels=["state", "kind"]
        )
        for state, kind, count in data.get("dois_by_kind") or []:
            dois.add_metric([state, kind], count)
        yield dois
        intents = GaugeMetricFamily(
            "doiflow_intents", "Outbox intents per status and topic.", labels=["status", "topic"]
        )
        merged: dict[tuple[str, str], int] = {}
        for status, topic, count in data.get("intents_by_topic") or []:
            pair = (status, topic if topic in TOPICS else "other")
            merged[pair] = merged.get(pair, 0) + count
        for (status, topic), count in sorted(merged.items()):
            intents.add_metric([status, topic], count)
        yield intents
        holds = GaugeMetricFamily("doiflow_holds", "Legal holds per state.", labels=["state"])
        for state, count in sorted((data.get("holds") or {}).items()):
            holds.add_metric([state], count)
        yield holds
        for name, key, text in (
            ("doiflow_outbox_lag_seconds", "lag_seconds", "Age of the oldest due pending intent."),
            (
                "doiflow_outbox_oldest_pending_seconds",
                "oldest_pending_seconds",
                "Age of the oldest pending intent, due or not.",
            ),
        ):
            gauge = GaugeMetricFamily(name, text)
            if data.get(key) is not None:
                gauge.add_metric([], float(data[key]))
            yield gauge


def multiprocess_dir() -> str | None:
    """PROMETHEUS_MULTIPROC_DIR, when this host's processes share their figures."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition(runtime: Runtime | None) -> bytes:
    """The text exposition: every process's figures (or this one's), plus the snapshot's."""
    if multiprocess_dir() is not None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        processes = generate_latest(registry)
    else:
        processes = generate_latest(REGISTRY)
    if runtime is None:
        return processes
    counts = CollectorRegistry()
    counts.register(SnapshotCollector(runtime))
    return processes + generate_latest(counts)
