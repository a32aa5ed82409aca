"""The sandbox's /dois endpoints answer as DataCite does: upsert, create, read, delete."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest
import requests

from tests.fixtures.sandbox import SANDBOX_AUTH, SANDBOX_PREFIX, doi_payload, kernel4_attributes

DOI = f"{SANDBOX_PREFIX}/ds.one"
JSONAPI = "application/vnd.api+json"


def put(sandbox, doi: str, attributes: dict | None = None, **more: object) -> requests.Response:
    return requests.put(
        f"{sandbox.url}/dois/{doi}",
        json=doi_payload(attributes, **more),
        auth=SANDBOX_AUTH,
        timeout=5,
    )


def get(sandbox, doi: str, auth=SANDBOX_AUTH) -> requests.Response:
    return requests.get(f"{sandbox.url}/dois/{doi}", auth=auth, timeout=5)


def attributes_of(response: requests.Response) -> dict:
    return response.json()["data"]["attributes"]


def test_put_creates_missing_doi_with_201(sandbox):
    response = put(sandbox, DOI, url="https://archive.example.org/ds1")

    assert response.status_code == 201
    assert response.headers["Content-Type"].startswith(JSONAPI)
    assert attributes_of(response)["state"] == "draft"
    assert sandbox.state_of(DOI) == "draft"


def test_put_updates_existing_doi_with_200(sandbox):
    put(sandbox, DOI, url="https://archive.example.org/ds1")

    response = put(sandbox, DOI, url="https://archive.example.org/ds1-moved")

    assert response.status_code == 200
    assert attributes_of(response)["url"] == "https://archive.example.org/ds1-moved"


def test_patch_creates_and_updates_like_put(sandbox):
    url = f"{sandbox.url}/dois/{DOI}"
    created = requests.patch(url, json=doi_payload(version="1"), auth=SANDBOX_AUTH, timeout=5)
    updated = requests.patch(url, json=doi_payload(version="2"), auth=SANDBOX_AUTH, timeout=5)

    assert (created.status_code, updated.status_code) == (201, 200)
    assert attributes_of(updated)["version"] == "2"


def test_put_update_is_partial(sandbox):
    put(sandbox, DOI, titles=[{"title": "Kept"}], url="https://archive.example.org/a")

    response = put(sandbox, DOI, url="https://archive.example.org/b")

    assert attributes_of(response)["titles"] == [{"title": "Kept"}]
    assert attributes_of(response)["url"] == "https://archive.example.org/b"


@pytest.mark.parametrize("empty", [None, []])
def test_put_with_null_or_empty_list_clears_a_field(sandbox, empty):
    put(sandbox, DOI, titles=[{"title": "Gone soon"}], language="en")

    response = put(sandbox, DOI, titles=empty, language=None)

    assert attributes_of(response)["titles"] == []
    assert attributes_of(response)["language"] is None


def test_put_ignores_read_only_and_unknown_attributes(sandbox):
    ignored = {
        "state": "findable",
        "prefix": "10.9999",
        "suffix": "other",
        "registered": "2001-01-01T00:00:00.000Z",
        "created": "2001-01-01T00:00:00.000Z",
        "isActive": True,
        "doi": "10.80507/something-else",
        "colour": "blue",
    }

    response = put(sandbox, DOI, ignored)

    attributes = attributes_of(response)
    assert response.status_code == 201
    assert (attributes["state"], attributes["isActive"], attributes["registered"]) == (
        "draft",
        False,
        None,
    )
    assert (attributes["doi"], attributes["prefix"], attributes["suffix"]) == (
        DOI,
        SANDBOX_PREFIX,
        "ds.one",
    )
    assert not attributes["created"].startswith("2001")
    assert "colour" not in attributes


def test_put_on_a_path_that_is_not_a_doi_is_404(sandbox):
    response = requests.put(
        f"{sandbox.url}/dois/not-a-doi", json=doi_payload(), auth=SANDBOX_AUTH, timeout=5
    )

    assert response.status_code == 404
    assert response.json() == {
        "errors": [{"status": "404", "title": "The resource you are looking for doesn't exist."}]
    }


def test_post_with_doi_creates_with_201_and_location(sandbox):
    response = requests.post(
        f"{sandbox.url}/dois", json=doi_payload(doi=DOI), auth=SANDBOX_AUTH, timeout=5
    )

    assert response.status_code == 201
    assert response.headers["Location"] == f"{sandbox.url}/dois/{DOI}"
    assert response.json()["data"]["id"] == DOI


def test_post_with_only_prefix_mints_a_random_suffix(sandbox):
    response = requests.post(
        f"{sandbox.url}/dois", json=doi_payload(prefix=SANDBOX_PREFIX), auth=SANDBOX_AUTH, timeout=5
    )

    attributes = attributes_of(response)
    assert response.status_code == 201
    assert attributes["prefix"] == SANDBOX_PREFIX
    assert re.fullmatch(r"[0-9a-z]{4}-[0-9a-z]{4}", attributes["suffix"])


def test_post_of_existing_doi_is_422_already_taken(sandbox):
    put(sandbox, DOI)

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


def test_get_returns_the_full_jsonapi_document(sandbox):
    put(sandbox, DOI.upper(), kernel4_attributes(), event="publish")

    response = get(sandbox, DOI, auth=None)

    body = response.json()
    attributes = body["data"]["attributes"]
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(JSONAPI)
    assert (body["data"]["id"], body["data"]["type"], attributes["doi"]) == (DOI, "dois", DOI)
    assert (attributes["prefix"], attributes["suffix"]) == (SANDBOX_PREFIX, "ds.one")
    assert (attributes["state"], attributes["isActive"]) == ("findable", True)
    assert attributes["url"] == "https://archive.example.org/datasets/ds1"
    assert attributes["titles"] == [{"title": "A dataset"}]
    assert attributes["publisher"] == "Example Archive"
    assert attributes["publicationYear"] == 2024
    assert attributes["types"]["resourceTypeGeneral"] == "Dataset"
    assert attributes["creators"][0]["name"] == "Doe, Jane"
    assert attributes["registered"] is not None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z", attributes["created"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z", attributes["updated"])
    assert body["data"]["relationships"]["client"] == {"data": {"id": "repo.id", "type": "clients"}}


def test_get_of_draft_has_no_registered_time_and_is_not_active(sandbox):
    put(sandbox, DOI)

    attributes = attributes_of(get(sandbox, DOI))

    assert (attributes["state"], attributes["isActive"], attributes["registered"]) == (
        "draft",
        False,
        None,
    )


def test_get_of_unknown_doi_is_404(sandbox):
    assert get(sandbox, f"{SANDBOX_PREFIX}/nothing-here").status_code == 404


def test_get_answers_publisher_object_when_asked(sandbox):
    put(sandbox, DOI, publisher={"name": "Example Archive", "publisherIdentifier": "x"})

    plain = attributes_of(get(sandbox, DOI))["publisher"]
    response = requests.get(
        f"{sandbox.url}/dois/{DOI}?publisher=true", auth=SANDBOX_AUTH, timeout=5
    )

    assert plain == "Example Archive"
    assert attributes_of(response)["publisher"]["publisherIdentifier"] == "x"


def test_delete_of_draft_is_204_and_the_doi_can_be_created_again(sandbox):
    put(sandbox, DOI)

    deleted = requests.delete(f"{sandbox.url}/dois/{DOI}", auth=SANDBOX_AUTH, timeout=5)

    assert deleted.status_code == 204
    assert get(sandbox, DOI).status_code == 404
    assert put(sandbox, DOI).status_code == 201


@pytest.mark.parametrize("event", ["register", "publish"])
def test_delete_of_registered_or_findable_doi_is_405_with_allow(sandbox, event):
    put(sandbox, DOI, kernel4_attributes(), event=event)

    response = requests.delete(f"{sandbox.url}/dois/{DOI}", auth=SANDBOX_AUTH, timeout=5)

    assert response.status_code == 405
    assert response.headers["Allow"] == "HEAD, GET, POST, PATCH, PUT, OPTIONS"
    assert sandbox.state_of(DOI) != "draft"


def test_delete_of_unknown_doi_is_404(sandbox):
    response = requests.delete(
        f"{sandbox.url}/dois/{SANDBOX_PREFIX}/never", auth=SANDBOX_AUTH, timeout=5
    )

    assert response.status_code == 404


def test_dois_are_case_insensitive_and_returned_lowercase(sandbox):
    put(sandbox, f"{SANDBOX_PREFIX}/DS.Mixed")

    response = get(sandbox, f"{SANDBOX_PREFIX}/ds.MIXED")

    assert response.status_code == 200
    assert response.json()["data"]["id"] == f"{SANDBOX_PREFIX}/ds.mixed"
    assert attributes_of(response)["doi"] == f"{SANDBOX_PREFIX}/ds.mixed"


@pytest.mark.parametrize(
    "form",
    [
        f"doi:{DOI}",
        f"https://doi.org/{DOI}",
        f"http://dx.doi.org/{DOI}",
        quote(DOI, safe=""),
        quote(f"https://doi.org/{DOI}", safe=""),
        quote(f"doi:{DOI}", safe=""),
    ],
)
def test_doi_and_resolver_forms_are_accepted_in_paths(sandbox, form):
    put(sandbox, DOI)

    response = get(sandbox, form)

    assert response.status_code == 200
    assert response.json()["data"]["id"] == DOI


def test_doi_with_characters_outside_the_pattern_is_422_invalid(sandbox):
    bad = f"{SANDBOX_PREFIX}/has space"

    response = put(sandbox, quote(bad))

    assert response.status_code == 422
    assert response.json() == {"errors": [{"source": "doi", "title": "Is invalid", "uid": bad}]}
    assert sandbox.dois() == []


def test_doi_listing_shows_findable_dois_to_anyone(sandbox):
    put(sandbox, DOI, kernel4_attributes(), event="publish")
    put(sandbox, f"{SANDBOX_PREFIX}/draft.one")

    anonymous = requests.get(f"{sandbox.url}/dois", timeout=5).json()
    owner = requests.get(f"{sandbox.url}/dois", auth=SANDBOX_AUTH, timeout=5).json()

    assert [item["id"] for item in anonymous["data"]] == [DOI]
    assert owner["meta"]["total"] == 2


def test_heartbeat_answers_ok(sandbox):
    response = requests.get(f"{sandbox.url}/heartbeat", timeout=5)

    assert (response.status_code, response.text) == (200, "OK")


def test_concurrent_puts_create_the_doi_exactly_once(sandbox):
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(lambda n: put(sandbox, DOI, version=str(n)).status_code, range(16))
        )

    assert sorted(statuses) == [200] * 15 + [201]
    assert len(sandbox.dois()) == 1
