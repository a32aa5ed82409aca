"""lupo's rewrites of a payload before validation: they change what is stored, silently."""

from __future__ import annotations

import pytest
import requests

from tests.fixtures.sandbox import SANDBOX_AUTH, SANDBOX_PREFIX, doi_payload

DOI = f"{SANDBOX_PREFIX}/shaped"


def put(sandbox, attributes: dict, event: str | None = None) -> requests.Response:
    payload = doi_payload(attributes, **({"event": event} if event else {}))
    return requests.put(f"{sandbox.url}/dois/{DOI}", json=payload, auth=SANDBOX_AUTH, timeout=5)


def stored(sandbox) -> dict:
    response = requests.get(f"{sandbox.url}/dois/{DOI}", auth=SANDBOX_AUTH, timeout=5)
    return response.json()["data"]["attributes"]


def test_strings_inside_object_lists_are_dropped_silently(sandbox):
    # Strong parameters keep only the objects of a list declared as a list of objects.
    response = put(sandbox, {"titles": ["plain", {"title": "Kept"}], "creators": ["Doe"]})

    assert response.status_code == 201
    assert (stored(sandbox)["titles"], stored(sandbox)["creators"]) == ([{"title": "Kept"}], [])


@pytest.mark.parametrize("name", ["identifiers", "alternateIdentifiers"])
def test_doi_typed_identifiers_are_dropped_silently(sandbox, name):
    # lupo's update_identifiers removes them before check_identifiers could object.
    key, kind = ("identifier", "identifierType")
    if name == "alternateIdentifiers":
        key, kind = ("alternateIdentifier", "alternateIdentifierType")
    sent = [{key: "10.1234/other", kind: "DOI"}, {key: "ds-1", kind: "Local"}]

    response = put(sandbox, {name: sent})

    assert response.status_code == 201
    assert stored(sandbox)["identifiers"] == [{"identifier": "ds-1", "identifierType": "Local"}]


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("en_US!", None), ("12", None), (3, None), ("en-GB", "en-GB"), ("de", "de")],
)
def test_malformed_language_is_stored_as_null_not_refused(sandbox, sent, kept):
    # lupo's update_language sets a malformed tag to nil, so check_language never fails.
    response = put(sandbox, {"language": sent})

    assert response.status_code == 201
    assert stored(sandbox)["language"] == kept


def test_creators_and_contributors_keep_only_permitted_keys_in_lupos_order(sandbox):
    # ParamsSanitizer::ATTRIBUTES_MAP permits these keys of a person, nested objects
    # only inside nameIdentifiers and affiliation; Rails' permit orders them that way.
    person = {
        "affiliation": [{"name": "Uni", "colour": "red"}, "Uni as a string"],
        "familyName": "Doe",
        "name": "Doe, Jane",
        "nickname": "JD",
        "nameIdentifiers": [{"nameIdentifier": "https://orcid.org/0000", "extra": 1}],
        "nameType": ["Personal"],
    }

    response = put(sandbox, {"creators": [person], "contributors": [{**person, "lang": "en"}]})

    creator, contributor = stored(sandbox)["creators"][0], stored(sandbox)["contributors"][0]
    assert response.status_code == 201
    assert list(creator.items()) == [
        ("nameIdentifiers", [{"nameIdentifier": "https://orcid.org/0000"}]),
        ("name", "Doe, Jane"),
        ("familyName", "Doe"),
        ("affiliation", [{"name": "Uni"}]),
    ]
    assert list(contributor)[-1] == "lang"
