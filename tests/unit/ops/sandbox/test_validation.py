"""Leaving draft, and every update outside draft, passes DataCite's kernel-4 checks."""

from __future__ import annotations

import pytest
import requests

from ops.sandbox import SandboxServer
from tests.fixtures.sandbox import (
    SANDBOX_AUTH,
    SANDBOX_PASSWORD,
    SANDBOX_PREFIX,
    SANDBOX_USER,
    doi_payload,
    kernel4_attributes,
)

DOI = f"{SANDBOX_PREFIX}/checked"
KERNEL_4 = "http://datacite.org/schema/kernel-4"


def put(base_url: str, attributes: dict, event: str | None = None) -> requests.Response:
    payload = doi_payload(attributes, **({"event": event} if event else {}))
    return requests.put(f"{base_url}/dois/{DOI}", json=payload, auth=SANDBOX_AUTH, timeout=5)


def errors_by_source(response: requests.Response) -> dict[str, str]:
    return {error["source"]: error["title"] for error in response.json()["errors"]}


@pytest.mark.parametrize(
    ("change", "source", "title"),
    [
        ({"url": None}, "url", "Can't be blank"),
        ({"url": "mailto:someone@example.org"}, "url", "URL is not valid"),
        ({"creators": None}, "creators", "Can't be blank"),
        ({"creators": [{"nameType": "Personal"}]}, "creators", "Is invalid"),
        ({"titles": []}, "titles", "Can't be blank"),
        ({"publisher": ""}, "publisher", "Can't be blank"),
        ({"publisher": {"lang": "en"}}, "publisher", "Can't be blank"),
        ({"publicationYear": None}, "publication_year", "Can't be blank"),
        ({"publicationYear": "24"}, "publication_year", "Is invalid"),
        ({"types": {"resourceType": "x"}}, "types", "Can't be blank"),
        ({"types": {"resourceTypeGeneral": "Spreadsheet"}}, "types", "Is invalid"),
    ],
)
def test_publish_with_bad_metadata_is_422_and_saves_nothing(sandbox, change, source, title):
    put(sandbox.url, {"version": "draft"})

    response = put(sandbox.url, kernel4_attributes(version="published", **change), "publish")

    assert response.status_code == 422
    assert response.json()["errors"] == [{"source": source, "title": title, "uid": DOI}]
    assert sandbox.state_of(DOI) == "draft"
    stored = requests.get(f"{sandbox.url}/dois/{DOI}", auth=SANDBOX_AUTH, timeout=5).json()
    assert stored["data"]["attributes"]["version"] == "draft"


def test_register_validates_like_publish(sandbox):
    # With schemaVersion sent, a new DOI is checked field by field (test_kernel.py shows
    # what lupo answers without it).
    attributes = {"url": "https://archive.example.org/x", "schemaVersion": KERNEL_4}

    response = put(sandbox.url, attributes, "register")

    assert response.status_code == 422
    assert set(errors_by_source(response)) == {
        "creators",
        "titles",
        "publisher",
        "publication_year",
        "types",
    }
    assert sandbox.dois() == []


def test_validation_reports_the_first_error_per_source(sandbox):
    response = put(sandbox.url, {"url": "ftp:/broken", "creators": "nobody"}, "publish")

    sources = [error["source"] for error in response.json()["errors"]]
    assert len(sources) == len(set(sources))
    assert "status" not in response.json()["errors"][0]


@pytest.mark.parametrize("year", [2024, "2024"])
@pytest.mark.parametrize("general", ["Dataset", "ComputationalNotebook", "StudyRegistration"])
def test_publish_with_kernel4_metadata_succeeds(sandbox, year, general):
    attributes = kernel4_attributes(publicationYear=year, types={"resourceTypeGeneral": general})

    response = put(sandbox.url, attributes, "publish")

    assert response.status_code == 201
    assert response.json()["data"]["attributes"]["state"] == "findable"


def test_publisher_may_be_an_object_with_a_name(sandbox):
    attributes = kernel4_attributes(publisher={"name": "Example Archive", "lang": "en"})

    assert put(sandbox.url, attributes, "publish").status_code == 201


def test_draft_accepts_incomplete_metadata(sandbox):
    assert put(sandbox.url, {"titles": [{"title": "Only a title"}]}).status_code == 201


def test_draft_url_must_still_be_http_or_ftp(sandbox):
    response = put(sandbox.url, {"url": "javascript:alert(1)"})

    assert response.status_code == 422
    assert errors_by_source(response) == {"url": "URL is not valid"}


def test_update_of_findable_doi_is_validated_and_nothing_is_saved(sandbox):
    put(sandbox.url, kernel4_attributes(), "publish")

    response = put(sandbox.url, {"titles": None, "version": "2"})

    assert response.status_code == 422
    assert errors_by_source(response) == {"titles": "Can't be blank"}
    stored = requests.get(f"{sandbox.url}/dois/{DOI}", timeout=5).json()["data"]["attributes"]
    assert stored["titles"] == [{"title": "A dataset"}]
    assert stored["version"] is None


def test_update_of_registered_doi_is_validated(sandbox):
    put(sandbox.url, kernel4_attributes(), "register")

    response = put(sandbox.url, {"url": None})

    assert response.status_code == 422
    assert errors_by_source(response) == {"url": "Can't be blank"}


@pytest.fixture
def restricted_sandbox():
    with SandboxServer(
        users={SANDBOX_USER: SANDBOX_PASSWORD},
        prefixes=[SANDBOX_PREFIX],
        domains=["archive.example.org", "*.mirror.example.org"],
    ) as server:
        yield server


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://archive.example.org/ds1", True),
        ("https://eu.mirror.example.org/ds1", True),
        ("https://elsewhere.example.com/ds1", False),
    ],
)
def test_url_host_must_be_in_repository_domains(restricted_sandbox, url, allowed):
    response = put(restricted_sandbox.url, kernel4_attributes(url=url), "publish")

    assert (response.status_code == 201) is allowed
    if not allowed:
        assert errors_by_source(response)["url"].startswith(f"URL {url} is not allowed")


def test_domains_are_not_checked_for_drafts(restricted_sandbox):
    response = put(restricted_sandbox.url, {"url": "https://elsewhere.example.com/ds1"})

    assert response.status_code == 201
