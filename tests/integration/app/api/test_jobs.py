"""The job endpoint: a publish run and its steps."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
from flask.testing import FlaskClient

from app.runtime import Runtime
from tests.support.api import assert_error, publication

Bearer = Callable[[str], dict[str, str]]


@pytest.fixture
def published(client: FlaskClient, bearer: Bearer) -> dict:
    """Dataset ds1 with version 1.0 published; the publish answer."""
    writer = bearer("write")
    client.post("/api/datasets", json={"id": "ds1"}, headers=writer)
    answer = client.post("/api/datasets/ds1/versions", json=publication("1.0"), headers=writer)
    assert answer.status_code == 202
    return answer.get_json()


def test_job_shape(client: FlaskClient, bearer: Bearer, published: dict) -> None:
    job_id = published["job"]["id"]
    answer = client.get(f"/api/jobs/{job_id}", headers=bearer("read"))
    assert answer.status_code == 200
    job = answer.get_json()
    assert job == published["job"]
    assert set(job) == {
        "id",
        "kind",
        "dataset",
        "version",
        "status",
        "created_at",
        "finished_at",
        "steps",
    }
    assert (job["kind"], job["dataset"], job["version"], job["finished_at"]) == (
        "publish",
        "ds1",
        "1.0",
        None,
    )
    assert [step["name"] for step in job["steps"]] == [
        "verify_blobs",
        "legal_holds",
        "version_doi",
        "concept_doi",
    ]
    assert job["steps"][2] == {
        "name": "version_doi",
        "status": "in_progress",
        "done": 0,
        "total": 1,
        "error": None,
        "problems": [],
    }


def test_job_of_a_dataset_without_datacite_is_finished(
    make_runtime: Callable[..., Runtime],
    make_client: Callable[[Runtime], FlaskClient],
    bearer: Bearer,
) -> None:
    client = make_client(make_runtime(datacite=False))
    writer = bearer("write")
    client.post("/api/datasets", json={"id": "ds1"}, headers=writer)
    answer = client.post("/api/datasets/ds1/versions", json=publication("1.0"), headers=writer)
    assert answer.status_code == 202
    assert answer.get_json()["version"]["doi"] is None
    job = client.get(f"/api/jobs/{answer.get_json()['job']['id']}", headers=writer).get_json()
    assert job["status"] == "finished"
    assert {step["status"] for step in job["steps"]} == {"skipped"}


@pytest.mark.parametrize("job_id", ["12345", str(2**63), "99999999999999999999999"])
def test_unknown_job_is_404(client: FlaskClient, bearer: Bearer, job_id: str) -> None:
    assert_error(client.get(f"/api/jobs/{job_id}", headers=bearer("read")), 404, "not_found")


def test_a_job_id_that_is_not_a_number_is_404(client: FlaskClient, bearer: Bearer) -> None:
    assert_error(client.get("/api/jobs/abc", headers=bearer("read")), 404)


def test_a_job_finished_at_once_never_finished_before_it_was_created(
    make_runtime: Callable[..., Runtime],
    make_client: Callable[[Runtime], FlaskClient],
    bearer: Bearer,
) -> None:
    # Without DataCite or S3 every step is skipped: the job finishes in its own transaction
    client = make_client(make_runtime(datacite=False))
    writer = bearer("write")
    client.post("/api/datasets", json={"id": "ds1"}, headers=writer)
    for name in ("1.0", "1.1", "1.2"):
        answer = client.post("/api/datasets/ds1/versions", json=publication(name), headers=writer)
        job = answer.get_json()["job"]
        assert job["status"] == "finished"
        finished, created = (datetime.fromisoformat(job[k]) for k in ("finished_at", "created_at"))
        assert finished >= created, job
