"""Re-driving failed DOIs."""

from __future__ import annotations

from app.services import dois, versions
from tests.fixtures.pipeline import wait_until
from tests.support.lifecycle import (
    call,
    concept,
    create,
    doi_state,
    open_intents,
    publish,
    version_doi,
)


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
    call(pipeline.runtime, versions.delete_version, "gone", "v1")
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
