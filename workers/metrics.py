"""The worker host's metrics exposition: one small HTTP server beside the worker processes.

With WORKER_METRICS_ADDRESS (`host:port`) and PROMETHEUS_MULTIPROC_DIR set, `dramatiq
workers.worker` starts one extra process (a Dramatiq middleware "fork", as Dramatiq's
own Prometheus middleware does) that serves every worker process's figures
(prometheus_client's multiprocess mode: each process writes its own files in the
directory, the server adds them up) in the Prometheus text format on `/metrics`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import dramatiq
from prometheus_client import CollectorRegistry, multiprocess, start_http_server

from app.config import load_settings


class MetricsExposition(dramatiq.Middleware):
    """Asks Dramatiq for one exposition process next to the workers."""

    @property
    def forks(self) -> list[Callable[[], int]]:
        return [serve_metrics]


def serve_metrics() -> int:
    """The fork: serve the multiprocess registry until the supervisor stops us."""
    settings = load_settings()
    address = settings.worker_metrics_address
    if address is None or not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return 0
    host, _, port = address.rpartition(":")
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    start_http_server(int(port), addr=host, registry=registry)
    threading.Event().wait()  # the supervisor's SIGTERM ends the process
    return 0
