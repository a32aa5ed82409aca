"""Events follow DataCite's state machine; a disallowed event is a silent 2xx no-op."""

from __future__ import annotations

import pytest
import requests

from ops.sandbox.store import TRANSITIONS, next_state
from tests.fixtures.sandbox import SANDBOX_AUTH, SANDBOX_PREFIX, doi_payload, kernel4_attributes

DOI = f"{SANDBOX_PREFIX}/states"

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
