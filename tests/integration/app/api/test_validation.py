"""Every bad request body is a 400 naming the field, and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.runtime import Runtime
from tests.support.api import assert_error, blob, metadata, publication, row_counts

Bearer = Callable[[str], dict[str, str]]


@pytest.fixture
def writer(client: FlaskClient, bearer: Bearer) -> dict[str, str]:
    """Write headers, with dataset ds1 in place."""
    headers = bearer("write")
    assert client.post("/api/datasets", json={"id": "ds1"}, headers=headers).status_code == 201
    return headers


RAW_BODIES = [
    pytest.param(b"{not json", "invalid_json", id="not-json"),
    pytest.param(b"", "invalid_input", id="empty"),
    pytest.param(b"[]", "invalid_input", id="list"),
    pytest.param(b'"ds2"', "invalid_input", id="string"),
    pytest.param(b"null", "invalid_input", id="null"),
    pytest.param(b"42", "invalid_input", id="number"),
    pytest.param(b'{"id": "ds2", "metadata": {"size": NaN}}', "invalid_json", id="nan"),
    pytest.param(b'{"id": "ds2", "metadata": {"t": "a\\u0000b"}}', "invalid_json", id="nul"),
    pytest.param(
        b'{"id": "ds2", "metadata": {"t": "\\ud800"}}', "invalid_json", id="lone-surrogate"
    ),
    pytest.param(
        b'{"id": "ds2", "metadata": ' + b'{"a": ' * 100 + b"1" + b"}" * 101,
        "invalid_json",
        id="deep",
    ),
    pytest.param(b"\xff\xfe\xfa", "invalid_json", id="not-utf8"),
]


@pytest.mark.parametrize(("raw", "code"), RAW_BODIES)
def test_body_that_is_not_a_json_object(
    client: FlaskClient, writer: dict[str, str], runtime: Runtime, raw: bytes, code: str
) -> None:
    before = row_counts(runtime)
    answer = client.post("/api/datasets", data=raw, content_type="application/json", headers=writer)
    assert_error(answer, 400, code)
    assert row_counts(runtime) == before


def test_a_form_body_is_415_and_changes_nothing(
    client: FlaskClient, writer: dict[str, str], runtime: Runtime
) -> None:
    before = row_counts(runtime)
    answer = client.post("/api/datasets", data={"id": "ds2"}, headers=writer)
    error = assert_error(answer, 415, "unsupported_media_type")
    assert error["details"] == {"content_type": "application/x-www-form-urlencoded"}
    assert row_counts(runtime) == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/datasets"),
        ("PUT", "/api/datasets/ds1/metadata"),
        ("POST", "/api/datasets/ds1/versions"),
        ("PUT", "/api/datasets/ds1/versions/1.0/metadata"),
    ],
)
@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", None])
def test_post_and_put_bodies_must_be_json(
    client: FlaskClient,
    writer: dict[str, str],
    runtime: Runtime,
    method: str,
    path: str,
    content_type: str | None,
) -> None:
    # Given dataset ds1 with a version, so only the content type can be wrong
    published = client.post("/api/datasets/ds1/versions", json=publication(), headers=writer)
    assert published.status_code == 202
    before = row_counts(runtime)
    # When a JSON text arrives under another content type (or none)
    headers = {**writer, **({"Content-Type": content_type} if content_type else {})}
    answer = client.open(path, method=method, data=b'{"metadata": {}}', headers=headers)
    # Then it is a 415 that changed nothing
    assert_error(answer, 415, "unsupported_media_type")
    assert row_counts(runtime) == before


def test_a_json_suffix_type_is_json(client: FlaskClient, writer: dict[str, str]) -> None:
    answer = client.post(
        "/api/datasets",
        data=b'{"id": "ds9"}',
        headers={**writer, "Content-Type": "application/vnd.api+json; charset=utf-8"},
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)


def test_a_retry_without_a_body_needs_no_content_type(
    client: FlaskClient, bearer: Callable[[str], dict[str, str]]
) -> None:
    # An empty optional body is no body: a 404 (no such DOI), not a 415
    answer = client.post("/api/dois/10.80507/nope/retry", headers=bearer("operator"))
    assert answer.status_code == 404
    assert_error(answer, 404, "not_found")


CREATE_FIELDS = [
    pytest.param({}, "id", id="missing-id"),
    pytest.param({"id": 7}, "id", id="id-number"),
    pytest.param({"id": None}, "id", id="id-null"),
    pytest.param({"id": "ds2", "embargoed": "yes"}, "embargoed", id="embargoed-string"),
    pytest.param({"id": "ds2", "embargoed": 1}, "embargoed", id="embargoed-number"),
    pytest.param({"id": "ds2", "embargoed": None}, "embargoed", id="embargoed-null"),
    pytest.param({"id": "ds2", "metadata": []}, "metadata", id="metadata-list"),
    pytest.param({"id": "ds2", "metadata": "x"}, "metadata", id="metadata-string"),
    pytest.param({"id": "x" * 65}, "id", id="id-too-long"),
]


@pytest.mark.parametrize(("body", "field"), CREATE_FIELDS)
def test_create_field_errors_name_the_field(
    client: FlaskClient, writer: dict[str, str], runtime: Runtime, body: dict[str, Any], field: str
) -> None:
    before = row_counts(runtime)
    error = assert_error(
        client.post("/api/datasets", json=body, headers=writer), 400, "invalid_input"
    )
    assert error["details"] == {"field": field}
    assert repr(field) in error["message"] or field in error["message"]
    assert row_counts(runtime) == before


def test_unknown_top_level_fields_are_named(
    client: FlaskClient, writer: dict[str, str], runtime: Runtime
) -> None:
    before = row_counts(runtime)
    body = {"id": "ds2", "titel": "typo", "embargo": True}
    error = assert_error(
        client.post("/api/datasets", json=body, headers=writer), 400, "invalid_input"
    )
    assert error["details"] == {"fields": ["embargo", "titel"]}
    assert "'embargo'" in error["message"]
    assert "'titel'" in error["message"]
    assert row_counts(runtime) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({}, "metadata", id="missing"),
        pytest.param({"metadata": ["x"]}, "metadata", id="list"),
        pytest.param({"metadata": None}, "metadata", id="null"),
    ],
)
def test_update_metadata_field_errors(
    client: FlaskClient, writer: dict[str, str], runtime: Runtime, body: dict[str, Any], field: str
) -> None:
    before = row_counts(runtime)
    error = assert_error(client.put("/api/datasets/ds1/metadata", json=body, headers=writer), 400)
    assert error["details"] == {"field": field}
    assert row_counts(runtime) == before


def test_update_metadata_unknown_field(client: FlaskClient, writer: dict[str, str]) -> None:
    body = {"metadata": metadata(), "embargoed": True}
    error = assert_error(client.put("/api/datasets/ds1/metadata", json=body, headers=writer), 400)
    assert error["details"] == {"fields": ["embargoed"]}


def _without(key: str) -> dict[str, Any]:
    body = publication()
    del body[key]
    return body


def _blob_without(key: str) -> dict[str, Any]:
    item = blob(1)
    del item[key]
    return publication(blobs=[item])


PUBLISH_FIELDS = [
    pytest.param(_without("metadata"), "metadata", id="missing-metadata"),
    pytest.param(_without("blobs"), "blobs", id="missing-blobs"),
    pytest.param(publication(metadata=[]), "metadata", id="metadata-list"),
    pytest.param(publication(version=10), "version", id="version-number"),
    pytest.param(publication(version="bad name"), "version", id="version-pattern"),
    pytest.param(publication(blobs={"key": "k"}), "blobs", id="blobs-object"),
    pytest.param(publication(blobs=["k"]), "blobs[0]", id="blob-string"),
    pytest.param(_blob_without("key"), "blobs[0].key", id="blob-missing-key"),
    pytest.param(_blob_without("size"), "blobs[0].size", id="blob-missing-size"),
    pytest.param(publication(blobs=[blob(1, key=5)]), "blobs[0].key", id="key-number"),
    pytest.param(publication(blobs=[blob(1, key="")]), "blobs[0].key", id="key-empty"),
    pytest.param(publication(blobs=[blob(1, key="k" * 1025)]), "blobs[0].key", id="key-too-long"),
    pytest.param(
        publication(blobs=[blob(1, version_id=None)]), "blobs[0].version_id", id="version-id-null"
    ),
    pytest.param(publication(blobs=[blob(1, sha256="A" * 64)]), "blobs[0].sha256", id="sha-upper"),
    pytest.param(publication(blobs=[blob(1, sha256="a" * 63)]), "blobs[0].sha256", id="sha-short"),
    pytest.param(
        publication(blobs=[blob(1, sha256="a" * 64 + "\n")]), "blobs[0].sha256", id="sha-newline"
    ),
    pytest.param(publication(blobs=[blob(1, sha256=1)]), "blobs[0].sha256", id="sha-number"),
    pytest.param(publication(blobs=[blob(1, size=-1)]), "blobs[0].size", id="size-negative"),
    pytest.param(publication(blobs=[blob(1, size=1.5)]), "blobs[0].size", id="size-float"),
    pytest.param(publication(blobs=[blob(1, size=True)]), "blobs[0].size", id="size-bool"),
    pytest.param(publication(blobs=[blob(1, size="10")]), "blobs[0].size", id="size-string"),
    pytest.param(publication(blobs=[blob(1, size=2**63)]), "blobs[0].size", id="size-too-big"),
    pytest.param(publication(blobs=[blob(1), blob(2), blob(1)]), "blobs[2]", id="blob-twice"),
]


@pytest.mark.parametrize(("body", "field"), PUBLISH_FIELDS)
def test_publish_field_errors_name_the_field(
    client: FlaskClient, writer: dict[str, str], runtime: Runtime, body: dict[str, Any], field: str
) -> None:
    before = row_counts(runtime)
    answer = client.post("/api/datasets/ds1/versions", json=body, headers=writer)
    error = assert_error(answer, 400, "invalid_input")
    assert error["details"]["field"] == field
    assert field in error["message"]
    assert row_counts(runtime) == before


def test_publish_blob_unknown_field_is_named(client: FlaskClient, writer: dict[str, str]) -> None:
    body = publication(blobs=[blob(1, md5="x")])
    error = assert_error(client.post("/api/datasets/ds1/versions", json=body, headers=writer), 400)
    assert error["details"] == {"field": "blobs[0]", "fields": ["md5"]}


def test_publish_unknown_top_level_field_is_named(
    client: FlaskClient, writer: dict[str, str]
) -> None:
    body = publication(name="1.0")
    error = assert_error(client.post("/api/datasets/ds1/versions", json=body, headers=writer), 400)
    assert error["details"] == {"fields": ["name"]}


def test_nul_in_a_path_is_refused(client: FlaskClient, writer: dict[str, str]) -> None:
    assert_error(client.get("/api/datasets/ds%001", headers=writer), 400, "invalid_input")


def test_an_oversized_body_is_a_json_413(
    make_runtime: Callable[..., Runtime],
    make_client: Callable[[Runtime], FlaskClient],
    bearer: Bearer,
) -> None:
    client = make_client(make_runtime(MAX_CONTENT_LENGTH="1000"))
    body = {"id": "ds2", "metadata": {"titles": [{"title": "x" * 2000}]}}
    answer = client.post("/api/datasets", json=body, headers=bearer("write"))
    assert_error(answer, 413, "request_entity_too_large")


def test_metadata_and_blob_count_limits_are_413_naming_the_variable(
    make_runtime: Callable[..., Runtime],
    make_client: Callable[[Runtime], FlaskClient],
    bearer: Bearer,
) -> None:
    runtime = make_runtime(METADATA_MAX_BYTES="300", VERSION_MAX_BLOBS="2")
    client = make_client(runtime)
    writer = bearer("write")
    client.post("/api/datasets", json={"id": "ds1"}, headers=writer)
    before = row_counts(runtime)
    big = {**metadata(), "descriptions": [{"description": "d" * 400}]}
    answer = client.post(
        "/api/datasets/ds1/versions", json=publication(metadata=big), headers=writer
    )
    error = assert_error(answer, 413, "request_entity_too_large")
    assert "METADATA_MAX_BYTES" in error["message"]
    many = publication(blobs=[blob(1), blob(2), blob(3)])
    error = assert_error(client.post("/api/datasets/ds1/versions", json=many, headers=writer), 413)
    assert "VERSION_MAX_BLOBS" in error["message"]
    assert error["details"] == {"field": "blobs", "limit": 2}
    assert row_counts(runtime) == before


def test_an_error_never_echoes_a_huge_input(client: FlaskClient, writer: dict[str, str]) -> None:
    # A 100 kB id, and a 100 kB sha256: each refusal names the field, not the whole input
    huge = "x" * 100_000
    for answer in (
        client.post("/api/datasets", json={"id": huge}, headers=writer),
        client.post(
            "/api/datasets/ds1/versions",
            json=publication(blobs=[blob(1, sha256=huge)]),
            headers=writer,
        ),
        client.get(f"/api/datasets/{huge}", headers=writer),
    ):
        assert answer.status_code in (400, 404), answer.status_code
        assert len(answer.get_data()) < 2_000
