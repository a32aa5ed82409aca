"""Restoring a deleted dataset or version from its stashes, against the sandbox: both sides."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.models import Dataset, Doi, HoldTransition, Intent, Stash
from app.services import datasets, restore, versions
from app.services.errors import ConflictError
from tests.fixtures.pipeline import wait_until
from tests.support.holds import hold_states, legal_hold, uploads
from tests.support.lifecycle import (
    call,
    concept,
    count_rows,
    create,
    doi_state,
    metadata,
    open_intents,
    publish,
    version_doi,
)

LANDING = "https://archive.example.org/datasets/{dataset}/{version}"
KEPT = ("titles", "creators", "publisher", "publicationYear")


def deleted_draft(pipeline, dataset: str, *, title: str = "Draft title") -> dict:
    """A never-published dataset, deleted once its draft was at DataCite; its attributes then."""
    create(pipeline.runtime, dataset, title=title)
    wait_until(lambda: doi_state(pipeline.runtime, concept(dataset)) == "draft")
    before = pipeline.datacite_document(concept(dataset))
    call(pipeline.runtime, datasets.delete_dataset, dataset)
    wait_until(lambda: doi_state(pipeline.runtime, concept(dataset)) == "deleted")
    wait_until(lambda: open_intents(pipeline.runtime) == [])
    return before


def dataset_row(runtime, dataset_id: str) -> Dataset:
    with runtime.sessions() as session:
        row = session.get(Dataset, dataset_id)
        assert row is not None
        return row


def test_a_deleted_draft_is_recreated_from_its_stash(make_pipeline) -> None:
    pipeline = make_pipeline()
    before = deleted_draft(pipeline, "undo", title="Recreated from the stash")
    restored = call(pipeline.runtime, restore.restore_dataset, "undo")
    report = restored.report()
    assert report["warnings"] == []
    assert [(d["doi"], d["was"], d["source"]) for d in report["dois"]] == [
        (concept("undo"), "deleted", "stash")
    ]
    wait_until(lambda: doi_state(pipeline.runtime, concept("undo")) == "draft")
    assert pipeline.remote_dois() == {concept("undo"): "draft"}
    after = pipeline.datacite_document(concept("undo"))
    assert {k: after[k] for k in KEPT} == {k: before[k] for k in KEPT}
    assert after["types"]["resourceTypeGeneral"] == before["types"]["resourceTypeGeneral"]
    assert after["url"] == before["url"]
    assert dataset_row(pipeline.runtime, "undo").deleted_at is None  # live again


def test_restoring_a_dataset_publishes_its_hidden_dois_again(make_pipeline) -> None:
    # Given two published versions; the second deleted, then the whole dataset
    pipeline = make_pipeline()
    create(pipeline.runtime, "back")
    publish(pipeline.runtime, "back", "v1", title="First version")
    publish(pipeline.runtime, "back", "v2", title="Second version")
    v1, v2, parent = version_doi("back", "v1"), version_doi("back", "v2"), concept("back")
    wait_until(lambda: doi_state(pipeline.runtime, v2) == "findable")
    wait_until(lambda: open_intents(pipeline.runtime) == [])
    call(pipeline.runtime, versions.delete_version, "back", "v2")
    wait_until(lambda: doi_state(pipeline.runtime, v2) == "registered")
    wait_until(lambda: open_intents(pipeline.runtime) == [])
    call(pipeline.runtime, datasets.delete_dataset, "back")
    wait_until(lambda: doi_state(pipeline.runtime, v1) == "registered")
    wait_until(lambda: doi_state(pipeline.runtime, parent) == "registered")
    wait_until(lambda: open_intents(pipeline.runtime) == [])
    with pipeline.runtime.sessions() as session:
        hidden = session.scalars(select(Stash.action).where(Stash.action == "hide")).all()
    assert len(hidden) >= 3  # v2, then v1 and the concept: each hide stashed first
    # When the dataset is restored
    restored = call(pipeline.runtime, restore.restore_dataset, "back")
    assert restored.report()["versions"] == ["v1"]  # v2 was deleted on its own, before
    # Then v1 and the concept are findable again at their landing pages
    wait_until(lambda: doi_state(pipeline.runtime, parent) == "findable")
    wait_until(lambda: open_intents(pipeline.runtime) == [])
    assert doi_state(pipeline.runtime, v1) == "findable"
    assert pipeline.remote_dois() == {v1: "findable", v2: "registered", parent: "findable"}
    assert pipeline.datacite_document(v1)["url"] == LANDING.format(dataset="back", version="v1")
    assert pipeline.datacite_document(parent)["url"] == "https://archive.example.org/datasets/back"
    # The concept follows the latest live version (v1), citing it
    concept_doc = pipeline.datacite_document(parent)
    assert concept_doc["titles"] == [{"title": "First version"}]
    related = {
        (r["relatedIdentifier"], r["relationType"]) for r in concept_doc["relatedIdentifiers"]
    }
    assert (v1, "HasVersion") in related
    # And v2 comes back on its own; the concept follows it as the latest again
    call(pipeline.runtime, restore.restore_version, "back", "v2")
    wait_until(lambda: doi_state(pipeline.runtime, v2) == "findable")
    wait_until(lambda: open_intents(pipeline.runtime) == [])
    assert pipeline.datacite_document(v2)["url"] == LANDING.format(dataset="back", version="v2")
    assert pipeline.datacite_document(parent)["titles"] == [{"title": "Second version"}]


def test_a_restore_after_the_retention_is_refused_and_changes_nothing(make_pipeline) -> None:
    pipeline = make_pipeline()
    deleted_draft(pipeline, "late")
    deleted_at = dataset_row(pipeline.runtime, "late").deleted_at
    intents = count_rows(pipeline.runtime, Intent)
    later = deleted_at + timedelta(seconds=pipeline.runtime.settings.stash_retention_seconds + 1)
    with pytest.raises(ConflictError, match="STASH_RETENTION_SECONDS"):
        call(pipeline.runtime, restore.restore_dataset, "late", now=later)
    assert dataset_row(pipeline.runtime, "late").deleted_at == deleted_at
    assert doi_state(pipeline.runtime, concept("late")) == "deleted"
    assert count_rows(pipeline.runtime, Intent) == intents
    assert pipeline.remote_dois() == {}


def test_a_short_retention_refuses_a_restore_once_passed(make_pipeline) -> None:
    pipeline = make_pipeline(STASH_RETENTION_SECONDS="60")
    deleted_draft(pipeline, "brief")
    deleted_at = dataset_row(pipeline.runtime, "brief").deleted_at
    with pytest.raises(ConflictError, match="60 s"):
        call(
            pipeline.runtime,
            restore.restore_dataset,
            "brief",
            now=deleted_at + timedelta(seconds=61),
        )
    assert doi_state(pipeline.runtime, concept("brief")) == "deleted"


def test_an_unreadable_stash_is_absent_and_the_restore_rebuilds_from_the_database(
    make_pipeline,
) -> None:
    pipeline = make_pipeline()
    deleted_draft(pipeline, "broken", title="The database's own snapshot")
    with pipeline.runtime.sessions.begin() as session:
        session.execute(update(Stash).values(content='{"titles": [{"title": "trunc'))
    restored = call(pipeline.runtime, restore.restore_dataset, "broken")
    report = restored.report()
    [entry] = report["dois"]
    assert entry["source"] == "database"
    assert "unreadable" in entry["warning"]
    assert "rebuilt from the database" in entry["warning"]
    assert report["warnings"] == [entry["warning"]]
    wait_until(lambda: doi_state(pipeline.runtime, concept("broken")) == "draft")
    titles = pipeline.datacite_document(concept("broken"))["titles"]
    assert titles == [{"title": "The database's own snapshot"}]


def test_a_hidden_doi_without_a_stash_is_a_conflict(make_pipeline) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "bare")
    publish(pipeline.runtime, "bare", "v1")
    wait_until(lambda: doi_state(pipeline.runtime, concept("bare")) == "findable")
    wait_until(lambda: open_intents(pipeline.runtime) == [])
    call(pipeline.runtime, datasets.delete_dataset, "bare")
    wait_until(lambda: doi_state(pipeline.runtime, concept("bare")) == "registered")
    wait_until(lambda: open_intents(pipeline.runtime) == [])
    with pipeline.runtime.sessions.begin() as session:
        session.query(Stash).delete()  # e.g. pruned
    with pytest.raises(ConflictError, match="no stash"):
        call(pipeline.runtime, restore.restore_dataset, "bare")
    assert dataset_row(pipeline.runtime, "bare").deleted_at is not None
    assert open_intents(pipeline.runtime) == []


def test_a_dataset_id_reused_since_the_stash_is_a_conflict(make_pipeline) -> None:
    pipeline = make_pipeline()
    deleted_draft(pipeline, "reused")
    # doiflow keeps a deleted dataset's row, so an id comes back only after a purge: the
    # row the stash names is then another one (its creation time differs).
    with pipeline.runtime.sessions.begin() as session:
        created = session.get(Dataset, "reused").created_at
        session.execute(update(Stash).values(dataset_created_at=created - timedelta(days=1)))
    with pytest.raises(ConflictError, match="reused"):
        call(pipeline.runtime, restore.restore_dataset, "reused")
    assert doi_state(pipeline.runtime, concept("reused")) == "deleted"


def test_a_live_dataset_or_version_is_not_restored(make_pipeline) -> None:
    pipeline = make_pipeline(start=False)
    create(pipeline.runtime, "live")
    call(
        pipeline.runtime,
        versions.publish_version,
        "live",
        name="v1",
        metadata=metadata(),
        blobs=[],
    )
    with pytest.raises(ConflictError, match="not deleted"):
        call(pipeline.runtime, restore.restore_dataset, "live")
    with pytest.raises(ConflictError, match="not deleted"):
        call(pipeline.runtime, restore.restore_version, "live", "v1")


def test_an_embargoed_dataset_comes_back_without_any_datacite_call(make_pipeline) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "quiet", embargoed=True)
    publish(pipeline.runtime, "quiet", "v1")
    call(pipeline.runtime, datasets.delete_dataset, "quiet")
    restored = call(pipeline.runtime, restore.restore_dataset, "quiet")
    assert restored.report() == {"versions": ["v1"], "dois": [], "warnings": []}
    wait_until(lambda: open_intents(pipeline.runtime) == [])
    with pipeline.runtime.sessions() as session:
        assert session.scalars(select(Doi)).all() == []
    assert count_rows(pipeline.runtime, Stash) == 0
    assert pipeline.datacite_requests() == []


def test_a_dataset_whose_versions_went_before_it_comes_back_with_its_concept_left_hidden(
    make_pipeline,
) -> None:
    # Given a dataset whose only version was deleted, then the dataset itself
    pipeline = make_pipeline()
    create(pipeline.runtime, "empty")
    publish(pipeline.runtime, "empty", "v1")
    wait_until(lambda: doi_state(pipeline.runtime, concept("empty")) == "findable")
    wait_until(lambda: open_intents(pipeline.runtime) == [])
    call(pipeline.runtime, versions.delete_version, "empty", "v1")
    wait_until(lambda: doi_state(pipeline.runtime, concept("empty")) == "registered")
    wait_until(lambda: open_intents(pipeline.runtime) == [])
    call(pipeline.runtime, datasets.delete_dataset, "empty")
    wait_until(lambda: open_intents(pipeline.runtime) == [])
    with pipeline.runtime.sessions.begin() as session:
        session.query(Stash).delete()  # the concept's stashes gone (pruned, say)
    # When the dataset is restored: no version comes back, so nothing at DataCite to undo
    restored = call(pipeline.runtime, restore.restore_dataset, "empty")
    # Then it is live again, and its concept stays hidden (DataCite never un-publishes)
    assert restored.report()["versions"] == []
    assert dataset_row(pipeline.runtime, "empty").deleted_at is None
    wait_until(lambda: open_intents(pipeline.runtime) == [])
    assert pipeline.remote_dois()[concept("empty")] == "registered"
    # pointing at its landing page again, not the tombstone (a re-pointing hide, stashed)
    landing = "https://archive.example.org/datasets/empty"
    wait_until(lambda: pipeline.datacite_document(concept("empty"))["url"] == landing)
    # And its version has a restore of its own, which needs that version's stash
    with pytest.raises(ConflictError, match="no stash"):
        call(pipeline.runtime, restore.restore_version, "empty", "v1")


def test_a_restored_version_is_held_again_before_its_doi_is_findable(
    make_pipeline, s3_settings, buckets
) -> None:
    # Given a published version with one blob held in S3, then the dataset deleted
    bucket, s3 = s3_settings["S3_BUCKET"], buckets.s3
    [data] = uploads(s3, bucket, 1)
    pipeline = make_pipeline(**s3_settings)
    create(pipeline.runtime, "held")
    call(
        pipeline.runtime,
        versions.publish_version,
        "held",
        name="v1",
        metadata=metadata(),
        blobs=[data],
    )
    v1 = version_doi("held", "v1")
    wait_until(lambda: doi_state(pipeline.runtime, v1) == "findable")
    wait_until(lambda: open_intents(pipeline.runtime) == [])
    call(pipeline.runtime, datasets.delete_dataset, "held")
    wait_until(lambda: hold_states(pipeline.runtime) == {data["key"]: "released"})
    wait_until(lambda: doi_state(pipeline.runtime, v1) == "registered")
    wait_until(lambda: open_intents(pipeline.runtime) == [])
    assert legal_hold(s3, bucket, data) == "OFF"
    # When it is restored
    call(pipeline.runtime, restore.restore_dataset, "held")
    # Then the hold is on again in S3, and only then is the version DOI published again
    wait_until(lambda: doi_state(pipeline.runtime, v1) == "findable")
    assert hold_states(pipeline.runtime) == {data["key"]: "on"}
    assert legal_hold(s3, bucket, data) == "ON"
    with pipeline.runtime.sessions() as session:
        held_at = session.scalars(
            select(HoldTransition.at)
            .where(HoldTransition.to_state == "on")
            .order_by(HoldTransition.id.desc())
        ).first()
    publishes = [
        r for r in pipeline.datacite_requests() if r["doi"] == v1 and r.get("event") == "publish"
    ]
    assert datetime.fromisoformat(publishes[-1]["time"]) > held_at
