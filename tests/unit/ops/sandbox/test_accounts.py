"""Basic auth and ownership answer with DataCite's 400/401/403/404 bodies."""

from __future__ import annotations

import pytest
import requests

from tests.fixtures.sandbox import (
    SANDBOX_AUTH,
    SANDBOX_PASSWORD,
    SANDBOX_PREFIX,
    SANDBOX_USER,
    doi_payload,
    kernel4_attributes,
)

DOI = f"{SANDBOX_PREFIX}/owned"
BAD_CREDENTIALS = {"errors": [{"status": "401", "title": "Bad credentials."}]}
FORBIDDEN = {
    "errors": [{"status": "403", "title": "You are not authorized to access this resource."}]
}
NOT_FOUND = {
    "errors": [{"status": "404", "title": "The resource you are looking for doesn't exist."}]
}


def put(base_url: str, doi: str = DOI, auth=SANDBOX_AUTH, **attributes) -> requests.Response:
    return requests.put(
        f"{base_url}/dois/{doi}", json=doi_payload(attributes), auth=auth, timeout=5
    )


@pytest.mark.parametrize("auth", [None, (SANDBOX_USER, "wrong"), ("NOBODY", SANDBOX_PASSWORD)])
@pytest.mark.parametrize("method", ["put", "patch", "post"])
def test_write_without_good_credentials_is_401(sandbox, auth, method):
    url = f"{sandbox.url}/dois" + ("" if method == "post" else f"/{DOI}")

    response = requests.request(method, url, json=doi_payload(doi=DOI), auth=auth, timeout=5)

    assert response.status_code == 401
    assert response.json() == BAD_CREDENTIALS
    assert response.headers["Content-Type"].startswith("application/vnd.api+json")
    assert sandbox.dois() == []


def test_delete_without_credentials_is_401(sandbox):
    put(sandbox.url)

    response = requests.delete(f"{sandbox.url}/dois/{DOI}", timeout=5)

    assert response.status_code == 401
    assert sandbox.state_of(DOI) == "draft"


def test_bearer_token_is_bad_credentials(sandbox):
    response = requests.get(
        f"{sandbox.url}/dois/{DOI}", headers={"Authorization": "Bearer abc"}, timeout=5
    )

    assert response.status_code == 401


def test_user_name_is_case_insensitive(sandbox):
    response = put(sandbox.url, auth=(SANDBOX_USER.lower(), SANDBOX_PASSWORD))

    assert response.status_code == 201


def test_prefix_the_user_does_not_own_is_403(sandbox):
    response = put(sandbox.url, doi="10.99999/theirs")

    assert response.status_code == 403
    assert response.json() == FORBIDDEN


def test_post_under_a_foreign_prefix_is_403(sandbox):
    response = requests.post(
        f"{sandbox.url}/dois", json=doi_payload(prefix="10.99999"), auth=SANDBOX_AUTH, timeout=5
    )

    assert response.status_code == 403


@pytest.mark.parametrize("event", [None, "register"])
def test_draft_or_registered_doi_is_hidden_from_anonymous_readers(sandbox, event):
    put(sandbox.url, **kernel4_attributes(), **({"event": event} if event else {}))

    response = requests.get(f"{sandbox.url}/dois/{DOI}", timeout=5)

    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_findable_doi_is_readable_by_anyone(sandbox):
    put(sandbox.url, **kernel4_attributes(), event="publish")

    assert requests.get(f"{sandbox.url}/dois/{DOI}", timeout=5).status_code == 200


def test_bad_credentials_on_a_read_are_401(sandbox):
    put(sandbox.url, **kernel4_attributes(), event="publish")

    response = requests.get(f"{sandbox.url}/dois/{DOI}", auth=(SANDBOX_USER, "wrong"), timeout=5)

    assert response.status_code == 401


def test_another_repository_cannot_read_update_or_delete_a_draft(two_repositories):
    base = two_repositories.url
    put(base, auth=("alice.repo", "a-secret"))
    bob = ("BOB.REPO", "b-secret")

    read = requests.get(f"{base}/dois/{DOI}", auth=bob, timeout=5)
    update = put(base, auth=bob, version="2")
    delete = requests.delete(f"{base}/dois/{DOI}", auth=bob, timeout=5)

    assert (read.status_code, update.status_code, delete.status_code) == (404, 403, 403)
    assert two_repositories.state_of(DOI) == "draft"
