"""The typed fault builder produces the rules the control interface takes, and they work."""

from __future__ import annotations

import time

import pytest
import requests

from ops.sandbox.testing import Fault
from tests.fixtures.sandbox import SANDBOX_AUTH, SANDBOX_PREFIX, doi_payload

DOI = f"{SANDBOX_PREFIX}/built"


def put(sandbox, timeout: float = 5) -> requests.Response:
    payload = doi_payload(url="https://archive.example.org/x")
    return requests.put(
        f"{sandbox.url}/dois/{DOI}", json=payload, auth=SANDBOX_AUTH, timeout=timeout
    )


def test_builders_make_the_json_rules_of_the_readme():
    rules = [
        Fault.respond(429, headers={"Retry-After": "2"}, method="PUT", times=1).to_rule(),
        Fault.action("timeout_after_commit", seconds=3, method="PUT", times=1).to_rule(),
        Fault.latency(250).to_rule(),
    ]

    assert rules == [
        {
            "method": "PUT",
            "doi": None,
            "times": 1,
            "probability": None,
            "respond": {"status": 429, "headers": {"Retry-After": "2"}},
        },
        {
            "method": "PUT",
            "doi": None,
            "times": 1,
            "probability": None,
            "action": "timeout_after_commit",
            "seconds": 3,
        },
        {"method": None, "doi": None, "times": None, "probability": None, "latency_ms": 250},
    ]


@pytest.mark.parametrize(
    "build",
    [
        lambda: Fault.action("explode"),
        lambda: Fault.respond(42),
        lambda: Fault.latency(0),
        lambda: Fault.respond(500, probability=2),
        lambda: Fault.respond(500, doi="not-a-doi"),
    ],
)
def test_nonsense_is_refused_where_the_fault_is_built(build):
    with pytest.raises(ValueError):  # noqa: PT011 - the server's own messages vary
        build()


def test_faults_are_frozen_values():
    fault = Fault.respond(503, times=2)

    with pytest.raises(AttributeError):
        fault.times = 3  # type: ignore[misc]
    assert fault == Fault.respond(503, times=2)


def test_built_rules_do_what_they_say(sandbox):
    sandbox.control.inject(
        Fault.respond(429, headers={"Retry-After": "2"}, method="PUT", times=1),
        Fault.latency(200, method="PUT", times=1),
    )

    started = time.monotonic()
    throttled = put(sandbox)
    created = put(sandbox)

    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "2")
    assert time.monotonic() - started >= 0.2
    assert created.status_code == 201


def test_an_action_with_latency_applies_then_loses_the_answer(sandbox):
    sandbox.control.inject(Fault.action("timeout_after_commit", seconds=1).with_latency(50))

    with pytest.raises(requests.Timeout):
        put(sandbox, timeout=0.5)

    assert sandbox.state_of(DOI) == "draft"
    assert sandbox.requests()[-1]["fault"] == "timeout_after_commit"
