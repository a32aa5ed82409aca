"""Injected faults: canned answers, latency, timeouts, dropped connections, rate limits."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from ops.sandbox import SandboxServer
from ops.sandbox.faults import TokenBucket, parse_rate_limit
from tests.fixtures.sandbox import (
    SANDBOX_AUTH,
    SANDBOX_PASSWORD,
    SANDBOX_PREFIX,
    SANDBOX_USER,
    doi_payload,
)

DOI = f"{SANDBOX_PREFIX}/faulty"
OTHER = f"{SANDBOX_PREFIX}/healthy"


def add_faults(sandbox, rules) -> requests.Response:
    return requests.post(f"{sandbox.url}/__sandbox/faults", json=rules, timeout=5)


def put(sandbox, doi: str = DOI, timeout: float = 5) -> requests.Response:
    payload = doi_payload(url="https://archive.example.org/x")
    return requests.put(
        f"{sandbox.url}/dois/{doi}", json=payload, auth=SANDBOX_AUTH, timeout=timeout
    )


def wait_until(condition, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.02)


def last_request_finished(sandbox) -> bool:
    log = sandbox.requests()
    return bool(log) and log[-1]["status"] is not None


def test_respond_rule_answers_429_with_retry_after_and_applies_nothing(sandbox):
    add_faults(
        sandbox, {"method": "PUT", "respond": {"status": 429, "headers": {"Retry-After": "2"}}}
    )

    response = put(sandbox)

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.json() == {"errors": [{"status": "429", "title": "Too Many Requests"}]}
    assert sandbox.dois() == []


def test_respond_rule_can_send_an_html_body_from_the_edge(sandbox):
    html = "<html><body>403 Forbidden</body></html>"
    respond = {"status": 403, "body": html, "content_type": "text/html"}
    add_faults(sandbox, {"respond": respond})

    response = put(sandbox)

    assert (response.status_code, response.text) == (403, html)
    assert response.headers["Content-Type"].startswith("text/html")


def test_rule_with_times_expires_after_that_many_hits(sandbox):
    add_faults(sandbox, {"respond": {"status": 503}, "times": 2})

    statuses = [put(sandbox).status_code for _ in range(3)]

    assert statuses == [503, 503, 201]
    assert requests.get(f"{sandbox.url}/__sandbox/faults", timeout=5).json() == []


def test_rule_matches_method_and_normalized_doi_only(sandbox):
    add_faults(
        sandbox,
        {"method": "put", "doi": f"https://doi.org/{DOI.upper()}", "respond": {"status": 500}},
    )

    hit = put(sandbox)
    other_doi = put(sandbox, OTHER)
    other_method = requests.get(f"{sandbox.url}/dois/{DOI}", auth=SANDBOX_AUTH, timeout=5)

    assert (hit.status_code, other_doi.status_code, other_method.status_code) == (500, 201, 404)


def test_post_is_matched_on_the_doi_in_its_body(sandbox):
    add_faults(sandbox, {"doi": DOI, "respond": {"status": 502}})

    response = requests.post(
        f"{sandbox.url}/dois", json=doi_payload(doi=DOI), auth=SANDBOX_AUTH, timeout=5
    )

    assert response.status_code == 502


@pytest.mark.parametrize(("probability", "expected"), [(0.0, {201, 200}), (1.0, {500})])
def test_probability_zero_never_fires_and_one_always_does(sandbox, probability, expected):
    add_faults(sandbox, {"probability": probability, "respond": {"status": 500}})

    statuses = {put(sandbox).status_code for _ in range(5)}

    assert statuses == expected


def test_probability_fires_on_some_requests_only(sandbox):
    add_faults(sandbox, {"probability": 0.5, "respond": {"status": 500}})

    statuses = [put(sandbox).status_code for _ in range(40)]

    assert 5 < statuses.count(500) < 35


def test_latency_delays_the_answer_but_applies_the_change(sandbox):
    add_faults(sandbox, {"latency_ms": 250})

    started = time.monotonic()
    response = put(sandbox)

    assert time.monotonic() - started >= 0.25
    assert response.status_code == 201
    assert sandbox.requests()[-1]["fault"] == "latency"


def test_latency_adds_to_another_rule(sandbox):
    add_faults(sandbox, [{"latency_ms": 200}, {"respond": {"status": 503}}])

    started = time.monotonic()
    response = put(sandbox)

    assert (response.status_code, time.monotonic() - started >= 0.2) == (503, True)


def test_timeout_stalls_and_never_applies_the_change(sandbox):
    add_faults(sandbox, {"action": "timeout", "seconds": 0.6, "times": 1})

    with pytest.raises(requests.Timeout):
        put(sandbox, timeout=0.3)

    wait_until(lambda: last_request_finished(sandbox))
    assert sandbox.requests()[-1]["status"] == 504
    assert sandbox.dois() == []


def test_timeout_answers_504_to_a_patient_client(sandbox):
    add_faults(sandbox, {"action": "timeout", "seconds": 0.1})

    response = put(sandbox)

    assert response.status_code == 504
    assert sandbox.dois() == []


def test_timeout_after_commit_applies_the_change_and_loses_the_answer(sandbox):
    add_faults(sandbox, {"method": "PUT", "action": "timeout_after_commit", "seconds": 1})

    with pytest.raises(requests.Timeout):
        put(sandbox, timeout=0.3)

    assert sandbox.state_of(DOI) == "draft"
    assert sandbox.requests()[-1]["fault"] == "timeout_after_commit"


def test_reset_drops_the_connection_without_applying(sandbox):
    add_faults(sandbox, {"action": "reset", "times": 1})

    with pytest.raises(requests.ConnectionError):
        put(sandbox)

    assert sandbox.dois() == []
    entry = sandbox.requests()[-1]
    assert (entry["status"], entry["fault"]) == (None, "reset")
    assert put(sandbox).status_code == 201


def test_reset_after_commit_drops_the_connection_after_applying(sandbox):
    add_faults(sandbox, {"action": "reset_after_commit", "times": 1})

    with pytest.raises(requests.ConnectionError):
        put(sandbox)

    assert sandbox.state_of(DOI) == "draft"


def test_stalled_request_does_not_block_others(sandbox):
    add_faults(sandbox, {"doi": DOI, "action": "timeout", "seconds": 2})
    stalled = threading.Thread(target=lambda: _swallow_timeout(sandbox), daemon=True)
    stalled.start()
    wait_until(lambda: len(sandbox.requests()) == 1)

    started = time.monotonic()
    response = put(sandbox, OTHER)

    assert response.status_code == 201
    assert time.monotonic() - started < 1
    stalled.join(timeout=5)


def test_sandbox_reset_ends_injected_sleeps_early(sandbox):
    add_faults(sandbox, {"action": "timeout", "seconds": 30})
    outcome: list[int] = []
    worker = threading.Thread(target=lambda: outcome.append(put(sandbox).status_code))
    worker.start()
    wait_until(lambda: len(sandbox.requests()) == 1)

    requests.post(f"{sandbox.url}/__sandbox/reset", timeout=5)
    worker.join(timeout=5)

    assert outcome == [504]


def test_fault_rules_are_stored_listed_and_cleared(sandbox):
    single = add_faults(sandbox, {"method": "DELETE", "respond": {"status": 500}})
    both = add_faults(sandbox, [{"latency_ms": 5, "times": 3}])

    assert single.status_code == 201
    assert [rule["method"] for rule in single.json()] == ["DELETE"]
    assert [rule["times"] for rule in both.json()] == [None, 3]
    assert requests.delete(f"{sandbox.url}/__sandbox/faults", timeout=5).status_code == 204
    assert requests.get(f"{sandbox.url}/__sandbox/faults", timeout=5).json() == []


@pytest.mark.parametrize(
    "rule",
    [
        {"method": "PUT"},
        {"action": "explode"},
        {"respond": {"status": "429"}},
        {"probability": 2, "respond": {"status": 500}},
        {"doi": "not-a-doi", "respond": {"status": 500}},
        {"action": "reset", "respond": {"status": 500}},
    ],
)
def test_nonsense_fault_rules_are_refused_with_400(sandbox, rule):
    response = add_faults(sandbox, rule)

    assert response.status_code == 400
    assert requests.get(f"{sandbox.url}/__sandbox/faults", timeout=5).json() == []


def test_faults_are_not_applied_to_control_requests(sandbox):
    add_faults(sandbox, {"respond": {"status": 500}})

    response = requests.get(f"{sandbox.url}/__sandbox/dois", timeout=5)

    assert response.status_code == 200


@pytest.fixture
def limited_sandbox():
    with SandboxServer(
        users={SANDBOX_USER: SANDBOX_PASSWORD}, prefixes=[SANDBOX_PREFIX], rate_limit="3/300s"
    ) as server:
        yield server


def test_rate_limit_answers_429_with_retry_after_when_the_bucket_is_empty(limited_sandbox):
    statuses = [put(limited_sandbox).status_code for _ in range(3)]

    response = put(limited_sandbox)

    assert statuses == [201, 200, 200]
    assert response.status_code == 429
    assert response.json() == {"errors": [{"status": "429", "title": "Too Many Requests"}]}
    assert 1 <= int(response.headers["Retry-After"]) <= 100


def test_rate_limit_does_not_count_control_requests(limited_sandbox):
    for _ in range(5):
        requests.get(f"{limited_sandbox.url}/__sandbox/requests", timeout=5)

    assert put(limited_sandbox).status_code == 201


def test_rate_limit_can_be_switched_on_until_the_next_reset(sandbox):
    config = {"rate_limit": "1/60s"}
    requests.post(f"{sandbox.url}/__sandbox/config", json=config, timeout=5)

    statuses = [put(sandbox).status_code for _ in range(2)]
    sandbox.reset()

    assert statuses == [201, 429]
    assert put(sandbox).status_code == 201


def test_token_bucket_refills_over_its_period():
    now = [0.0]
    bucket = TokenBucket(2, 10.0, clock=lambda: now[0])

    spent = [bucket.take(), bucket.take(), bucket.take()]
    now[0] = 5.0

    assert spent[:2] == [None, None]
    assert spent[2] == pytest.approx(5.0)
    assert bucket.take() is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("750/300s", (750, 300.0)), ("3000/5m", (3000, 300.0)), ("10/1h", (10, 3600.0))],
)
def test_rate_limit_text_is_parsed(text, expected):
    assert parse_rate_limit(text) == expected


def _swallow_timeout(sandbox) -> None:
    try:
        put(sandbox, timeout=0.3)
    except requests.Timeout:
        pass
