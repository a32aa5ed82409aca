"""Records and DataCite's state machine: partial updates, read-only fields, atomic writes.

Events follow DataCite's state machine; a disallowed event is a silent 2xx no-op.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from ops.sandbox.store import TRANSITIONS, next_state
from tests.fixtures.sandbox import (
    SANDBOX_AUTH,
    SANDBOX_PREFIX,
    attributes_of,
    doi_payload,
    kernel4_attributes,
)

DOI = f"{SANDBOX_PREFIX}/states"
DS_ONE = f"{SANDBOX_PREFIX}/ds.one"

# Every (state, event) pair and where DataCite leaves the DOI; nothing returns to draft.
EXPECTED = {
    ("draft", "publish"): "findable",
    ("draft", "register"): "registered",
    ("draft", "hide"): "draft",
    ("draft", "show"): "draft",
    ("draft", "retract"): "draft",
    ("registered", "publish"): "findable",
    ("registered", "register"): "registered",
    ("registered", "hide"): "registered",
    ("registered", "show"): "findable",
    ("registered", "retract"): "registered",
    ("findable", "publish"): "findable",
    ("findable", "register"): "findable",
    ("findable", "hide"): "registered",
    ("findable", "show"): "findable",
    ("findable", "retract"): "findable",
}
# The event that takes a new DOI to each starting state.
REACH = {"draft": None, "registered": "register", "findable": "publish"}


def put(sandbox, attributes: dict, event: str | None = None) -> requests.Response:
    payload = doi_payload(attributes, **({"event": event} if event else {}))
    return requests.put(f"{sandbox.url}/dois/{DOI}", json=payload, auth=SANDBOX_AUTH, timeout=5)


@pytest.mark.parametrize(("start", "event"), sorted(EXPECTED))
def test_event_moves_doi_as_datacite_does(sandbox, start, event):
    given = put(sandbox, kernel4_attributes(), REACH[start])
    assert given.json()["data"]["attributes"]["state"] == start

    response = put(sandbox, {"version": "2"}, event)

    assert response.status_code == 200
    assert response.json()["data"]["attributes"]["state"] == EXPECTED[(start, event)]
    assert response.json()["data"]["attributes"]["version"] == "2"


def test_state_table_matches_the_store_transitions():
    for (state, event), expected in EXPECTED.items():
        assert next_state(state, event) == expected
    assert set(TRANSITIONS.values()) <= {"registered", "findable"}


@pytest.mark.parametrize(
    ("event", "state"), [("publish", "findable"), ("register", "registered"), ("hide", "draft")]
)
def test_new_doi_created_with_an_event_goes_straight_to_its_state(sandbox, event, state):
    response = put(sandbox, kernel4_attributes(), event)

    assert response.status_code == 201
    assert response.json()["data"]["attributes"]["state"] == state


def test_registered_time_is_set_once_when_the_doi_leaves_draft(sandbox):
    draft = put(sandbox, kernel4_attributes()).json()["data"]["attributes"]
    registered = put(sandbox, {}, "register").json()["data"]["attributes"]
    shown = put(sandbox, {}, "show").json()["data"]["attributes"]

    assert draft["registered"] is None
    assert registered["registered"] is not None
    assert shown["registered"] == registered["registered"]


def test_is_active_only_while_findable(sandbox):
    active = [
        put(sandbox, kernel4_attributes(), event).json()["data"]["attributes"]["isActive"]
        for event in (None, "publish", "hide", "show")
    ]

    assert active == [False, True, False, True]


def test_unknown_event_on_new_doi_still_creates_a_draft(sandbox):
    response = put(sandbox, {"url": "https://archive.example.org/x"}, "destroy")

    assert response.status_code == 201
    assert response.json()["data"]["attributes"]["state"] == "draft"


def upsert(sandbox, doi: str, attributes: dict | None = None, **more: object) -> requests.Response:
    return requests.put(
        f"{sandbox.url}/dois/{doi}",
        json=doi_payload(attributes, **more),
        auth=SANDBOX_AUTH,
        timeout=5,
    )


def test_put_update_is_partial(sandbox):
    upsert(sandbox, DS_ONE, titles=[{"title": "Kept"}], url="https://archive.example.org/a")

    response = upsert(sandbox, DS_ONE, url="https://archive.example.org/b")

    assert attributes_of(response)["titles"] == [{"title": "Kept"}]
    assert attributes_of(response)["url"] == "https://archive.example.org/b"


@pytest.mark.parametrize("empty", [None, []])
def test_put_with_null_or_empty_list_clears_a_field(sandbox, empty):
    upsert(sandbox, DS_ONE, titles=[{"title": "Gone soon"}], language="en")

    response = upsert(sandbox, DS_ONE, titles=empty, language=None)

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

    response = upsert(sandbox, DS_ONE, ignored)

    attributes = attributes_of(response)
    assert response.status_code == 201
    assert (attributes["state"], attributes["isActive"], attributes["registered"]) == (
        "draft",
        False,
        None,
    )
    assert (attributes["doi"], attributes["prefix"], attributes["suffix"]) == (
        DS_ONE,
        SANDBOX_PREFIX,
        "ds.one",
    )
    assert not attributes["created"].startswith("2001")
    assert "colour" not in attributes


def test_concurrent_puts_create_the_doi_exactly_once(sandbox):
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(lambda n: upsert(sandbox, DS_ONE, version=str(n)).status_code, range(16))
        )

    assert sorted(statuses) == [200] * 15 + [201]
    assert len(sandbox.dois()) == 1
