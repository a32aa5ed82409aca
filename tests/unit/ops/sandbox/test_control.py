"""The /__sandbox/ control routes: request log, reset, DOI listing, seeding, config."""

from __future__ import annotations

import requests

from tests.fixtures.sandbox import SANDBOX_AUTH, SANDBOX_PREFIX, doi_payload, kernel4_attributes

DOI = f"{SANDBOX_PREFIX}/controlled"


def put(sandbox, doi: str = DOI, **attributes) -> requests.Response:
    return requests.put(
        f"{sandbox.url}/dois/{doi}", json=doi_payload(attributes), auth=SANDBOX_AUTH, timeout=5
    )


def control(sandbox, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{sandbox.url}/__sandbox/{path}", timeout=5, **kwargs)


def test_request_log_lists_api_requests_in_order(sandbox):
    put(sandbox, url="https://archive.example.org/x")
    put(sandbox, **kernel4_attributes(), event="publish")
    requests.get(f"{sandbox.url}/dois/doi:{DOI.upper()}", timeout=5)
    requests.delete(f"{sandbox.url}/dois/{DOI}", auth=SANDBOX_AUTH, timeout=5)

    log = control(sandbox, "GET", "requests").json()

    assert [(r["method"], r["doi"], r["event"], r["status"]) for r in log] == [
        ("PUT", DOI, None, 201),
        ("PUT", DOI, "publish", 200),
        ("GET", DOI, None, 200),
        ("DELETE", DOI, None, 405),
    ]
    assert log[0]["path"] == f"/dois/{DOI}"
    assert all(entry["time"] for entry in log)


def test_request_log_leaves_out_control_requests_and_can_be_cleared(sandbox):
    put(sandbox)
    control(sandbox, "GET", "dois")

    assert len(control(sandbox, "GET", "requests").json()) == 1
    assert control(sandbox, "DELETE", "requests").status_code == 204
    assert control(sandbox, "GET", "requests").json() == []
    assert sandbox.state_of(DOI) == "draft"


def test_reset_forgets_dois_requests_and_faults(sandbox):
    put(sandbox)
    control(sandbox, "POST", "faults", json={"method": "GET", "respond": {"status": 500}})

    response = control(sandbox, "POST", "reset")

    assert response.status_code == 204
    assert control(sandbox, "GET", "dois").json() == []
    assert control(sandbox, "GET", "requests").json() == []
    assert control(sandbox, "GET", "faults").json() == []


def test_in_process_reset_matches_the_control_route(sandbox):
    put(sandbox)

    sandbox.reset()

    assert sandbox.dois() == []
    assert sandbox.requests() == []


def test_doi_listing_shows_every_doi_with_state_url_and_update_time(sandbox):
    put(sandbox, url="https://archive.example.org/draft")
    put(sandbox, f"{SANDBOX_PREFIX}/published", **kernel4_attributes(), event="publish")

    listing = control(sandbox, "GET", "dois").json()

    assert [(item["doi"], item["state"], item["url"]) for item in listing] == [
        (DOI, "draft", "https://archive.example.org/draft"),
        (f"{SANDBOX_PREFIX}/published", "findable", "https://archive.example.org/datasets/ds1"),
    ]
    assert all(item["updated"] for item in listing)


def test_seeded_doi_takes_the_given_state_and_attributes(sandbox):
    seed = {"state": "registered", "attributes": {"url": "https://archive.example.org/old"}}

    response = control(sandbox, "PUT", f"dois/{DOI.upper()}", json=seed)

    assert response.status_code == 201
    assert sandbox.state_of(DOI) == "registered"
    shown = control(sandbox, "GET", f"dois/{DOI}").json()
    assert shown["attributes"] == {"url": "https://archive.example.org/old"}
    assert shown["registered"] is not None


def test_seed_can_set_the_creation_and_update_times(sandbox):
    seed = {"created": "2020-01-02T03:04:05+00:00", "updated": "2021-01-02T03:04:05Z"}

    control(sandbox, "PUT", f"dois/{DOI}", json=seed)

    shown = control(sandbox, "GET", f"dois/{DOI}").json()
    assert (shown["created"], shown["updated"]) == (
        "2020-01-02T03:04:05+00:00",
        "2021-01-02T03:04:05+00:00",
    )


def test_seeded_findable_doi_still_refuses_delete(sandbox):
    control(sandbox, "PUT", f"dois/{DOI}", json={"state": "findable"})

    response = requests.delete(f"{sandbox.url}/dois/{DOI}", auth=SANDBOX_AUTH, timeout=5)

    assert response.status_code == 405


def test_seed_with_unknown_state_is_400(sandbox):
    response = control(sandbox, "PUT", f"dois/{DOI}", json={"state": "tombstoned"})

    assert response.status_code == 400
    assert sandbox.dois() == []


def test_control_delete_removes_any_doi(sandbox):
    control(sandbox, "PUT", f"dois/{DOI}", json={"state": "findable"})

    assert control(sandbox, "DELETE", f"dois/{DOI}").status_code == 204
    assert control(sandbox, "GET", f"dois/{DOI}").status_code == 404


def test_config_sets_domains_until_reset(sandbox):
    changed = control(sandbox, "POST", "config", json={"domains": ["archive.example.org"]})
    elsewhere = kernel4_attributes(url="https://elsewhere.example.com/x")

    refused = put(sandbox, **elsewhere, event="publish")
    sandbox.reset()
    accepted = put(sandbox, **elsewhere, event="publish")

    assert changed.json()["domains"] == ["archive.example.org"]
    assert (refused.status_code, accepted.status_code) == (422, 201)


def test_bad_rate_limit_in_config_is_400(sandbox):
    response = control(sandbox, "POST", "config", json={"rate_limit": "lots"})

    assert response.status_code == 400


def test_unknown_control_route_is_404(sandbox):
    assert control(sandbox, "GET", "nothing").status_code == 404
