"""DOI resources render as DataCite's JSON:API documents."""

from __future__ import annotations

import re

import requests

from tests.fixtures.sandbox import (
    SANDBOX_AUTH,
    SANDBOX_PREFIX,
    attributes_of,
    get_doi,
    kernel4_attributes,
    put_doi,
)

DOI = f"{SANDBOX_PREFIX}/ds.one"
JSONAPI = "application/vnd.api+json"


def test_get_returns_the_full_jsonapi_document(sandbox):
    put_doi(sandbox, DOI.upper(), kernel4_attributes(), event="publish")

    response = get_doi(sandbox, DOI, auth=None)

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
    put_doi(sandbox, DOI)

    attributes = attributes_of(get_doi(sandbox, DOI))

    assert (attributes["state"], attributes["isActive"], attributes["registered"]) == (
        "draft",
        False,
        None,
    )


def test_get_answers_publisher_object_when_asked(sandbox):
    put_doi(sandbox, DOI, publisher={"name": "Example Archive", "publisherIdentifier": "x"})

    plain = attributes_of(get_doi(sandbox, DOI))["publisher"]
    response = requests.get(
        f"{sandbox.url}/dois/{DOI}?publisher=true", auth=SANDBOX_AUTH, timeout=5
    )

    assert plain == "Example Archive"
    assert attributes_of(response)["publisher"]["publisherIdentifier"] == "x"
