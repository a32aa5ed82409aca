"""DESIGN lifecycle rules 1-8, embargo and settings, end to end against the sandbox.

Each test drives the services as the API would, lets the real relay and Dramatiq
workers (on real Redis and Postgres) run, then asserts both sides: the DOI states
here, the DOI states in the sandbox, and the exact DataCite calls made.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from app import claiming
from app.clients.errors import RemoteDoi
from app.clients.remotes import Remotes
from app.db import utcnow
from app.models import Doi, Intent
from app.runner import Runner
from app.services import datasets, jobs, versions
from app.services.doi_policy import Action
from app.services.doi_sync import HANDLER, Outcome
from app.services.errors import ConflictError, InvalidInputError, UnprocessableError
from tests.fixtures.pipeline import wait_until
from tests.fixtures.sandbox import SANDBOX_AUTH
from tests.support.citations import dangling_citations
from tests.support.lifecycle import (
    call,
    concept,
    count_rows,
    create,
    doi_row,
    doi_state,
    job_status,
    metadata,
    open_intents,
    publish,
    version_doi,
    writes,
)


def _settled(pipeline, doi: str, state: str):
    def check() -> bool:
        return doi_state(pipeline.runtime, doi) == state and not open_intents(pipeline.runtime)

    check.__name__ = f"{doi} {state}"
    return wait_until(check)


def test_rule1_create_makes_a_draft_concept_doi(make_pipeline) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "ds1")
    _settled(pipeline, concept("ds1"), "draft")
    assert pipeline.remote_dois() == {concept("ds1"): "draft"}
    assert writes(pipeline.datacite_requests()) == [("PUT", concept("ds1"), None)]


def test_rule2_draft_edits_are_coalesced_and_unchanged_metadata_makes_no_call(
    make_pipeline,
) -> None:
    pipeline = make_pipeline()
    # Slow DataCite down so the edits arrive while the first call is in flight.
    pipeline.inject({"method": "PUT", "latency_ms": 400})
    create(pipeline.runtime, "ds2")
    for n in range(10):
        call(pipeline.runtime, datasets.update_metadata, "ds2", metadata(f"edit {n}"))
    _settled(pipeline, concept("ds2"), "draft")
    puts = writes(pipeline.datacite_requests())
    assert 1 <= len(puts) <= 2, puts
    remote = pipeline.datacite_document(concept("ds2"))
    assert remote["titles"] == [{"title": "edit 9"}]
    intents_before = count_rows(pipeline.runtime, Intent)
    call(pipeline.runtime, datasets.update_metadata, "ds2", metadata("edit 9"))
    # Unchanged metadata: no intent at all, so no call can ever follow.
    assert count_rows(pipeline.runtime, Intent) == intents_before
    assert open_intents(pipeline.runtime) == []


def test_rule2_failed_concept_is_recreated_on_edit(make_pipeline) -> None:
    pipeline = make_pipeline()
    pipeline.inject(
        {
            "method": "PUT",
            "times": 1,
            "respond": {"status": 422, "body": '{"errors":[{"title":"nope"}]}'},
        }
    )
    create(pipeline.runtime, "ds3")
    _settled(pipeline, concept("ds3"), "failed")
    call(pipeline.runtime, datasets.update_metadata, "ds3", metadata("fixed"))
    _settled(pipeline, concept("ds3"), "draft")
    assert pipeline.remote_dois() == {concept("ds3"): "draft"}


def test_rule3_deleting_a_never_published_dataset_deletes_the_draft(make_pipeline) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "ds4")
    _settled(pipeline, concept("ds4"), "draft")
    call(pipeline.runtime, datasets.delete_dataset, "ds4")
    _settled(pipeline, concept("ds4"), "deleted")
    assert pipeline.remote_dois() == {}
    assert writes(pipeline.datacite_requests())[-1] == ("DELETE", concept("ds4"), None)


def test_rule4_first_publication_makes_version_then_concept_findable(make_pipeline) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "ds5")
    _settled(pipeline, concept("ds5"), "draft")
    job = publish(pipeline.runtime, "ds5", "1.0")
    _settled(pipeline, concept("ds5"), "findable")
    assert doi_state(pipeline.runtime, version_doi("ds5", "1.0")) == "findable"
    assert pipeline.remote_dois() == {
        concept("ds5"): "findable",
        version_doi("ds5", "1.0"): "findable",
    }
    assert writes(pipeline.datacite_requests()) == [
        ("PUT", concept("ds5"), None),
        ("PUT", version_doi("ds5", "1.0"), "publish"),
        ("PUT", concept("ds5"), "publish"),
    ]
    version_doc = pipeline.datacite_document(version_doi("ds5", "1.0"))
    assert {
        "relatedIdentifier": concept("ds5"),
        "relatedIdentifierType": "DOI",
        "relationType": "IsVersionOf",
    } in (version_doc["relatedIdentifiers"])
    concept_doc = pipeline.datacite_document(concept("ds5"))
    assert concept_doc["titles"] == [{"title": "Published title"}]
    assert {
        "relatedIdentifier": version_doi("ds5", "1.0"),
        "relatedIdentifierType": "DOI",
        "relationType": "HasVersion",
    } in concept_doc["relatedIdentifiers"]
    assert wait_until(lambda: job_status(pipeline.runtime, job) == "finished")


def test_rule5_metadata_changes_after_publication_make_no_call(make_pipeline) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "ds6")
    publish(pipeline.runtime, "ds6", "1.0")
    _settled(pipeline, concept("ds6"), "findable")
    intents_before = count_rows(pipeline.runtime, Intent)
    call(pipeline.runtime, datasets.update_metadata, "ds6", metadata("edited after publication"))
    # No intent is written, so no DataCite call can ever follow.
    assert count_rows(pipeline.runtime, Intent) == intents_before
    assert open_intents(pipeline.runtime) == []


def test_rule6_later_publications_add_a_version_and_the_concept_follows(make_pipeline) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "ds7")
    publish(pipeline.runtime, "ds7", "1.0", title="first")
    _settled(pipeline, concept("ds7"), "findable")
    publish(pipeline.runtime, "ds7", "2.0", title="second")
    wait_until(lambda: doi_state(pipeline.runtime, version_doi("ds7", "2.0")) == "findable")
    _settled(pipeline, concept("ds7"), "findable")
    concept_doc = pipeline.datacite_document(concept("ds7"))
    assert concept_doc["titles"] == [{"title": "second"}]
    related = {
        r["relatedIdentifier"]
        for r in concept_doc["relatedIdentifiers"]
        if r["relationType"] == "HasVersion"
    }
    assert related == {version_doi("ds7", "1.0"), version_doi("ds7", "2.0")}


def test_rule7_deleting_versions_hides_them_and_the_concept_follows(make_pipeline) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "ds8")
    publish(pipeline.runtime, "ds8", "1.0", title="first")
    _settled(pipeline, concept("ds8"), "findable")
    publish(pipeline.runtime, "ds8", "2.0", title="second")
    wait_until(
        lambda: pipeline.datacite_document(concept("ds8"))["titles"] == [{"title": "second"}]
    )
    _settled(pipeline, concept("ds8"), "findable")

    call(pipeline.runtime, versions.delete_version, "ds8", "2.0")
    _settled(pipeline, version_doi("ds8", "2.0"), "registered")
    wait_until(lambda: pipeline.datacite_document(concept("ds8"))["titles"] == [{"title": "first"}])
    assert pipeline.remote_dois()[version_doi("ds8", "2.0")] == "registered"
    assert ("PUT", version_doi("ds8", "2.0"), "hide") in writes(pipeline.datacite_requests())

    call(pipeline.runtime, versions.delete_version, "ds8", "1.0")
    _settled(pipeline, concept("ds8"), "registered")
    assert pipeline.remote_dois() == {
        concept("ds8"): "registered",
        version_doi("ds8", "1.0"): "registered",
        version_doi("ds8", "2.0"): "registered",
    }
    assert not any(method == "DELETE" for method, _, _ in writes(pipeline.datacite_requests()))


def test_rule8_deleting_a_published_dataset_hides_everything_at_the_tombstone(
    make_pipeline,
) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "ds9")
    publish(pipeline.runtime, "ds9", "1.0")
    _settled(pipeline, concept("ds9"), "findable")
    call(pipeline.runtime, datasets.delete_dataset, "ds9")
    _settled(pipeline, concept("ds9"), "registered")
    wait_until(lambda: doi_state(pipeline.runtime, version_doi("ds9", "1.0")) == "registered")
    assert pipeline.remote_dois() == {
        concept("ds9"): "registered",
        version_doi("ds9", "1.0"): "registered",
    }
    assert (
        pipeline.datacite_document(concept("ds9"))["url"]
        == "https://archive.example.org/tombstone/ds9"
    )


def test_embargoed_datasets_never_reach_datacite(make_pipeline) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "secret", embargoed=True)
    call(pipeline.runtime, datasets.update_metadata, "secret", metadata("still secret"))
    publish(pipeline.runtime, "secret", "1.0")
    call(pipeline.runtime, versions.delete_version, "secret", "1.0")
    call(pipeline.runtime, datasets.delete_dataset, "secret")
    assert count_rows(pipeline.runtime, Doi) == 0
    assert count_rows(pipeline.runtime, Intent) == 0
    assert pipeline.datacite_requests() == []


def test_unembargo_creates_the_concept_draft_with_the_latest_metadata(make_pipeline) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "later", embargoed=True)
    call(pipeline.runtime, datasets.update_metadata, "later", metadata("latest words"))
    assert pipeline.datacite_requests() == []
    call(pipeline.runtime, datasets.unembargo, "later")
    _settled(pipeline, concept("later"), "draft")
    assert pipeline.datacite_document(concept("later"))["titles"] == [{"title": "latest words"}]


def test_doi_publish_false_makes_drafts_only(make_pipeline) -> None:
    pipeline = make_pipeline(DOI_PUBLISH="false")
    create(pipeline.runtime, "quiet")
    publish(pipeline.runtime, "quiet", "1.0")
    wait_until(lambda: doi_state(pipeline.runtime, version_doi("quiet", "1.0")) == "draft")
    _settled(pipeline, concept("quiet"), "draft")
    assert pipeline.remote_dois() == {
        concept("quiet"): "draft",
        version_doi("quiet", "1.0"): "draft",
    }
    assert all(event is None for _, _, event in writes(pipeline.datacite_requests()))
    assert doi_row(pipeline.runtime, concept("quiet")).target == "draft"


def test_datacite_not_configured_makes_no_doi_and_no_call(make_pipeline) -> None:
    pipeline = make_pipeline(datacite=False)
    create(pipeline.runtime, "plain")
    publish(pipeline.runtime, "plain", "1.0")
    call(pipeline.runtime, datasets.delete_dataset, "plain")
    assert count_rows(pipeline.runtime, Doi) == 0
    assert count_rows(pipeline.runtime, Intent) == 0
    assert pipeline.datacite_requests() == []


def test_deleting_the_only_version_keeps_a_draft_concept(make_pipeline) -> None:
    pipeline = make_pipeline(DOI_PUBLISH="false")
    create(pipeline.runtime, "keep")
    publish(pipeline.runtime, "keep", "v1")
    wait_until(lambda: doi_state(pipeline.runtime, version_doi("keep", "v1")) == "draft")
    call(pipeline.runtime, versions.delete_version, "keep", "v1")
    wait_until(lambda: doi_state(pipeline.runtime, version_doi("keep", "v1")) == "deleted")
    job = publish(pipeline.runtime, "keep", "v2")
    wait_until(lambda: job_status(pipeline.runtime, job) == "finished")
    assert doi_state(pipeline.runtime, concept("keep")) == "draft"
    assert pipeline.remote_dois() == {concept("keep"): "draft", version_doi("keep", "v2"): "draft"}


def test_deleting_a_dataset_while_a_version_is_recorded_does_not_deadlock(
    runtime, monkeypatch
) -> None:
    create(runtime, "race")
    publish(runtime, "race", "v1")
    version_id = doi_row(runtime, version_doi("race", "v1")).id
    with runtime.sessions.begin() as session:
        claims = claiming.claim_due(session, limit=10, lease_seconds=60)
    with runtime.sessions() as session:
        claim = next(
            c for c in claims if session.get(Intent, c.intent_id).key == f"doi:{version_id}"
        )
    runner = Runner(runtime, Remotes(runtime.settings))
    delivery = runner.start(HANDLER, claim.intent_id, claim.lease_token)
    assert delivery is not None
    delivery.outcome = Outcome(
        Action.PUBLISH, result=RemoteDoi(delivery.plan.doi, "findable", http_status=201)
    )
    original = jobs.on_doi_changed

    def slow_bookkeeping(*args, **kwargs):
        # Hold the version row lock long enough for the API to ask for the concept's.
        original(*args, **kwargs)
        time.sleep(1.0)

    monkeypatch.setattr(jobs, "on_doi_changed", slow_bookkeeping)
    errors: list[BaseException] = []

    def record() -> None:
        try:
            runner.finish(delivery)
        except BaseException as error:
            errors.append(error)

    worker = threading.Thread(target=record)
    worker.start()
    time.sleep(0.4)
    call(runtime, datasets.delete_dataset, "race")
    worker.join()
    assert errors == []
    assert doi_row(runtime, version_doi("race", "v1")).target == "registered"


@pytest.mark.parametrize("name", ["abc\n", "abc\r\n", " abc"])
def test_names_with_trailing_or_leading_whitespace_are_refused(runtime, name: str) -> None:
    with pytest.raises(InvalidInputError):
        create(runtime, name)


def test_dataset_ids_differing_only_in_case_are_refused_by_name(runtime) -> None:
    create(runtime, "Abc")
    with pytest.raises(ConflictError, match="'Abc' already exists"):
        create(runtime, "abc")


def test_draft_metadata_of_the_wrong_shape_is_refused_before_reaching_datacite(runtime) -> None:
    with pytest.raises(UnprocessableError) as refused:
        call(
            runtime,
            datasets.create_dataset,
            "shape",
            embargoed=False,
            metadata={"titles": ["plain"]},
        )
    assert [p["field"] for p in refused.value.details] == ["titles.0"]
    # A minimal draft is fine: DataCite accepts drafts without required fields.
    call(
        runtime,
        datasets.create_dataset,
        "shape",
        embargoed=False,
        metadata={"titles": [{"title": "x"}]},
    )
    with pytest.raises(UnprocessableError):
        call(runtime, datasets.update_metadata, "shape", {"types": "Dataset"})


def test_publishing_again_after_deleting_an_unpublished_version_recreates_the_concept(
    make_pipeline,
) -> None:
    pipeline = make_pipeline(start=False)
    create(pipeline.runtime, "again")
    publish(pipeline.runtime, "again", "v1")
    call(pipeline.runtime, versions.delete_version, "again", "v1")
    # Nothing was ever public: the concept goes back to being a draft, settled.
    assert doi_row(pipeline.runtime, concept("again")).target == "draft"
    pipeline.start()
    wait_until(
        lambda: (
            doi_state(pipeline.runtime, concept("again")) == "draft"
            and not open_intents(pipeline.runtime)
        )
    )
    job = publish(pipeline.runtime, "again", "v2")
    wait_until(lambda: job_status(pipeline.runtime, job) == "finished")
    assert doi_state(pipeline.runtime, concept("again")) == "findable"
    assert pipeline.remote_dois()[concept("again")] == "findable"


def _quiet(pipeline, timeout: float = 20) -> None:
    wait_until(lambda: not open_intents(pipeline.runtime), timeout=timeout)


def _in_doubt(pipeline, doi: str):
    def sent() -> bool:
        row = doi_row(pipeline.runtime, doi)
        return row is not None and row.in_doubt_since is not None

    sent.__name__ = f"a write of {doi} in flight"
    return sent


def test_deleting_a_dataset_while_its_version_is_being_published_leaves_no_dangling_citation(
    make_pipeline,
) -> None:
    # Given a draft concept, and a version whose findable PUT (IsVersionOf the concept)
    # takes 1.5 s at DataCite
    pipeline = make_pipeline()
    create(pipeline.runtime, "cite")
    _settled(pipeline, concept("cite"), "draft")
    pipeline.inject({"method": "PUT", "doi": version_doi("cite", "v1"), "latency_ms": 1500})
    publish(pipeline.runtime, "cite", "v1")
    # When the dataset is deleted while that call is in flight
    wait_until(_in_doubt(pipeline, version_doi("cite", "v1")))
    call(pipeline.runtime, datasets.delete_dataset, "cite")
    _quiet(pipeline)
    # Then the concept is registered at the tombstone, never deleted: the version that
    # DataCite published cites it, and a citation must resolve.
    remote = pipeline.remote_dois()
    assert remote == {concept("cite"): "registered", version_doi("cite", "v1"): "registered"}
    assert dangling_citations(pipeline.sandbox_url, SANDBOX_AUTH) == []
    assert doi_state(pipeline.runtime, concept("cite")) == "registered"
    tombstone = "https://archive.example.org/tombstone/cite"
    assert pipeline.datacite_document(concept("cite"))["url"] == tombstone
    assert pipeline.datacite_document(version_doi("cite", "v1"))["url"] == tombstone


def test_unembargo_mints_the_dois_of_versions_published_under_embargo(make_pipeline) -> None:
    # Given an embargoed dataset with two versions published under embargo (no DOIs)
    pipeline = make_pipeline()
    create(pipeline.runtime, "quiet", embargoed=True)
    publish(pipeline.runtime, "quiet", "v1", title="First")
    publish(pipeline.runtime, "quiet", "v2", title="Second")
    assert count_rows(pipeline.runtime, Doi) == 0
    # When the embargo is lifted
    call(pipeline.runtime, datasets.unembargo, "quiet")
    _quiet(pipeline)
    # Then the DOIs are as if the versions had been published after it
    assert pipeline.remote_dois() == {
        concept("quiet"): "findable",
        version_doi("quiet", "v1"): "findable",
        version_doi("quiet", "v2"): "findable",
    }
    concept_doc = pipeline.datacite_document(concept("quiet"))
    assert concept_doc["titles"] == [{"title": "Second"}]  # the concept follows the latest
    assert {r["relatedIdentifier"] for r in concept_doc["relatedIdentifiers"]} == {
        version_doi("quiet", "v1"),
        version_doi("quiet", "v2"),
    }
    assert dangling_citations(pipeline.sandbox_url, SANDBOX_AUTH) == []


def test_a_dataset_deleted_after_its_version_points_every_hidden_doi_at_the_tombstone(
    make_pipeline,
) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "tomb")
    publish(pipeline.runtime, "tomb", "v1")
    publish(pipeline.runtime, "tomb", "v2")
    _settled(pipeline, version_doi("tomb", "v2"), "findable")
    # Given a version deleted first: hidden, still at its landing page
    call(pipeline.runtime, versions.delete_version, "tomb", "v1")
    _settled(pipeline, version_doi("tomb", "v1"), "registered")
    landing = "https://archive.example.org/datasets/tomb/v1"
    assert pipeline.datacite_document(version_doi("tomb", "v1"))["url"] == landing
    # When the dataset is deleted
    call(pipeline.runtime, datasets.delete_dataset, "tomb")
    _quiet(pipeline)
    # Then every public DOI of it points at the tombstone, the one hidden earlier too
    tombstone = "https://archive.example.org/tombstone/tomb"
    for doi in (concept("tomb"), version_doi("tomb", "v1"), version_doi("tomb", "v2")):
        assert pipeline.remote_dois()[doi] == "registered"
        assert pipeline.datacite_document(doi)["url"] == tombstone, doi


@pytest.mark.parametrize("in_doubt", [False, True])
def test_a_version_deleted_before_its_doi_was_ever_sent_is_gone_with_nothing_at_datacite(
    make_pipeline, in_doubt: bool
) -> None:
    pipeline = make_pipeline(start=False)
    create(pipeline.runtime, "never-sent")
    publish(pipeline.runtime, "never-sent", "v1")
    if in_doubt:
        # Its publish was sent and its answer lost, but DataCite never applied it.
        with pipeline.runtime.sessions.begin() as session:
            row = session.scalars(select(Doi).where(Doi.doi == version_doi("never-sent", "v1")))
            row.one().in_doubt_since = utcnow() - timedelta(seconds=30)
    call(pipeline.runtime, versions.delete_version, "never-sent", "v1")
    pipeline.start()
    _quiet(pipeline)
    # Nothing to hide and nothing to delete: recorded gone, its target with it (not short
    # of a "registered" it can never reach), and no request for it at all
    row = doi_row(pipeline.runtime, version_doi("never-sent", "v1"))
    assert (row.state, row.target) == ("deleted", "deleted")
    assert version_doi("never-sent", "v1") not in pipeline.remote_dois()
    assert [w for w in writes(pipeline.datacite_requests()) if "/v1" in w[1]] == []
    if in_doubt:  # a look found nothing there
        assert [r["method"] for r in pipeline.datacite_requests() if "/v1" in r["doi"]] == ["GET"]
