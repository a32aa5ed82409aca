"""Recording DataCite's answers: looks after lost answers, re-deciding on the current target."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from app.db import utcnow
from app.models import Doi
from app.services import datasets, dois, health, health_checks, versions
from tests.fixtures.pipeline import wait_until
from tests.fixtures.sandbox import SANDBOX_AUTH
from tests.support.citations import dangling_citations
from tests.support.lifecycle import (
    call,
    concept,
    create,
    doi_row,
    doi_state,
    open_intents,
    publish,
    version_doi,
)


def _quiet(pipeline, timeout: float = 20) -> None:
    wait_until(lambda: not open_intents(pipeline.runtime), timeout=timeout)


def _written(pipeline, doi: str, event: str):
    def arrived() -> bool:
        return any(
            r["doi"] == doi and r.get("event") == event for r in pipeline.datacite_requests()
        )

    arrived.__name__ = f"{event} of {doi} to reach DataCite"
    return arrived


def test_a_publish_applied_with_its_connection_dropped_then_a_delete_ends_hidden(
    make_pipeline,
) -> None:
    # Given a concept whose publish DataCite applies, then drops the connection
    pipeline = make_pipeline(RETRY_BASE_SECONDS="1", RETRY_CAP_SECONDS="1")
    create(pipeline.runtime, "reset")
    wait_until(lambda: doi_state(pipeline.runtime, concept("reset")) == "draft")
    rule = {"method": "PUT", "doi": concept("reset"), "times": 1, "action": "reset_after_commit"}
    pipeline.inject(rule)
    publish(pipeline.runtime, "reset", "v1")
    wait_until(_written(pipeline, concept("reset"), "publish"))
    # When the dataset is deleted before doiflow learned the publish went through
    call(pipeline.runtime, datasets.delete_dataset, "reset")
    _quiet(pipeline)
    # Then a look told it the truth: hidden at the tombstone, never a DELETE (405), not failed
    assert doi_state(pipeline.runtime, concept("reset")) == "registered"
    assert pipeline.remote_dois()[concept("reset")] == "registered"
    assert not [r for r in pipeline.datacite_requests() if r["method"] == "DELETE"]
    assert dangling_citations(pipeline.sandbox_url, SANDBOX_AUTH) == []


def test_a_lost_publish_answer_then_the_last_version_deleted_hides_instead_of_a_draft_save(
    make_pipeline,
) -> None:
    pipeline = make_pipeline(RETRY_BASE_SECONDS="1", RETRY_CAP_SECONDS="1")
    create(pipeline.runtime, "resave")
    wait_until(lambda: doi_state(pipeline.runtime, concept("resave")) == "draft")
    rule = {"method": "PUT", "doi": concept("resave"), "times": 1, "action": "reset_after_commit"}
    pipeline.inject(rule)
    publish(pipeline.runtime, "resave", "v1")
    wait_until(_written(pipeline, concept("resave"), "publish"))
    # The only version goes: a draft save of the concept would answer "state findable,
    # expected draft" and fail, since DataCite made it findable meanwhile.
    call(pipeline.runtime, versions.delete_version, "resave", "v1")
    _quiet(pipeline)
    row = doi_row(pipeline.runtime, concept("resave"))
    assert (row.state, row.target) == ("registered", "registered"), row.last_error
    assert pipeline.remote_dois()[concept("resave")] == "registered"


def test_a_concept_publish_in_flight_when_the_last_version_goes_ends_hidden(
    make_pipeline,
) -> None:
    # Given the concept's publish taking 1.5 s at DataCite (applied at the end)
    pipeline = make_pipeline(DATACITE_READ_TIMEOUT="3", LEASE_SECONDS="10")
    create(pipeline.runtime, "late")
    wait_until(lambda: doi_state(pipeline.runtime, concept("late")) == "draft")
    pipeline.inject({"method": "PUT", "doi": concept("late"), "latency_ms": 1500})
    publish(pipeline.runtime, "late", "v1")
    wait_until(lambda: doi_row(pipeline.runtime, concept("late")).in_doubt_since is not None)
    # When the last version is deleted while that publish is in flight
    call(pipeline.runtime, versions.delete_version, "late", "v1")
    _quiet(pipeline)
    # Then the confirmation is re-decided against the current target: hidden, here and there
    row = doi_row(pipeline.runtime, concept("late"))
    assert (row.state, row.target) == ("registered", "registered")
    assert pipeline.remote_dois()[concept("late")] == "registered"
    assert pipeline.remote_dois()[version_doi("late", "v1")] == "registered"


def test_a_concept_waiting_on_a_failed_version_says_why_and_counts_in_health(
    make_pipeline,
) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "waits")
    wait_until(lambda: doi_state(pipeline.runtime, concept("waits")) == "draft")
    body = json.dumps({"errors": [{"source": "url", "title": "Is not a valid url"}]})
    pipeline.inject(
        {
            "method": "PUT",
            "doi": version_doi("waits", "v1"),
            "respond": {"status": 422, "body": body},
        }
    )
    publish(pipeline.runtime, "waits", "v1")
    wait_until(lambda: doi_state(pipeline.runtime, version_doi("waits", "v1")) == "failed")
    _quiet(pipeline)
    waiting = doi_row(pipeline.runtime, concept("waits"))
    assert waiting.state == "draft"
    assert version_doi("waits", "v1") in waiting.last_error
    assert "Is not a valid url" in waiting.last_error
    settings = pipeline.runtime.settings
    with pipeline.runtime.sessions() as session:
        checks = health_checks.measure(session, settings)
    assert checks["concepts_waiting_on_a_failed_version"] == 1
    assert "concepts_waiting" in [p.check for p in health.problems_in(checks, settings)]


def test_a_live_datasets_concept_retired_in_doubt_stays_its_draft_when_nothing_cites_it(
    make_pipeline,
) -> None:
    # Given a draft concept whose latest write is in doubt, and a version never sent
    first = make_pipeline()
    create(first.runtime, "doubt")
    wait_until(lambda: doi_state(first.runtime, concept("doubt")) == "draft")
    first.stop()
    publish(first.runtime, "doubt", "v1")
    with first.runtime.sessions.begin() as session:
        row = session.scalars(select(Doi).where(Doi.doi == concept("doubt"))).one()
        row.in_doubt_since = utcnow() - timedelta(seconds=30)
    # When the only version is deleted: the concept may be public, so it is headed for hidden
    call(first.runtime, versions.delete_version, "doubt", "v1")
    assert doi_row(first.runtime, concept("doubt")).target == "registered"
    second = make_pipeline()
    _quiet(second)
    # Then a look finds a draft nobody cites: it stays the live dataset's draft, never
    # registered with incomplete metadata (a 422) and never deleted
    row = doi_row(second.runtime, concept("doubt"))
    assert (row.state, row.target) == ("draft", "draft"), row.last_error
    assert second.remote_dois()[concept("doubt")] == "draft"
    assert all(r["status"] < 400 for r in second.datacite_requests() if r["method"] != "GET")


def test_a_version_published_while_its_concept_was_missing_names_it_once_it_exists(
    make_pipeline,
) -> None:
    # Given a concept whose creation DataCite refuses once, and a version published meanwhile
    pipeline = make_pipeline(start=False)
    create(pipeline.runtime, "late-concept")
    publish(pipeline.runtime, "late-concept", "v1")
    refusal = json.dumps({"errors": [{"source": "url", "title": "Is not a valid url"}]})
    pipeline.inject(
        {
            "method": "PUT",
            "doi": concept("late-concept"),
            "times": 1,
            "respond": {"status": 422, "body": refusal},
        }
    )
    pipeline.start()
    wait_until(lambda: doi_state(pipeline.runtime, version_doi("late-concept", "v1")) == "findable")
    wait_until(lambda: doi_state(pipeline.runtime, concept("late-concept")) == "failed")
    _quiet(pipeline)
    # The version went out without citing a concept DataCite does not have
    related = pipeline.datacite_document(version_doi("late-concept", "v1")).get(
        "relatedIdentifiers"
    )
    assert not related
    # When the concept is re-driven and DataCite has it at last
    call(pipeline.runtime, dois.retry, concept("late-concept"), reason="fixed")
    wait_until(lambda: doi_state(pipeline.runtime, concept("late-concept")) == "findable")
    _quiet(pipeline)
    # Then the version names it, and nothing cites what does not resolve
    related = pipeline.datacite_document(version_doi("late-concept", "v1"))["relatedIdentifiers"]
    assert {(r["relationType"], r["relatedIdentifier"]) for r in related} == {
        ("IsVersionOf", concept("late-concept"))
    }
    assert dangling_citations(pipeline.sandbox_url, SANDBOX_AUTH) == []


def test_versions_minted_with_their_concept_at_unembargo_all_name_it(make_pipeline) -> None:
    # Given versions published under embargo: at unembargo the concept and the versions
    # are created at the same moment, their records racing each other
    pipeline = make_pipeline()
    create(pipeline.runtime, "racing", embargoed=True)
    for name in ("v1", "v2", "v3"):
        publish(pipeline.runtime, "racing", name)
    call(pipeline.runtime, datasets.unembargo, "racing")
    wait_until(lambda: doi_state(pipeline.runtime, concept("racing")) == "findable")
    _quiet(pipeline)
    # Then every findable version names the concept, whichever record came first
    for name in ("v1", "v2", "v3"):
        related = pipeline.datacite_document(version_doi("racing", name)).get("relatedIdentifiers")
        assert {(r["relationType"], r["relatedIdentifier"]) for r in related or []} == {
            ("IsVersionOf", concept("racing"))
        }, name
