"""The OpenAPI document covers every /api route, is valid 3.1, and matches real answers."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from tests.support.api import publication

Bearer = Callable[[str], dict[str, str]]
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def openapi_path(rule: str) -> str:
    """Flask's `/api/dois/<path:doi>` is OpenAPI's `/api/dois/{doi}`."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def api_routes(app: Flask) -> set[tuple[str, str, str]]:
    """(OpenAPI path, method, endpoint) of every route the app serves under /api."""
    return {
        (openapi_path(rule.rule), method.lower(), rule.endpoint)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api")
        for method in rule.methods or ()
        if method not in IGNORED_METHODS
    }


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    answer = client.get("/api/openapi.json")  # no token needed
    assert answer.status_code == 200
    return answer.get_json()


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_api_route_is_documented_and_nothing_else(
    app: Flask, document: dict[str, Any]
) -> None:
    routes = api_routes(app)
    assert len(routes) >= 13
    documented = {
        (path, method, op["operationId"])
        for path, operations in document["paths"].items()
        if path.startswith("/api")
        for method, op in operations.items()
    }
    assert routes - documented == set(), "routes without documentation"
    assert documented - routes == set(), "documentation without a route"


def test_guarded_operations_declare_scope_and_auth_errors(
    app: Flask, document: dict[str, Any]
) -> None:
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            if op["security"]:
                assert {"401", "403"} <= set(op["responses"]), (path, method)
                assert op["security"][0]["bearer"][0] in {"read", "write", "operator", "admin"}
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
    }
    assert document["paths"]["/api/openapi.json"]["get"]["security"] == []


def test_no_route_is_marked_not_implemented(document: dict[str, Any]) -> None:
    restore = document["paths"]["/api/datasets/{dataset_id}/restore"]["post"]
    assert "501" not in restore["responses"]
    assert "409" in restore["responses"]
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            assert "x-not-implemented" not in op, (path, method)


def conforms(document: dict[str, Any], schema_name: str, instance: Any) -> None:
    """`instance` is valid against the document's component schema `schema_name`."""
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
    Draft202012Validator(schema).validate(instance)


def test_real_answers_match_the_documented_schemas(
    client: FlaskClient, bearer: Bearer, document: dict[str, Any]
) -> None:
    writer = bearer("operator")
    conforms(
        document,
        "Dataset",
        client.post("/api/datasets", json={"id": "ds1"}, headers=writer).get_json(),
    )
    published = client.post(
        "/api/datasets/ds1/versions", json=publication("1.0"), headers=writer
    ).get_json()
    conforms(document, "Publication", published)
    conforms(document, "Dataset", client.get("/api/datasets/ds1", headers=writer).get_json())
    conforms(
        document, "Doi", client.get("/api/dois/10.80507/test.ds1/1.0", headers=writer).get_json()
    )
    conforms(
        document,
        "Job",
        client.get(f"/api/jobs/{published['job']['id']}", headers=writer).get_json(),
    )
    conforms(document, "Health", client.get("/api/health", headers=writer).get_json())
    conforms(document, "Error", client.get("/api/datasets/nope", headers=writer).get_json())
    conforms(document, "Liveness", client.get("/healthz").get_json())
    client.delete("/api/datasets/ds1", headers=writer)
    restored = client.post("/api/datasets/ds1/restore", headers=writer)
    assert restored.status_code == 202
    conforms(document, "Restored", restored.get_json())


def test_documented_request_schemas_accept_the_test_bodies(document: dict[str, Any]) -> None:
    conforms(document, "PublishVersion", publication("1.0"))
    conforms(document, "CreateDataset", {"id": "ds1", "embargoed": True, "metadata": {}})
