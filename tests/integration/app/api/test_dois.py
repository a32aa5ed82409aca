"""DOI endpoints: shape, written forms of DOIs, operator retry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from app.clients.errors import RemoteDoi
from app.db import utcnow
from app.models import Doi, Intent, Stash
from app.runtime import Runtime
from app.services import stash
from app.states.doi import apply
from tests.support.api import assert_error, concept, publication, row_counts

Bearer = Callable[[str], dict[str, str]]


@pytest.fixture
def published(client: FlaskClient, bearer: Bearer) -> dict:
    """Dataset ds1 with version 1.0 published; the publish answer."""
    writer = bearer("write")
    client.post("/api/datasets", json={"id": "ds1"}, headers=writer)
    answer = client.post("/api/datasets/ds1/versions", json=publication("1.0"), headers=writer)
    assert answer.status_code == 202
    return answer.get_json()


def fail_doi(runtime: Runtime, doi: str, error: str = "DataCite said no") -> None:
    """Drive a DOI to failed as a worker would after a permanent error."""
    with runtime.sessions.begin() as session:
        row = session.scalars(select(Doi).where(Doi.doi == doi)).one()
        apply(row, "fail", publishing_allowed=True, http_status=422, detail=error)
        row.last_status = 422
        row.last_error = error
        row.attempts = 3


def test_doi_shape(client: FlaskClient, bearer: Bearer, published: dict) -> None:
    answer = client.get(f"/api/dois/{concept('ds1')}/1.0", headers=bearer("read"))
    assert answer.status_code == 200
    assert answer.get_json() == {
        "doi": f"{concept('ds1')}/1.0",
        "kind": "version",
        "dataset": "ds1",
        "version": "1.0",
        "state": "pending",
        "target": "findable",
        "attempts": 0,
        "next_attempt_at": None,
        "last_status": None,
        "last_error": None,
        "history": [],
        "stashes": [],
    }


@pytest.mark.parametrize(
    "written",
    [
        "10.80507/test.ds1",
        "10.80507/TEST.DS1",
        "doi:10.80507/test.ds1",
        "https://doi.org/10.80507/Test.Ds1",
        "https%3A%2F%2Fdoi.org%2F10.80507%2Ftest.ds1",
    ],
)
def test_any_written_form_finds_the_doi(
    client: FlaskClient, bearer: Bearer, published: dict, written: str
) -> None:
    answer = client.get(f"/api/dois/{written}", headers=bearer("read"))
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["doi"] == concept("ds1")
    assert answer.get_json()["kind"] == "concept"
    assert answer.get_json()["version"] is None


def test_unknown_doi_is_404_and_garbage_400(client: FlaskClient, bearer: Bearer) -> None:
    assert_error(client.get("/api/dois/10.80507/nope", headers=bearer("read")), 404, "not_found")
    error = assert_error(
        client.get("/api/dois/not-a-doi", headers=bearer("read")), 400, "invalid_input"
    )
    assert error["details"] == {"field": "doi"}


def test_retry_a_failed_doi(
    client: FlaskClient, bearer: Bearer, runtime: Runtime, published: dict
) -> None:
    # Given a concept DOI that failed
    fail_doi(runtime, concept("ds1"))
    # When an operator retries it, giving a reason
    answer = client.post(
        f"/api/dois/{concept('ds1')}/retry",
        json={"reason": "DataCite fixed the prefix"},
        headers=bearer("operator"),
    )
    # Then it is pending again, attempts reset, the history names the reason and the token
    assert answer.status_code == 202, answer.get_json()
    body = answer.get_json()
    assert (body["state"], body["attempts"], body["last_error"]) == ("pending", 0, None)
    assert [(h["event"], h["from"], h["to"]) for h in body["history"]] == [
        ("fail", "pending", "failed"),
        ("redrive", "failed", "pending"),
    ]
    assert body["history"][0]["http_status"] == 422
    assert body["history"][1]["detail"] == "DataCite fixed the prefix (API token 'test token')"
    assert set(body["history"][0]) == {
        "at",
        "event",
        "from",
        "to",
        "intent_id",
        "http_status",
        "detail",
    }
    # And a sync intent is waiting for the relay
    with runtime.sessions() as session:
        assert session.scalars(select(Intent).where(Intent.status == "pending")).all()


def test_retry_without_a_body(
    client: FlaskClient, bearer: Bearer, runtime: Runtime, published: dict
) -> None:
    fail_doi(runtime, concept("ds1"))
    answer = client.post(f"/api/dois/{concept('ds1')}/retry", headers=bearer("operator"))
    assert answer.status_code == 202
    assert (
        answer.get_json()["history"][-1]["detail"]
        == "retried through the API (API token 'test token')"
    )


def test_retry_of_a_doi_that_has_not_failed_is_409_and_changes_nothing(
    client: FlaskClient, bearer: Bearer, runtime: Runtime, published: dict
) -> None:
    operator = bearer("operator")
    before = row_counts(runtime)
    assert_error(
        client.post(f"/api/dois/{concept('ds1')}/retry", headers=operator), 409, "conflict"
    )
    assert_error(client.post("/api/dois/10.80507/nope/retry", headers=operator), 404, "not_found")
    bad = client.post(f"/api/dois/{concept('ds1')}/retry", json={"why": "x"}, headers=operator)
    assert assert_error(bad, 400)["details"] == {"fields": ["why"]}
    bad = client.post(f"/api/dois/{concept('ds1')}/retry", json={"reason": 5}, headers=operator)
    assert assert_error(bad, 400)["details"] == {"field": "reason"}
    assert row_counts(runtime) == before


def test_a_doi_shows_its_stashes_with_age_expiry_and_a_warning_for_a_damaged_one(
    client: FlaskClient, bearer: Bearer, published: dict, runtime: Runtime
) -> None:
    # Given two stashes of the concept (as a worker takes them), the newer one damaged
    taken = utcnow() - timedelta(hours=1)
    record = RemoteDoi(concept("ds1"), "draft", "https://x.example/ds1", {"titles": []})
    with runtime.sessions.begin() as session:
        row = session.scalars(select(Doi).where(Doi.doi == concept("ds1"))).one()
        for intent_id, when in ((101, taken), (102, taken + timedelta(minutes=5))):
            stash.record(
                session,
                runtime.settings,
                row,
                intent_id=intent_id,
                action="delete",
                seen=record,
                now=when,
            )
        session.execute(update(Stash).where(Stash.intent_id == 102).values(content="{oops"))
    # When the DOI is read
    answer = client.get(f"/api/dois/{concept('ds1')}", headers=bearer("read"))
    # Then both are listed, newest first, with age, expiry and the damaged one's warning
    newer, older = answer.get_json()["stashes"]
    assert (newer["intent_id"], older["intent_id"]) == (102, 101)
    assert 3590 <= older["age_seconds"] <= 3700
    assert older["expires_in_seconds"] == pytest.approx(30 * 86400 - older["age_seconds"], abs=5)
    assert (older["found"], older["remote_state"], older["warning"]) == (True, "draft", None)
    assert "unreadable" in newer["warning"]
    assert "treated as absent" in newer["warning"]
    assert not newer["expired"]
