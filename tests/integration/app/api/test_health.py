"""Liveness and readiness: /healthz always, /api/health 200 or 503 with the problems."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import psycopg
from flask.testing import FlaskClient
from sqlalchemy import select

from app import watchdog
from app.db import utcnow
from app.models import Doi, Intent
from app.runtime import Runtime
from app.schema import upgrade
from app.states.doi import apply
from tests.fixtures.database import ADMIN_URL
from tests.support.api import PREFIX, assert_error

Bearer = Callable[[str], dict[str, str]]
NOWHERE = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"


def test_healthz_needs_no_token_and_no_database(
    make_runtime: Callable[..., Runtime], make_client: Callable[[Runtime], FlaskClient]
) -> None:
    client = make_client(make_runtime(DATABASE_URL=NOWHERE))
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ok"}


def test_healthy(client: FlaskClient, bearer: Bearer) -> None:
    answer = client.get("/api/health", headers=bearer("read"))
    assert answer.status_code == 200
    body = answer.get_json()
    assert (body["status"], body["problems"]) == ("ok", [])
    # No S3 in this test: worth knowing, but no one needs to act now
    [warning] = body["warnings"]
    assert warning["check"] == "legal_holds"
    assert "not protected" in warning["message"]
    assert body["checks"] == {
        "database": "ok",
        "outbox_lag_seconds": 0.0,
        "failed_dois": 0,
        "stuck_intents": 0,
        "concepts_waiting_on_a_failed_version": 0,
        "seconds_since_a_delivery_finished": None,
        "enqueued_intents": 0,
        "seconds_since_a_relay_pass": None,
        "failed_holds": 0,
        "blob_problems": 0,
    }


def test_outbox_lag_over_the_limit_is_503(
    client: FlaskClient, bearer: Bearer, runtime: Runtime
) -> None:
    # Given an intent due ten minutes ago that no relay has picked up
    with runtime.sessions.begin() as session:
        session.add(
            Intent(
                topic="sync_doi",
                queue="doi",
                key="doi:1",
                available_at=utcnow() - timedelta(minutes=10),
            )
        )
    answer = client.get("/api/health", headers=bearer("read"))
    assert answer.status_code == 503
    body = answer.get_json()
    assert body["status"] == "failing"
    assert [p["check"] for p in body["problems"]] == ["outbox_lag", "relay_silent"]
    assert "relay" in body["problems"][0]["message"]
    assert body["checks"]["outbox_lag_seconds"] >= 600


def test_a_failed_doi_is_a_problem_until_it_is_re_driven(
    client: FlaskClient, bearer: Bearer, runtime: Runtime
) -> None:
    # Given a DOI whose intent failed (a permanent DataCite error)
    writer, operator = bearer("write"), bearer("operator")
    client.post("/api/datasets", json={"id": "ds1"}, headers=writer)
    with runtime.sessions.begin() as session:
        apply(session.scalars(select(Doi)).one(), "fail", publishing_allowed=True, detail="test")
        session.scalars(select(Intent)).one().status = "failed"
    answer = client.get("/api/health", headers=writer)
    assert answer.status_code == 503
    assert [p["check"] for p in answer.get_json()["problems"]] == ["failed_dois"]
    # When an operator re-drives it
    doi = f"{PREFIX}/test.ds1"
    assert client.post(f"/api/dois/{doi}/retry", headers=operator).status_code == 202
    # Then health reports the present: the old failed intent is history (superseded)
    answer = client.get("/api/health", headers=writer)
    assert answer.status_code == 200, answer.get_json()
    with runtime.sessions() as session:
        statuses = sorted(i.status for i in session.scalars(select(Intent)))
    assert statuses == ["pending", "superseded"]


def test_intents_open_too_long_and_silent_workers_are_problems(
    make_runtime: Callable[..., Runtime], make_client: Callable[[Runtime], FlaskClient], bearer
) -> None:
    runtime = make_runtime(HEALTH_STUCK_SECONDS="60", HEALTH_SILENT_SECONDS="30")
    client = make_client(runtime)
    # Given an intent enqueued two minutes ago that no worker ever finished
    with runtime.sessions.begin() as session:
        session.add(
            Intent(
                topic="sync_doi",
                queue="doi",
                key="doi:1",
                status="enqueued",
                lease_token="t",
                created_at=utcnow() - timedelta(minutes=2),
            )
        )
    body = client.get("/api/health", headers=bearer("read")).get_json()
    assert [p["check"] for p in body["problems"]] == ["stuck_intents", "workers_silent"]
    assert "are the workers running?" in body["problems"][1]["message"]


def test_unreachable_database_is_503_even_before_the_token_is_checked(
    make_runtime: Callable[..., Runtime], make_client: Callable[[Runtime], FlaskClient]
) -> None:
    client = make_client(make_runtime(DATABASE_URL=NOWHERE))
    answer = client.get("/api/health", headers={"Authorization": "Bearer dfl_whatever"})
    assert answer.status_code == 503
    assert answer.get_json() == {
        "status": "failing",
        "problems": [{"check": "database", "message": "the database is unreachable"}],
        "warnings": [
            {"check": "legal_holds", "message": answer.get_json()["warnings"][0]["message"]}
        ],
        "checks": {"database": "unreachable"},
    }
    assert "127.0.0.1" not in answer.get_data(as_text=True)


def test_other_endpoints_answer_503_while_the_database_is_down(
    make_runtime: Callable[..., Runtime], make_client: Callable[[Runtime], FlaskClient]
) -> None:
    client = make_client(make_runtime(DATABASE_URL=NOWHERE))
    answer = client.get("/api/datasets/ds1", headers={"Authorization": "Bearer dfl_whatever"})
    error = assert_error(answer, 503, "database_unavailable")
    assert "127.0.0.1" not in error["message"]
    assert answer.headers["Retry-After"] == "5"


def test_health_needs_a_token_when_the_database_is_up(client: FlaskClient) -> None:
    assert_error(client.get("/api/health"), 401)


def test_a_relay_that_stopped_passing_is_named_while_intents_are_due(
    make_runtime: Callable[..., Runtime], make_client: Callable[[Runtime], FlaskClient], bearer
) -> None:
    runtime = make_runtime(HEALTH_SILENT_SECONDS="30")
    client = make_client(runtime)
    with runtime.sessions.begin() as session:
        watchdog.beat(session, "relay:old", kind="relay", now=utcnow() - timedelta(minutes=5))
        session.add(
            Intent(
                topic="sync_doi",
                queue="doi",
                key="doi:1",
                available_at=utcnow() - timedelta(seconds=5),
            )
        )
    body = client.get("/api/health", headers=bearer("read")).get_json()
    assert [p["check"] for p in body["problems"]] == ["relay_silent"]
    assert body["checks"]["seconds_since_a_relay_pass"] >= 300
    # A relay passing again clears it
    with runtime.sessions.begin() as session:
        watchdog.beat(session, "relay:new", kind="relay")
    body = client.get("/api/health", headers=bearer("read")).get_json()
    assert body["problems"] == []


def test_a_schema_behind_head_is_named_not_an_unreachable_database(
    make_runtime: Callable[..., Runtime], make_client: Callable[[Runtime], FlaskClient]
) -> None:
    # Given a reachable database whose schema stops at 0004 (no `doiflow db upgrade` since)
    name = f"doiflow_test_behind_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = (
        ADMIN_URL.rpartition("/")[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    )
    try:
        upgrade(url, "0004")
        runtime = make_runtime(DATABASE_URL=url)
        # When a monitor asks for health, with any token
        answer = make_client(runtime).get(
            "/api/health", headers={"Authorization": "Bearer dfl_whatever"}
        )
        # Then the answer says what to run
        assert answer.status_code == 503
        body = answer.get_json()
        assert body["checks"]["database"] == "schema_outdated"
        [problem] = body["problems"]
        assert problem["check"] == "schema"
        assert "schema is at 0004" in problem["message"]
        assert "run `doiflow db upgrade`" in problem["message"]
        runtime.close()
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
