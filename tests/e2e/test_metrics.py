"""Metrics from real processes: the worker host's exposition server and the web's /metrics
add up every process's figures (prometheus_client's multiprocess mode)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Stack, concept_doi
from tests.e2e.harness import free_port, wait_until

WORKER_PORT = free_port()


@pytest.fixture(scope="module")
def e2e_overrides() -> Iterator[dict[str, str]]:
    directory = tempfile.mkdtemp(prefix="doiflow-metrics-")
    yield {
        "PROMETHEUS_MULTIPROC_DIR": directory,
        "WORKER_METRICS_ADDRESS": f"127.0.0.1:{WORKER_PORT}",
        "ADMIN_SNAPSHOT_SECONDS": "0",
    }
    shutil.rmtree(directory, ignore_errors=True)


def _samples(url: str) -> list:
    answer = requests.get(url, timeout=5)
    answer.raise_for_status()
    return [s for f in text_string_to_metric_families(answer.text) for s in f.samples]


def _value(samples: list, name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def test_worker_and_web_metrics_add_up_every_process(stack: Stack) -> None:
    # Given a relay and a doi-worker whose host serves its metrics
    stack.start_relay()
    stack.start_worker()
    worker_url = f"http://127.0.0.1:{WORKER_PORT}/metrics"
    wait_until(lambda: _ok(worker_url), 20, "the worker metrics server to answer")

    # When two datasets are created and their concept DOIs become drafts
    for name in ("metrics-a", "metrics-b"):
        stack.api.create_dataset(name)
    for name in ("metrics-a", "metrics-b"):
        stack.api.wait_for_state(concept_doi(name), "draft")

    # Then the worker's server counts its deliveries and the DataCite PUTs the sandbox saw
    puts = len(stack.sandbox.requests(method="PUT"))
    histogram = "doiflow_datacite_request_duration_seconds_count"

    def worker_counted() -> bool:
        samples = _samples(worker_url)
        return _value(samples, histogram, method="PUT", status_class="2xx") == puts == 2

    wait_until(worker_counted, 10, "the worker's figures to show both PUTs")
    samples = _samples(worker_url)
    assert _value(samples, "doiflow_deliveries_total", topic="sync_doi", outcome="success") == 2

    # And the web's /metrics has the same figures, beside the snapshot's counts
    web = _samples(f"{stack.api.url}/metrics")
    assert _value(web, histogram, method="PUT") == 2
    assert _value(web, "doiflow_dois", state="draft", kind="concept") == 2
    assert _value(web, "doiflow_intents", status="done", topic="sync_doi") == 2


def _ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False
