"""Regressions for the second review: names, metadata shapes, re-driven hides, statuses."""

from __future__ import annotations

import pytest

from app.services import datasets, dois
from app.services.errors import ConflictError, InvalidInputError, UnprocessableError
from tests.fixtures.pipeline import wait_until
from tests.integration.lifecycle_helpers import (
    call,
    concept,
    create,
    doi_row,
    doi_state,
    metadata,
    open_intents,
    publish,
    version_doi,
    writes,
)


@pytest.mark.parametrize("name", ["abc\n", "abc\r\n", " abc"])
def test_names_with_trailing_or_leading_whitespace_are_refused(runtime, name: str) -> None:
    with pytest.raises(InvalidInputError):
        create(runtime, name)


def test_dataset_ids_differing_only_in_case_are_refused_by_name(runtime) -> None:
    create(runtime, "Abc")
    with pytest.raises(ConflictError, match="'Abc' already exists"):
        create(runtime, "abc")


def test_version_names_differing_only_in_case_are_refused(runtime) -> None:
    create(runtime, "vers")
    publish(runtime, "vers", "V1")
    with pytest.raises(ConflictError, match="'V1'"):
        publish(runtime, "vers", "v1")


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


def test_versions_are_validated_completely_even_without_publishing(make_runtime) -> None:
    runtime = make_runtime(DOI_PUBLISH="false")
    create(runtime, "later")
    with pytest.raises(UnprocessableError) as refused:
        call(
            runtime,
            datasets.publish_version,
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
    call(runtime, datasets.publish_version, "ids", name="1", metadata=rich, blobs=[])


def test_retrying_a_failed_hide_never_publishes_the_deleted_version_again(make_pipeline) -> None:
    pipeline = make_pipeline()
    create(pipeline.runtime, "gone")
    publish(pipeline.runtime, "gone", "v1")
    wait_until(lambda: doi_state(pipeline.runtime, concept("gone")) == "findable")
    wait_until(lambda: not open_intents(pipeline.runtime))
    pipeline.inject(
        {
            "method": "PUT",
            "doi": version_doi("gone", "v1"),
            "times": 1,
            "respond": {"status": 422, "body": '{"errors":[{"title":"no"}]}'},
        }
    )
    call(pipeline.runtime, datasets.delete_version, "gone", "v1")
    wait_until(lambda: doi_state(pipeline.runtime, version_doi("gone", "v1")) == "failed")
    before = len(pipeline.datacite_requests())

    call(pipeline.runtime, dois.retry, version_doi("gone", "v1"), reason="operator re-drive")
    wait_until(lambda: doi_state(pipeline.runtime, version_doi("gone", "v1")) == "registered")
    after = pipeline.datacite_requests()[before:]
    assert [
        (r["method"], r.get("event")) for r in after if r["doi"] == version_doi("gone", "v1")
    ] == [
        ("GET", None),
        ("PUT", "hide"),
    ]
    assert pipeline.remote_dois()[version_doi("gone", "v1")] == "registered"


def test_deleting_a_doi_datacite_never_had_records_the_404(make_pipeline) -> None:
    pipeline = make_pipeline(start=False)
    create(pipeline.runtime, "never")
    call(pipeline.runtime, datasets.delete_dataset, "never")
    pipeline.start()
    wait_until(lambda: doi_state(pipeline.runtime, concept("never")) == "deleted")
    row = doi_row(pipeline.runtime, concept("never"))
    assert row.history[-1].http_status == 404
    assert writes(pipeline.datacite_requests()) == []


def test_429_without_retry_after_backs_off_without_using_an_attempt(make_pipeline) -> None:
    pipeline = make_pipeline()
    body = '{"errors":[{"status":"429","title":"Too Many Requests"}]}'
    pipeline.inject({"method": "PUT", "times": 2, "respond": {"status": 429, "body": body}})
    create(pipeline.runtime, "bare429")
    wait_until(lambda: doi_state(pipeline.runtime, concept("bare429")) == "draft")
    row = doi_row(pipeline.runtime, concept("bare429"))
    assert row.attempts == 0
    assert len([r for r in pipeline.datacite_requests() if r["method"] == "PUT"]) == 3


def test_api_answers_422_naming_the_badly_shaped_draft_field(client, bearer) -> None:
    answer = client.post(
        "/api/datasets",
        json={"id": "api-shape", "metadata": {"titles": ["plain"]}},
        headers=bearer("write"),
    )
    assert answer.status_code == 422
    assert answer.json["error"]["details"][0]["field"] == "titles.0"
    assert client.get("/api/datasets/api-shape", headers=bearer("read")).status_code == 404
