"""GET /dois: who sees which DOIs, filters, order, pages and cursors."""

from __future__ import annotations

import requests

from tests.fixtures.sandbox import SANDBOX_AUTH, SANDBOX_PREFIX, doi_payload, kernel4_attributes

DOI = f"{SANDBOX_PREFIX}/ds.one"


def put(sandbox, doi: str, attributes: dict | None = None, **more: object) -> requests.Response:
    return requests.put(
        f"{sandbox.url}/dois/{doi}",
        json=doi_payload(attributes, **more),
        auth=SANDBOX_AUTH,
        timeout=5,
    )


def test_doi_listing_shows_findable_dois_to_anyone(sandbox):
    put(sandbox, DOI, kernel4_attributes(), event="publish")
    put(sandbox, f"{SANDBOX_PREFIX}/draft.one")

    anonymous = requests.get(f"{sandbox.url}/dois", timeout=5).json()
    owner = requests.get(f"{sandbox.url}/dois", auth=SANDBOX_AUTH, timeout=5).json()

    assert [item["id"] for item in anonymous["data"]] == [DOI]
    assert owner["meta"]["total"] == 2
