"""Versions: their names, their validation and correcting their metadata, end to end.

As in test_datasets, each test drives the services as the API would, lets the real relay
and Dramatiq workers (on real Redis and Postgres) run, then asserts both sides.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, select

from app.models import Doi
from app.services import payloads, versions
from app.services.errors import ConflictError, UnprocessableError
from tests.fixtures.pipeline import wait_until
from tests.support.lifecycle import (
    blob,
    call,
    concept,
    create,
    doi_row,
    doi_state,
    metadata,
    open_intents,
    publish,
    version_doi,
)


def _settled(pipeline, doi: str, state: str):
    def check() -> bool:
        return doi_state(pipeline.runtime, doi) == state and not open_intents(pipeline.runtime)

    check.__name__ = f"{doi} {state}"
    return wait_until(check)


def test_version_names_differing_only_in_case_are_refused(runtime) -> None:
    create(runtime, "vers")
    publish(runtime, "vers", "V1")
    with pytest.raises(ConflictError, match="'V1'"):
        publish(runtime, "vers", "v1")


def test_versions_are_validated_completely_even_without_publishing(make_runtime) -> None:
    runtime = make_runtime(DOI_PUBLISH="false")
    create(runtime, "later")
    with pytest.raises(UnprocessableError) as refused:
        call(
            runtime,
            versions.publish_version,
            "later",
            name="1",
            metadata={"titles": [{"title": "t"}]},
            blobs=[],
        )
    assert {"creators", "publisher", "publicationYear", "types"} <= {
        p["field"] for p in refused.value.details
    }


def test_rest_only_identifiers_attribute_is_accepted(runtime) -> None:
    create(runtime, "ids")
    rich = {**metadata(), "identifiers": [{"identifier": "ARK:1", "identifierType": "ARK"}]}
    call(runtime, versions.publish_version, "ids", name="1", metadata=rich, blobs=[])


# --- issue 12: default version names, correcting a published version's metadata ---------


def test_default_version_names_in_one_minute_are_distinct(make_runtime) -> None:
    runtime = make_runtime()
    create(runtime, "ds1")
    moment = datetime(2026, 12, 1, 9, 30, 15, tzinfo=UTC)
    names = []
    for _ in range(3):
        version, _ = call(
            runtime,
            versions.publish_version,
            "ds1",
            name=None,
            metadata=metadata(),
            blobs=[],
            now=moment,
        )
        names.append(version.name)
    # DANDI's rule: a minute later for each name already taken, never a 409
    assert names == ["0.261201.0930", "0.261201.0931", "0.261201.0932"]


def test_correcting_a_findable_version_updates_it_and_the_concept_in_place(
    make_pipeline,
) -> None:
    # Given two findable versions
    pipeline = make_pipeline()
    create(pipeline.runtime, "ds1")
    publish(pipeline.runtime, "ds1", "1.0")
    publish(pipeline.runtime, "ds1", "2.0")
    _settled(pipeline, version_doi("ds1", "2.0"), "findable")
    _settled(pipeline, concept("ds1"), "findable")
    # When the latest version's metadata is corrected
    call(pipeline.runtime, versions.update_version_metadata, "ds1", "2.0", metadata("Fixed"))
    # Then DataCite holds the new title for it and for the concept, both still findable
    wait_until(
        lambda: (
            pipeline.datacite_document(concept("ds1"))["titles"] == [{"title": "Fixed"}]
            and not open_intents(pipeline.runtime)
        )
    )
    assert pipeline.datacite_document(version_doi("ds1", "2.0"))["titles"] == [{"title": "Fixed"}]
    assert pipeline.remote_dois()[version_doi("ds1", "2.0")] == "findable"
    # When an older version is corrected, Then the concept keeps following the latest
    call(pipeline.runtime, versions.update_version_metadata, "ds1", "1.0", metadata("Old fix"))
    wait_until(
        lambda: (
            pipeline.datacite_document(version_doi("ds1", "1.0"))["titles"]
            == [{"title": "Old fix"}]
            and not open_intents(pipeline.runtime)
        )
    )
    assert pipeline.datacite_document(concept("ds1"))["titles"] == [{"title": "Fixed"}]


def test_correcting_a_failed_version_re_drives_it_with_the_new_payload(make_pipeline) -> None:
    # Given a version whose DOI failed (DataCite refused its publish once)
    pipeline = make_pipeline()
    create(pipeline.runtime, "ds1")
    _settled(pipeline, concept("ds1"), "draft")
    pipeline.inject(
        {
            "method": "PUT",
            "doi": version_doi("ds1", "1.0"),
            "times": 1,
            "respond": {"status": 422, "body": '{"errors":[{"title":"nope"}]}'},
        }
    )
    publish(pipeline.runtime, "ds1", "1.0")
    _settled(pipeline, version_doi("ds1", "1.0"), "failed")
    # When its metadata is corrected
    call(pipeline.runtime, versions.update_version_metadata, "ds1", "1.0", metadata("Fixed"))
    # Then it is re-driven and becomes findable with the new metadata
    _settled(pipeline, version_doi("ds1", "1.0"), "findable")
    assert pipeline.datacite_document(version_doi("ds1", "1.0"))["titles"] == [{"title": "Fixed"}]
    row = doi_row(pipeline.runtime, version_doi("ds1", "1.0"))
    assert row is not None
    assert any(t.detail and "corrected" in t.detail for t in row.history)


def test_a_version_dois_payload_never_loads_the_versions_blobs(runtime) -> None:
    # Given a published version of 50 blobs
    create(runtime, "big")
    blobs = [blob(n) for n in range(1, 51)]
    call(runtime, versions.publish_version, "big", name="v1", metadata=metadata(), blobs=blobs)

    # When its DOI's DataCite document is worked out (every sync and every hold batch does)
    with runtime.sessions() as session:
        doi = session.scalars(select(Doi).where(Doi.version_id.is_not(None))).one()
        attributes = payloads.desired_attributes(session, runtime.settings, doi)

        # Then the version came along without its blobs (or their holds and histories)
        assert attributes["version"] == "v1"
        assert doi.version is not None
        assert "blobs" in inspect(doi.version).unloaded
        # And reading them still works, on access
        assert len(doi.version.blobs) == 50
