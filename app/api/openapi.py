"""The OpenAPI 3.1 document of every route; a test fails when a route is left out."""

from __future__ import annotations

import functools
from typing import Any

from flask.typing import ResponseReturnValue

from app.api.blueprint import bp
from app.api.schemas import ANSWERS, REQUESTS, Schema, ref

Operation = dict[str, Any]

ERRORS = {
    "400": (
        "BadRequest",
        "invalid input: the body is not JSON, not an object, "
        "or a field is missing, unknown or ill-typed",
    ),
    "401": (
        "Unauthorized",
        "no bearer token, or an unknown or revoked one (`WWW-Authenticate: Bearer`)",
    ),
    "403": ("Forbidden", "the token lacks the required scope"),
    "404": ("NotFound", "no such dataset, version, DOI or job"),
    "409": (
        "Conflict",
        "the request conflicts with the current state (exists already, deleted, not failed…)",
    ),
    "422": (
        "Unprocessable",
        "the metadata is not valid DataCite kernel-4 metadata; `details` lists the fields",
    ),
    "501": ("NotImplemented", "not implemented yet; nothing was changed"),
    "502": ("BadGateway", "S3 answered an error; nothing was changed"),
    "503": ("Unavailable", "the database (or S3) is unavailable; retry later"),
}
PATH_PARAMETERS = {
    "dataset_id": "the archive's dataset identifier",
    "version": "the version name",
    "doi": "a DOI as `10.x/y`, `doi:10.x/y` or `https://doi.org/10.x/y`, any case; "
    "its slashes stay unescaped",
    "job_id": "the job id from a publish answer",
    "key": "the S3 object key; its slashes stay unescaped",
}


def _path_parameter(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": PATH_PARAMETERS[name],
        "schema": {"type": "integer"} if name == "job_id" else {"type": "string"},
    }


def _error_responses() -> dict[str, Any]:
    return {name: _json_response(text, ref("Error")) for name, text in ERRORS.values()}


def _json_response(description: str, schema: Schema) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def operation(
    name: str,
    summary: str,
    *,
    scope: str | None,
    answer: tuple[int, str | None],
    errors: tuple[int, ...] = (),
    body: str | None = None,
    body_required: bool = True,
) -> Operation:
    """One operation; `name` is the Flask endpoint, so the test can match them up."""
    status, schema = answer
    responses: dict[str, Any] = {
        str(status): _json_response(summary, ref(schema)) if schema else {"description": summary}
    }
    for code in sorted({*((401, 403) if scope else ()), *errors, 503}):
        responses[str(code)] = {"$ref": f"#/components/responses/{ERRORS[str(code)][0]}"}
    op: Operation = {"operationId": name, "summary": summary, "responses": responses}
    op["security"] = [{"bearer": [scope]}] if scope else []
    if scope:
        op["description"] = (
            f"Needs a token with the `{scope}` scope (read < write < operator < admin)."
        )
    if body:
        op["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": ref(body)}},
        }
    return op


def with_parameters(path: str, op: Operation, query: tuple[str, ...] = ()) -> Operation:
    """`op` with its path parameters (taken from `path`) and required query parameters."""
    names = [name for name in PATH_PARAMETERS if "{" + name + "}" in path]
    parameters = [_path_parameter(name) for name in names]
    parameters += [
        {"name": n, "in": "query", "required": True, "schema": {"type": "string"}} for n in query
    ]
    return {**op, "parameters": parameters} if parameters else op


def health_operation() -> Operation:
    """Health answers 503 with its own shape, not the error envelope, and even without a token."""
    op = operation(
        "api.health",
        "Readiness: 200, or 503 listing the problems",
        scope="read",
        answer=(200, "Health"),
    )
    op["responses"]["503"] = _json_response(
        "problems, listed (also without checking the token when the database is unreachable)",
        ref("Health"),
    )
    return op


# Every documented route, by OpenAPI path and lower-case method.
OPERATIONS: dict[str, dict[str, Operation]] = {
    "/api/datasets": {
        "post": operation(
            "api.create_dataset",
            "Create a dataset (422 when metadata fields have the wrong kernel-4 shape)",
            scope="write",
            answer=(201, "Dataset"),
            errors=(400, 409, 422),
            body="CreateDataset",
        ),
    },
    "/api/datasets/{dataset_id}": {
        "get": operation(
            "api.get_dataset",
            "A dataset with its concept DOI and versions",
            scope="read",
            answer=(200, "Dataset"),
            errors=(400, 404),
        ),
        "delete": operation(
            "api.delete_dataset",
            "Delete a dataset (drafts deleted, findable DOIs hidden)",
            scope="write",
            answer=(202, "Dataset"),
            errors=(400, 404, 409),
        ),
    },
    "/api/datasets/{dataset_id}/metadata": {
        "put": operation(
            "api.update_metadata",
            "Replace the draft metadata (422 when fields have the wrong kernel-4 shape)",
            scope="write",
            answer=(200, "Dataset"),
            errors=(400, 404, 409, 422),
            body="UpdateMetadata",
        ),
    },
    "/api/datasets/{dataset_id}/unembargo": {
        "post": operation(
            "api.unembargo",
            "Lift the embargo; the concept DOI is created as a draft",
            scope="write",
            answer=(202, "Dataset"),
            errors=(400, 404, 409),
        ),
    },
    "/api/datasets/{dataset_id}/versions": {
        "post": operation(
            "api.publish_version",
            "Publish a version; follow the job for progress",
            scope="write",
            answer=(202, "Publication"),
            errors=(400, 404, 409, 422),
            body="PublishVersion",
        ),
    },
    "/api/datasets/{dataset_id}/versions/{version}": {
        "delete": operation(
            "api.delete_version",
            "Delete a version; its DOI is hidden",
            scope="write",
            answer=(202, "Dataset"),
            errors=(400, 404, 409),
        ),
    },
    "/api/datasets/{dataset_id}/restore": {
        "post": operation(
            "api.restore_dataset",
            "Restore a deleted dataset within STASH_RETENTION_SECONDS; its DOIs are driven "
            "back through the outbox (409 after the retention, without a stash, or when the "
            "id was reused)",
            scope="write",
            answer=(202, "Restored"),
            errors=(400, 404, 409),
        ),
    },
    "/api/datasets/{dataset_id}/versions/{version}/restore": {
        "post": operation(
            "api.restore_version",
            "Restore one deleted version of a live dataset within STASH_RETENTION_SECONDS; "
            "its DOI is published again, the concept follows the latest version",
            scope="write",
            answer=(202, "Restored"),
            errors=(400, 404, 409),
        ),
    },
    "/api/dois/{doi}": {
        "get": operation(
            "api.get_doi",
            "A DOI with its state, target, attempts, last error, history and stashes",
            scope="read",
            answer=(200, "Doi"),
            errors=(400, 404),
        ),
    },
    "/api/dois/{doi}/retry": {
        "post": operation(
            "api.retry_doi",
            "Re-drive a failed DOI",
            scope="operator",
            answer=(202, "Doi"),
            errors=(400, 404, 409),
            body="Retry",
            body_required=False,
        ),
    },
    "/api/jobs/{job_id}": {
        "get": operation(
            "api.get_job",
            "A publish job with its steps",
            scope="read",
            answer=(200, "Job"),
            errors=(404,),
        ),
    },
    "/api/jobs/{job_id}/retry": {
        "post": operation(
            "api.retry_job",
            "Re-drive a failed job from where it stopped, optionally with corrected blob records",
            scope="operator",
            answer=(202, "Job"),
            errors=(400, 404, 409),
            body="RetryJob",
            body_required=False,
        ),
    },
    "/api/blobs/{key}": {
        "delete": operation(
            "api.delete_blob",
            "Delete exactly one blob version in S3 (409 while it is published or held)",
            scope="write",
            answer=(204, None),
            errors=(400, 404, 409, 502),
        ),
    },
    "/api/holds/release": {
        "post": operation(
            "api.release_hold",
            "Release one blob version's legal hold: the backdoor, reason required, audit-logged",
            scope="admin",
            answer=(202, "Hold"),
            errors=(400, 404, 409),
            body="ReleaseHold",
        ),
    },
    "/api/health": {"get": health_operation()},
    "/api/openapi.json": {
        "get": operation("api.openapi_document", "This document", scope=None, answer=(200, None)),
    },
    "/healthz": {
        "get": operation(
            "healthz", "Liveness (no database, no token)", scope=None, answer=(200, "Liveness")
        ),
    },
}
QUERY_PARAMETERS = {"/api/blobs/{key}": ("version_id",)}


def paths() -> dict[str, dict[str, Operation]]:
    """OPERATIONS with their parameters."""
    return {
        path: {
            method: with_parameters(path, op, QUERY_PARAMETERS.get(path, ()))
            for method, op in ops.items()
        }
        for path, ops in OPERATIONS.items()
    }


@functools.cache
def document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document (built once per process)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "doiflow API",
            "version": "1",
            "description": "Keeps an archive's DataCite DOIs and S3 legal holds in step with its "
            'datasets. Every error answers {"error": {"code", "message", "details"}}.',
        },
        "paths": paths(),
        "components": {
            "schemas": {**ANSWERS, **REQUESTS},
            "responses": _error_responses(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


@bp.get("/openapi.json")
def openapi_document() -> ResponseReturnValue:
    """The OpenAPI document; no token needed."""
    return document()
