"""The sandbox's /dois endpoints answer as DataCite does: upsert, create, read, delete."""

from __future__ import annotations

import pytest
import requests

from tests.fixtures.sandbox import (
    SANDBOX_AUTH,
    SANDBOX_PREFIX,
    attributes_of,
    doi_payload,
    get_doi,
    kernel4_attributes,
    put_doi,
)

DOI = f"{SANDBOX_PREFIX}/ds.one"
JSONAPI = "application/vnd.api+json"


# The order of lupo's checks is seen on a DOI of the first of two repositories.
OWNED = f"{SANDBOX_PREFIX}/owned"
BAD_CREDENTIALS = {"errors": [{"status": "401", "title": "Bad credentials."}]}
FORBIDDEN = {
    "errors": [{"status": "403", "title": "You are not authorized to access this resource."}]
}
NO_PAYLOAD = {
    "errors": [
        {"status": "400", "title": "You need to provide a payload following the JSONAPI spec"}
    ]
}


def put_as(base_url: str, auth, doi: str = OWNED, **attributes) -> requests.Response:
    return requests.put(
        f"{base_url}/dois/{doi}", json=doi_payload(attributes), auth=auth, timeout=5
    )


def test_put_creates_missing_doi_with_201(sandbox):
    response = put_doi(sandbox, DOI, url="https://archive.example.org/ds1")

    assert response.status_code == 201
    assert response.headers["Content-Type"].startswith(JSONAPI)
    assert attributes_of(response)["state"] == "draft"
    assert sandbox.state_of(DOI) == "draft"


def test_put_updates_existing_doi_with_200(sandbox):
    put_doi(sandbox, DOI, url="https://archive.example.org/ds1")

    response = put_doi(sandbox, DOI, url="https://archive.example.org/ds1-moved")

    assert response.status_code == 200
    assert attributes_of(response)["url"] == "https://archive.example.org/ds1-moved"


def test_patch_creates_and_updates_like_put(sandbox):
    url = f"{sandbox.url}/dois/{DOI}"
    created = requests.patch(url, json=doi_payload(version="1"), auth=SANDBOX_AUTH, timeout=5)
    updated = requests.patch(url, json=doi_payload(version="2"), auth=SANDBOX_AUTH, timeout=5)

    assert (created.status_code, updated.status_code) == (201, 200)
    assert attributes_of(updated)["version"] == "2"


def test_post_with_doi_creates_with_201_and_location(sandbox):
    response = requests.post(
        f"{sandbox.url}/dois", json=doi_payload(doi=DOI), auth=SANDBOX_AUTH, timeout=5
    )

    assert response.status_code == 201
    assert response.headers["Location"] == f"{sandbox.url}/dois/{DOI}"
    assert response.json()["data"]["id"] == DOI


def test_post_of_existing_doi_is_422_already_taken(sandbox):
    put_doi(sandbox, DOI)

    response = requests.post(
        f"{sandbox.url}/dois", json=doi_payload(doi=DOI.upper()), auth=SANDBOX_AUTH, timeout=5
    )

    # lupo's uniqueness validation goes through serialize_errors: no `status` member.
    assert response.status_code == 422
    assert response.json() == {
        "errors": [{"source": "doi", "title": "This DOI has already been taken", "uid": DOI}]
    }


def test_post_without_doi_or_prefix_is_422(sandbox):
    response = requests.post(
        f"{sandbox.url}/dois", json=doi_payload(), auth=SANDBOX_AUTH, timeout=5
    )

    assert response.status_code == 422
    assert response.json() == {"errors": [{"source": "doi", "title": "Can't be blank"}]}


def test_get_of_unknown_doi_is_404(sandbox):
    assert get_doi(sandbox, f"{SANDBOX_PREFIX}/nothing-here").status_code == 404


def test_delete_of_draft_is_204_and_the_doi_can_be_created_again(sandbox):
    put_doi(sandbox, DOI)

    deleted = requests.delete(f"{sandbox.url}/dois/{DOI}", auth=SANDBOX_AUTH, timeout=5)

    assert deleted.status_code == 204
    assert get_doi(sandbox, DOI).status_code == 404
    assert put_doi(sandbox, DOI).status_code == 201


@pytest.mark.parametrize("event", ["register", "publish"])
def test_delete_of_registered_or_findable_doi_is_405_with_allow(sandbox, event):
    put_doi(sandbox, DOI, kernel4_attributes(), event=event)

    response = requests.delete(f"{sandbox.url}/dois/{DOI}", auth=SANDBOX_AUTH, timeout=5)

    assert response.status_code == 405
    assert response.headers["Allow"] == "HEAD, GET, POST, PATCH, PUT, OPTIONS"
    assert sandbox.state_of(DOI) != "draft"


def test_delete_of_unknown_doi_is_404(sandbox):
    response = requests.delete(
        f"{sandbox.url}/dois/{SANDBOX_PREFIX}/never", auth=SANDBOX_AUTH, timeout=5
    )

    assert response.status_code == 404


def test_heartbeat_answers_ok(sandbox):
    response = requests.get(f"{sandbox.url}/heartbeat", timeout=5)

    assert (response.status_code, response.text) == (200, "OK")


def test_body_that_is_not_json_is_400(sandbox):
    response = requests.put(
        f"{sandbox.url}/dois/{OWNED}",
        data="<resource/>",
        headers={"Content-Type": "application/vnd.api+json"},
        auth=SANDBOX_AUTH,
        timeout=5,
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["status"] == "400"


@pytest.mark.parametrize("body", [{}, {"attributes": {"url": "https://x.org"}}, [], {"data": 1}])
def test_body_without_data_is_400(sandbox, body):
    response = requests.put(f"{sandbox.url}/dois/{OWNED}", json=body, auth=SANDBOX_AUTH, timeout=5)

    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {"status": "400", "title": "You need to provide a payload following the JSONAPI spec"}
        ]
    }


def put_raw(base_url: str, body: object, auth, doi: str = OWNED) -> requests.Response:
    return requests.put(f"{base_url}/dois/{doi}", json=body, auth=auth, timeout=5)


@pytest.mark.parametrize(
    ("auth", "status", "body"),
    [
        (("BOB.REPO", "b-secret"), 403, FORBIDDEN),
        (None, 401, BAD_CREDENTIALS),
        (("ALICE.REPO", "a-secret"), 400, NO_PAYLOAD),
    ],
)
def test_existing_doi_is_authorized_before_its_payload_is_read(
    two_repositories, auth, status, body
):
    # lupo's update runs `authorize! :update` on the DOI it found before `safe_params`.
    put_as(two_repositories.url, ("ALICE.REPO", "a-secret"))

    response = put_raw(two_repositories.url, {"attributes": {"version": "2"}}, auth)

    assert (response.status_code, response.json()) == (status, body)


def test_body_that_is_not_json_is_400_before_authorization(two_repositories):
    # Rails parses the body in a before_action, ahead of anything the action does.
    put_as(two_repositories.url, ("ALICE.REPO", "a-secret"))

    response = requests.put(
        f"{two_repositories.url}/dois/{OWNED}",
        data="{not json",
        headers={"Content-Type": "application/vnd.api+json"},
        auth=("BOB.REPO", "b-secret"),
        timeout=5,
    )

    assert response.status_code == 400


def test_new_doi_payload_is_read_before_its_prefix_is_authorized(two_repositories):
    # For a DOI that does not exist yet, `DataciteDoi.new(sanitized_params)` comes first.
    response = put_raw(two_repositories.url, {}, ("BOB.REPO", "b-secret"))

    assert (response.status_code, response.json()) == (400, NO_PAYLOAD)


def test_anonymous_post_is_401_before_its_payload_is_read(sandbox):
    # DataciteDoisController#create fails anonymous callers before `sanitized_params`.
    response = requests.post(f"{sandbox.url}/dois", json={}, timeout=5)

    assert (response.status_code, response.json()) == (401, BAD_CREDENTIALS)
