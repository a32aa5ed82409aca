"""Dataset and version endpoints: answers, DOI intents, and the refusals."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, text

from app.enums import Scope
from app.models import Dataset, Intent
from app.runtime import Runtime
from tests.fixtures.pipeline import wait_until
from tests.support.api import (
    assert_error,
    blob,
    concept,
    metadata,
    publication,
    row_counts,
)
from tests.support.sql import first_words, statements

Bearer = Callable[[str], dict[str, str]]


@pytest.fixture
def writer(bearer: Bearer) -> dict[str, str]:
    return bearer(Scope.WRITE.value)


def intents(runtime: Runtime) -> list[Intent]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Intent).order_by(Intent.id)))


def test_create_answers_the_dataset_shape(client: FlaskClient, writer: dict[str, str]) -> None:
    # When a public dataset is created
    answer = client.post(
        "/api/datasets", json={"id": "ds1", "metadata": metadata()}, headers=writer
    )
    # Then it answers 201 with the documented shape and a Location
    assert answer.status_code == 201
    assert answer.headers["Location"] == "/api/datasets/ds1"
    assert answer.get_json() == {
        "id": "ds1",
        "embargoed": False,
        "deleted": False,
        "metadata": metadata(),
        "concept_doi": {"doi": concept("ds1"), "state": "pending", "target": "draft"},
        "versions": [],
    }


def test_create_then_get_shows_pending_concept_and_an_outbox_row(
    client: FlaskClient, bearer: Bearer, runtime: Runtime
) -> None:
    client.post("/api/datasets", json={"id": "ds1"}, headers=bearer("write"))
    answer = client.get("/api/datasets/ds1", headers=bearer("read"))
    assert answer.status_code == 200
    assert answer.get_json()["concept_doi"] == {
        "doi": concept("ds1"),
        "state": "pending",
        "target": "draft",
    }
    assert [(i.topic, i.status) for i in intents(runtime)] == [("sync_doi", "pending")]


def test_without_datacite_there_is_no_doi_and_no_intent(
    make_runtime: Callable[..., Runtime],
    make_client: Callable[[Runtime], FlaskClient],
    bearer: Bearer,
) -> None:
    runtime = make_runtime(datacite=False)
    client = make_client(runtime)
    answer = client.post("/api/datasets", json={"id": "ds1"}, headers=bearer("write"))
    assert answer.status_code == 201
    assert answer.get_json()["concept_doi"] is None
    assert client.get("/api/datasets/ds1", headers=bearer("read")).get_json()["concept_doi"] is None
    assert intents(runtime) == []


def test_embargoed_dataset_has_no_doi_until_unembargoed(
    client: FlaskClient, writer: dict[str, str], runtime: Runtime
) -> None:
    answer = client.post("/api/datasets", json={"id": "ds1", "embargoed": True}, headers=writer)
    assert answer.get_json()["concept_doi"] is None
    assert answer.get_json()["embargoed"] is True
    assert intents(runtime) == []
    # When the embargo is lifted, the concept DOI heads for draft
    lifted = client.post("/api/datasets/ds1/unembargo", headers=writer)
    assert lifted.status_code == 202
    assert lifted.get_json()["embargoed"] is False
    assert lifted.get_json()["concept_doi"] == {
        "doi": concept("ds1"),
        "state": "pending",
        "target": "draft",
    }
    assert len(intents(runtime)) == 1


def test_unembargo_of_a_public_dataset_is_a_conflict(
    client: FlaskClient, writer: dict[str, str]
) -> None:
    client.post("/api/datasets", json={"id": "ds1"}, headers=writer)
    assert_error(client.post("/api/datasets/ds1/unembargo", headers=writer), 409, "conflict")


def test_update_metadata(client: FlaskClient, writer: dict[str, str]) -> None:
    client.post("/api/datasets", json={"id": "ds1", "metadata": metadata("old")}, headers=writer)
    answer = client.put(
        "/api/datasets/ds1/metadata", json={"metadata": metadata("new")}, headers=writer
    )
    assert answer.status_code == 200
    assert answer.get_json()["metadata"]["titles"] == [{"title": "new"}]


def test_publish_answers_version_and_job(
    client: FlaskClient, writer: dict[str, str], bearer: Bearer
) -> None:
    client.post("/api/datasets", json={"id": "ds1", "metadata": metadata()}, headers=writer)
    answer = client.post("/api/datasets/ds1/versions", json=publication("1.0"), headers=writer)
    assert answer.status_code == 202, answer.get_json()
    body = answer.get_json()
    version_doi = f"{concept('ds1')}/1.0"
    assert body["version"]["version"] == "1.0"
    assert body["version"]["deleted"] is False
    assert body["version"]["doi"] == {"doi": version_doi, "state": "pending", "target": "findable"}
    job = body["job"]
    assert answer.headers["Location"] == f"/api/jobs/{job['id']}"
    assert (job["dataset"], job["version"], job["status"]) == ("ds1", "1.0", "in_progress")
    # No S3 in this test: the blobs are neither verified nor held, and the job says so
    assert [(s["name"], s["status"]) for s in job["steps"]] == [
        ("verify_blobs", "skipped"),
        ("legal_holds", "skipped"),
        ("version_doi", "in_progress"),
        ("concept_doi", "in_progress"),
    ]
    assert "not protected" in job["steps"][0]["error"]
    assert body["version"]["holds"] == {"on": 0, "total": 2}
    # And the dataset lists the version with its DOI
    dataset = client.get("/api/datasets/ds1", headers=bearer("read")).get_json()
    assert [(v["version"], v["doi"]["doi"]) for v in dataset["versions"]] == [("1.0", version_doi)]
    assert dataset["concept_doi"]["target"] == "findable"


def test_publish_without_a_version_name_gets_the_default(
    client: FlaskClient, writer: dict[str, str]
) -> None:
    client.post("/api/datasets", json={"id": "ds1"}, headers=writer)
    answer = client.post("/api/datasets/ds1/versions", json=publication(None), headers=writer)
    assert answer.status_code == 202
    assert answer.get_json()["version"]["version"].startswith("0.")


def test_publish_with_invalid_metadata_is_422_listing_fields_and_changes_nothing(
    client: FlaskClient, writer: dict[str, str], runtime: Runtime
) -> None:
    client.post("/api/datasets", json={"id": "ds1"}, headers=writer)
    before = row_counts(runtime)
    bad = {"titles": [{"title": "x"}]}
    answer = client.post(
        "/api/datasets/ds1/versions", json=publication(metadata=bad), headers=writer
    )
    error = assert_error(answer, 422, "invalid_metadata")
    fields = {problem["field"] for problem in error["details"]}
    assert {"creators", "publisher", "publicationYear", "types"} <= fields
    assert row_counts(runtime) == before


def test_publish_twice_with_one_name_is_a_conflict(
    client: FlaskClient, writer: dict[str, str]
) -> None:
    client.post("/api/datasets", json={"id": "ds1"}, headers=writer)
    client.post("/api/datasets/ds1/versions", json=publication("1.0"), headers=writer)
    assert_error(
        client.post("/api/datasets/ds1/versions", json=publication("1.0"), headers=writer), 409
    )


def test_a_blob_conflict_rolls_the_whole_publication_back(
    client: FlaskClient, writer: dict[str, str], runtime: Runtime
) -> None:
    # Given a blob already recorded with one checksum
    client.post("/api/datasets", json={"id": "ds1"}, headers=writer)
    client.post("/api/datasets/ds1/versions", json=publication("1.0"), headers=writer)
    before = row_counts(runtime)
    # When a later version claims the same S3 object version with another checksum
    clash = publication("2.0", blobs=[blob(3), blob(1, sha256="f" * 64)])
    answer = client.post("/api/datasets/ds1/versions", json=clash, headers=writer)
    # Then it is refused after the service had flushed rows, and nothing stays
    assert_error(answer, 409, "conflict")
    assert row_counts(runtime) == before


def test_delete_version(client: FlaskClient, writer: dict[str, str]) -> None:
    client.post("/api/datasets", json={"id": "ds1"}, headers=writer)
    client.post("/api/datasets/ds1/versions", json=publication("1.0"), headers=writer)
    answer = client.delete("/api/datasets/ds1/versions/1.0", headers=writer)
    assert answer.status_code == 202
    assert [(v["version"], v["deleted"]) for v in answer.get_json()["versions"]] == [("1.0", True)]
    assert_error(client.delete("/api/datasets/ds1/versions/1.0", headers=writer), 404, "not_found")
    assert_error(client.delete("/api/datasets/ds1/versions/9.9", headers=writer), 404, "not_found")


def test_delete_dataset_then_changes_are_conflicts(
    client: FlaskClient, writer: dict[str, str]
) -> None:
    client.post("/api/datasets", json={"id": "ds1"}, headers=writer)
    answer = client.delete("/api/datasets/ds1", headers=writer)
    assert answer.status_code == 202
    assert answer.get_json()["deleted"] is True
    assert answer.get_json()["concept_doi"]["target"] == "deleted"
    assert_error(client.delete("/api/datasets/ds1", headers=writer), 409, "conflict")
    assert_error(
        client.put("/api/datasets/ds1/metadata", json={"metadata": {}}, headers=writer), 409
    )
    assert_error(client.post("/api/datasets/ds1/versions", json=publication(), headers=writer), 409)


def test_creating_an_existing_dataset_is_a_conflict_and_changes_nothing(
    client: FlaskClient, writer: dict[str, str], runtime: Runtime
) -> None:
    client.post("/api/datasets", json={"id": "ds1", "metadata": metadata("first")}, headers=writer)
    before = row_counts(runtime)
    answer = client.post(
        "/api/datasets", json={"id": "ds1", "metadata": metadata("second")}, headers=writer
    )
    assert_error(answer, 409, "conflict")
    assert row_counts(runtime) == before
    assert client.get("/api/datasets/ds1", headers=writer).get_json()["metadata"]["titles"] == [
        {"title": "first"}
    ]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/datasets/nope"),
        ("put", "/api/datasets/nope/metadata"),
        ("post", "/api/datasets/nope/unembargo"),
        ("delete", "/api/datasets/nope"),
        ("post", "/api/datasets/nope/versions"),
        ("delete", "/api/datasets/nope/versions/1.0"),
    ],
)
def test_unknown_dataset_is_404(
    client: FlaskClient, bearer: Bearer, method: str, path: str
) -> None:
    body = (
        {"metadata": {}}
        if path.endswith("metadata")
        else publication()
        if path.endswith("versions")
        else None
    )
    answer = client.open(path, method=method.upper(), json=body, headers=bearer("write"))
    error = assert_error(answer, 404, "not_found")
    assert "nope" in error["message"]


def test_invalid_dataset_id_names_the_field(
    client: FlaskClient, writer: dict[str, str], runtime: Runtime
) -> None:
    before = row_counts(runtime)
    error = assert_error(client.post("/api/datasets", json={"id": "-bad id"}, headers=writer), 400)
    assert error["details"] == {"field": "id"}
    assert row_counts(runtime) == before


def test_restore_answers_202_with_the_dataset_and_queues_its_doi(
    client: FlaskClient, writer: dict[str, str], runtime: Runtime
) -> None:
    # Given a deleted dataset whose draft never reached DataCite (no worker runs here)
    client.post("/api/datasets", json={"id": "ds1", "metadata": metadata()}, headers=writer)
    client.delete("/api/datasets/ds1", headers=writer)
    # When it is restored
    answer = client.post("/api/datasets/ds1/restore", headers=writer)
    # Then it is live again, and its DOI heads for draft through the outbox
    assert answer.status_code == 202
    body = answer.get_json()
    assert body["deleted"] is False
    assert body["concept_doi"]["target"] == "draft"
    assert body["restore"]["dois"] == [
        {
            "doi": concept("ds1"),
            "was": "pending",
            "source": "database",
            "stash": None,
            "warning": None,
        }
    ]
    assert [i.topic for i in intents(runtime) if i.status == "pending"] == ["sync_doi"]


def test_restoring_a_live_or_unknown_dataset_is_refused_and_changes_nothing(
    client: FlaskClient, writer: dict[str, str], runtime: Runtime
) -> None:
    client.post("/api/datasets", json={"id": "ds1"}, headers=writer)
    before = row_counts(runtime)
    error = assert_error(client.post("/api/datasets/ds1/restore", headers=writer), 409, "conflict")
    assert "not deleted" in error["message"]
    assert_error(client.post("/api/datasets/nope/restore", headers=writer), 404, "not_found")
    assert row_counts(runtime) == before


def test_restore_version_brings_one_deleted_version_back(
    client: FlaskClient, writer: dict[str, str]
) -> None:
    client.post("/api/datasets", json={"id": "ds1"}, headers=writer)
    client.post("/api/datasets/ds1/versions", json=publication("1.0"), headers=writer)
    client.delete("/api/datasets/ds1/versions/1.0", headers=writer)
    answer = client.post("/api/datasets/ds1/versions/1.0/restore", headers=writer)
    assert answer.status_code == 202
    body = answer.get_json()
    assert body["restore"]["versions"] == ["1.0"]
    [version] = body["versions"]
    assert (version["deleted"], version["doi"]["target"]) == (False, "findable")
    # A version of a deleted dataset comes back with its dataset, not on its own
    client.delete("/api/datasets/ds1", headers=writer)
    error = assert_error(
        client.post("/api/datasets/ds1/versions/1.0/restore", headers=writer), 409, "conflict"
    )
    assert "restore the dataset" in error["message"]


def test_blob_delete_without_s3_configured_is_refused(
    client: FlaskClient, writer: dict[str, str]
) -> None:
    answer = client.delete("/api/blobs/some/key.nwb?version_id=v1", headers=writer)
    error = assert_error(answer, 409, "s3_not_configured")
    assert "S3_BUCKET" in error["message"]


def test_losing_a_creation_race_is_a_conflict_not_a_500(
    client: FlaskClient, writer: dict[str, str], runtime: Runtime
) -> None:
    # Given another transaction that has inserted ds1 but not committed yet
    with runtime.sessions.begin() as other:
        other.add(Dataset(id="ds1", embargoed=True, draft_metadata={}))
        other.flush()
        # When the API creates ds1 too (it sees no row, then waits on the insert)
        with ThreadPoolExecutor(1) as pool:
            racing = pool.submit(client.post, "/api/datasets", json={"id": "ds1"}, headers=writer)
            wait_until(lambda: blocked_on_a_lock(runtime))
            other.commit()
            answer = racing.result(timeout=10)
    # Then the loser gets a 409 and nothing of its own stays
    assert_error(answer, 409, "conflict")
    assert intents(runtime) == []


def blocked_on_a_lock(runtime: Runtime) -> bool:
    with runtime.sessions() as session:
        waiting = session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        )
    return bool(waiting)


def test_api_answers_422_naming_the_badly_shaped_draft_field(client, bearer) -> None:
    answer = client.post(
        "/api/datasets",
        json={"id": "api-shape", "metadata": {"titles": ["plain"]}},
        headers=bearer("write"),
    )
    assert answer.status_code == 422
    assert answer.json["error"]["details"][0]["field"] == "titles.0"
    assert client.get("/api/datasets/api-shape", headers=bearer("read")).status_code == 404


# --- issue 12: an API without surprises -------------------------------------------------


def test_lookups_ignore_case_and_answer_the_stored_spelling(
    client: FlaskClient, writer: dict[str, str]
) -> None:
    # Given a dataset MixedCase with a version Beta
    assert client.post("/api/datasets", json={"id": "MixedCase"}, headers=writer).status_code == 201
    published = client.post(
        "/api/datasets/mixedcase/versions", json=publication("Beta"), headers=writer
    )
    assert published.status_code == 202, published.get_data(as_text=True)
    # When it is read in another case, Then it is found, in its stored spelling
    answer = client.get("/api/datasets/MIXEDCASE", headers=writer)
    assert answer.status_code == 200
    assert answer.get_json()["id"] == "MixedCase"
    assert [v["version"] for v in answer.get_json()["versions"]] == ["Beta"]
    # And a version is found ignoring case too
    deleted = client.delete("/api/datasets/mixedCASE/versions/BETA", headers=writer)
    assert deleted.status_code == 202
    assert deleted.get_json()["id"] == "MixedCase"
    assert deleted.get_json()["versions"][0]["deleted"] is True


def test_an_empty_version_name_is_400_and_changes_nothing(
    client: FlaskClient, writer: dict[str, str], runtime: Runtime
) -> None:
    client.post("/api/datasets", json={"id": "ds1"}, headers=writer)
    before = row_counts(runtime)
    answer = client.post("/api/datasets/ds1/versions", json=publication(""), headers=writer)
    assert assert_error(answer, 400, "invalid_input")["details"] == {"field": "version"}
    assert row_counts(runtime) == before


def test_a_version_named_retry_is_refused_its_doi_would_be_an_api_path(
    client: FlaskClient, writer: dict[str, str], runtime: Runtime
) -> None:
    client.post("/api/datasets", json={"id": "ds1"}, headers=writer)
    before = row_counts(runtime)
    answer = client.post("/api/datasets/ds1/versions", json=publication("Retry"), headers=writer)
    assert "reserved" in assert_error(answer, 409, "conflict")["message"]
    assert row_counts(runtime) == before


BLANKS = [
    pytest.param({"titles": [{"title": ""}]}, ["titles.0.title"], id="empty-title"),
    pytest.param({"titles": [{"title": " \t"}]}, ["titles.0.title"], id="blank-title"),
    pytest.param(
        {"creators": [{"name": "Doe, Jane"}, {"name": "  "}]}, ["creators.1.name"], id="creator"
    ),
    pytest.param({"publisher": ""}, ["publisher"], id="publisher-text"),
    pytest.param({"publisher": {"name": " "}}, ["publisher"], id="publisher-object"),
    pytest.param(
        {"titles": [{"title": ""}], "publisher": ""},
        ["publisher", "titles.0.title"],
        id="several",
    ),
]


@pytest.mark.parametrize(("change", "fields"), BLANKS)
def test_blank_required_values_are_422_naming_the_fields_and_nothing_is_queued(
    client: FlaskClient,
    writer: dict[str, str],
    runtime: Runtime,
    change: dict[str, object],
    fields: list[str],
) -> None:
    client.post("/api/datasets", json={"id": "ds1"}, headers=writer)
    before = row_counts(runtime)
    body = publication(metadata={**metadata(), **change})
    answer = client.post("/api/datasets/ds1/versions", json=body, headers=writer)
    error = assert_error(answer, 422, "invalid_metadata")
    assert [p["field"] for p in error["details"]] == fields
    assert row_counts(runtime) == before


def test_list_datasets_pages_by_keyset_and_filters(
    client: FlaskClient, writer: dict[str, str], bearer: Bearer
) -> None:
    # Given five datasets: one embargoed, one deleted
    for name in ("a1", "a2", "b1", "b2", "c1"):
        client.post("/api/datasets", json={"id": name, "embargoed": name == "b2"}, headers=writer)
    client.delete("/api/datasets/a2", headers=writer)
    reader = bearer("read")
    # When they are listed two at a time, Then the pages follow each other in id order
    seen, after = [], None
    while True:
        query = {"limit": "2", **({"after": after} if after else {})}
        page = client.get("/api/datasets", query_string=query, headers=reader).get_json()
        assert len(page["datasets"]) <= 2
        seen += [row["id"] for row in page["datasets"]]
        after = page["next"]
        if after is None:
            break
    assert seen == ["a1", "a2", "b1", "b2", "c1"]

    # And each filter keeps exactly its datasets
    def ids(**query: str) -> list[str]:
        answer = client.get("/api/datasets", query_string=query, headers=reader)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return [row["id"] for row in answer.get_json()["datasets"]]

    assert ids(deleted="true") == ["a2"]
    assert ids(deleted="false", embargoed="false") == ["a1", "b1", "c1"]
    assert ids(embargoed="true") == ["b2"]
    assert ids(doi_state="pending") == ["a1", "a2", "b1", "c1"]
    assert ids(doi_state="failed") == []
    row = client.get("/api/datasets", query_string={"limit": "1"}, headers=reader).get_json()
    assert row["datasets"] == [
        {
            "id": "a1",
            "embargoed": False,
            "deleted": False,
            "concept_doi": {"doi": concept("a1"), "state": "pending", "target": "draft"},
        }
    ]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"deleted": "yes"}, "deleted"),
        ({"doi_state": "lost"}, "doi_state"),
        ({"after": "bad name"}, "after"),
    ],
)
def test_list_datasets_refuses_bad_parameters(
    client: FlaskClient, bearer: Bearer, query: dict[str, str], field: str
) -> None:
    answer = client.get("/api/datasets", query_string=query, headers=bearer("read"))
    assert assert_error(answer, 400, "invalid_input")["details"] == {"field": field}


def test_list_datasets_refuses_an_unknown_parameter(client: FlaskClient, bearer: Bearer) -> None:
    answer = client.get("/api/datasets", query_string={"embargo": "true"}, headers=bearer("read"))
    assert assert_error(answer, 400, "invalid_input")["details"] == {"fields": ["embargo"]}


def test_version_metadata_correction_is_checked_like_a_publish(
    client: FlaskClient, writer: dict[str, str], runtime: Runtime
) -> None:
    client.post("/api/datasets", json={"id": "ds1"}, headers=writer)
    client.post("/api/datasets/ds1/versions", json=publication("1.0"), headers=writer)
    before = row_counts(runtime)
    blank = {**metadata(), "titles": [{"title": " "}]}
    answer = client.put(
        "/api/datasets/ds1/versions/1.0/metadata", json={"metadata": blank}, headers=writer
    )
    assert [p["field"] for p in assert_error(answer, 422)["details"]] == ["titles.0.title"]
    assert row_counts(runtime) == before
    missing = client.put(
        "/api/datasets/ds1/versions/9.9/metadata", json={"metadata": metadata()}, headers=writer
    )
    assert_error(missing, 404, "not_found")
    client.delete("/api/datasets/ds1/versions/1.0", headers=writer)
    gone = client.put(
        "/api/datasets/ds1/versions/1.0/metadata", json={"metadata": metadata()}, headers=writer
    )
    assert_error(gone, 404, "not_found")


def test_a_create_is_the_token_check_its_three_rows_and_the_notify(
    client: FlaskClient, writer: dict[str, str], runtime: Runtime
) -> None:
    # The hottest write path: no existence check first, no flush, no read-back
    client.post("/api/datasets", json={"id": "warm"}, headers=writer)  # last_used_at written
    with statements(runtime) as sent:
        answer = client.post("/api/datasets", json={"id": "lean"}, headers=writer)
    assert answer.status_code == 201
    assert answer.get_json()["concept_doi"]["state"] == "pending"
    assert first_words(sent) == [
        "SELECT api_tokens.id, api_tokens.name,",
        "INSERT INTO datasets",
        "INSERT INTO dois",
        "INSERT INTO outbox",
        "NOTIFY doiflow_outbox",
    ]
