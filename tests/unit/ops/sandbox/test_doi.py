"""DOI strings as DataCite reads them: case, resolver forms, the create pattern, minting."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
import requests

from tests.fixtures.sandbox import (
    SANDBOX_AUTH,
    SANDBOX_PREFIX,
    attributes_of,
    doi_payload,
    get_doi,
    put_doi,
)

DOI = f"{SANDBOX_PREFIX}/ds.one"


def test_put_on_a_path_that_is_not_a_doi_is_404(sandbox):
    response = requests.put(
        f"{sandbox.url}/dois/not-a-doi", json=doi_payload(), auth=SANDBOX_AUTH, timeout=5
    )

    assert response.status_code == 404
    assert response.json() == {
        "errors": [{"status": "404", "title": "The resource you are looking for doesn't exist."}]
    }


def test_post_with_only_prefix_mints_a_random_suffix(sandbox):
    response = requests.post(
        f"{sandbox.url}/dois", json=doi_payload(prefix=SANDBOX_PREFIX), auth=SANDBOX_AUTH, timeout=5
    )

    attributes = attributes_of(response)
    assert response.status_code == 201
    assert attributes["prefix"] == SANDBOX_PREFIX
    assert re.fullmatch(r"[0-9a-z]{4}-[0-9a-z]{4}", attributes["suffix"])


def test_dois_are_case_insensitive_and_returned_lowercase(sandbox):
    put_doi(sandbox, f"{SANDBOX_PREFIX}/DS.Mixed")

    response = get_doi(sandbox, f"{SANDBOX_PREFIX}/ds.MIXED")

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
    put_doi(sandbox, DOI)

    response = get_doi(sandbox, form)

    assert response.status_code == 200
    assert response.json()["data"]["id"] == DOI


def test_doi_with_characters_outside_the_pattern_is_422_invalid(sandbox):
    bad = f"{SANDBOX_PREFIX}/has space"

    response = put_doi(sandbox, quote(bad))

    assert response.status_code == 422
    assert response.json() == {"errors": [{"source": "doi", "title": "Is invalid", "uid": bad}]}
    assert sandbox.dois() == []
