"""SandboxControl drives the /__sandbox/ interface over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from ops.sandbox.control_client import SandboxControl, SandboxControlError
from ops.sandbox.testing import Fault
from tests.fixtures.sandbox import SANDBOX_AUTH, SANDBOX_PREFIX, doi_payload

DOI = f"{SANDBOX_PREFIX}/steered"


def put(sandbox, **attributes) -> requests.Response:
    return requests.put(
        f"{sandbox.url}/dois/{DOI}", json=doi_payload(attributes), auth=SANDBOX_AUTH, timeout=5
    )


def test_seed_then_read_one_and_all(sandbox_control):
    created = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)

    sandbox_control.seed(
        DOI.upper(), state="findable", attributes={"url": "https://x.org/1"}, created=created
    )

    shown = sandbox_control.doi(DOI)
    assert shown is not None
    assert (shown["state"], shown["attributes"], shown["created"]) == (
        "findable",
        {"url": "https://x.org/1"},
        created.isoformat(),
    )
    assert [item["doi"] for item in sandbox_control.dois()] == [DOI]


def test_unknown_doi_is_none_and_remove_drops_any_state(sandbox_control):
    sandbox_control.seed(DOI, state="registered")

    sandbox_control.remove(DOI)

    assert sandbox_control.doi(DOI) is None
    with pytest.raises(SandboxControlError) as caught:
        sandbox_control.remove(DOI)
    assert caught.value.status == 404


def test_request_log_is_read_and_cleared(sandbox, sandbox_control):
    put(sandbox)

    logged = sandbox_control.requests()
    sandbox_control.clear_requests()

    assert [(entry["method"], entry["doi"], entry["status"]) for entry in logged] == [
        ("PUT", DOI, 201)
    ]
    assert sandbox_control.requests() == []


def test_inject_takes_faults_and_json_rules_and_they_can_be_cleared(sandbox, sandbox_control):
    active = sandbox_control.inject(
        Fault.respond(503, method="PUT", times=1), {"method": "GET", "respond": {"status": 500}}
    )

    refused = put(sandbox)
    sandbox_control.clear_faults()

    assert [(rule["method"], rule["respond"]["status"]) for rule in active] == [
        ("PUT", 503),
        ("GET", 500),
    ]
    assert refused.status_code == 503
    assert sandbox_control.faults() == []


def test_a_rule_the_server_refuses_raises(sandbox_control):
    with pytest.raises(SandboxControlError) as caught:
        sandbox_control.inject({"action": "explode"})

    assert caught.value.status == 400
    assert "action" in caught.value.message


def test_configure_and_reset(sandbox, sandbox_control):
    config = sandbox_control.configure(domains=["archive.example.org"], rate_limit="1/60s")
    put(sandbox)
    throttled = put(sandbox)

    sandbox_control.reset()

    assert config == {"domains": ["archive.example.org"], "rate_limit": "1/60s"}
    assert throttled.status_code == 429
    assert sandbox_control.dois() == []
    assert put(sandbox).status_code == 201


def test_only_http_urls_are_taken():
    with pytest.raises(ValueError, match="http"):
        SandboxControl("file:///etc/passwd")
