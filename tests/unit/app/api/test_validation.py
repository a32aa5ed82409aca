"""Request bodies are judged by the very schemas /api/openapi.json publishes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from app.api.openapi import document
from app.api.validation import read_body
from app.services.errors import InvalidInputError

SHA = "a" * 64
BLOB = {"key": "k", "version_id": "v", "sha256": SHA, "size": 1}
BODIES = [
    ("CreateDataset", {"id": "ds1"}),
    ("CreateDataset", {"id": "ds1", "embargoed": True, "metadata": {}}),
    ("CreateDataset", {"id": "bad name"}),
    ("CreateDataset", {"id": "x" * 65}),
    ("CreateDataset", {"id": "ds1", "embargoed": "yes"}),
    ("CreateDataset", {"id": "ds1", "extra": 1}),
    ("UpdateMetadata", {"metadata": {}}),
    ("UpdateMetadata", {"metadata": []}),
    ("PublishVersion", {"metadata": {}, "blobs": [BLOB]}),
    ("PublishVersion", {"metadata": {}, "blobs": [BLOB], "version": None}),
    ("PublishVersion", {"metadata": {}, "blobs": [{**BLOB, "size": -1}]}),
    ("PublishVersion", {"metadata": {}, "blobs": [{**BLOB, "size": True}]}),
    ("PublishVersion", {"metadata": {}, "blobs": [{**BLOB, "sha256": SHA.upper()}]}),
    ("PublishVersion", {"metadata": {}, "blobs": [{**BLOB, "key": ""}]}),
    ("PublishVersion", {"metadata": {}}),
    ("Retry", {}),
    ("Retry", {"reason": 5}),
]


def _published_validator(name: str) -> Draft202012Validator:
    """A stock validator over the served OpenAPI document itself, references and all."""
    spec = Resource.from_contents(document(), default_specification=DRAFT202012)
    registry: Registry = Registry().with_resource("urn:doiflow:openapi", spec)
    schema = {"$ref": f"urn:doiflow:openapi#/components/schemas/{name}"}
    return Draft202012Validator(schema, registry=registry)


def _accepted(name: str, body: dict[str, Any]) -> bool:
    with Flask(__name__).test_request_context(
        data=json.dumps(body), content_type="application/json"
    ):
        try:
            read_body(name)
        except InvalidInputError:
            return False
    return True


@pytest.mark.parametrize(("name", "body"), BODIES)
def test_the_api_accepts_exactly_what_the_published_schema_accepts(
    name: str, body: dict[str, Any]
) -> None:
    assert _accepted(name, body) == _published_validator(name).is_valid(body)


def test_a_name_with_a_trailing_newline_is_refused_though_python_regex_would_pass_it() -> None:
    # ECMA-262 `$` (JSON Schema's) never matches before a final newline; Python's does.
    assert not _accepted("CreateDataset", {"id": "ds1\n"})


MANY = 150  # above validation.FAST_FROM: the bodies take the fast path first
BAD_BLOBS = [
    {**BLOB, "size": -1},
    {**BLOB, "size": True},
    {**BLOB, "size": 1.5},
    {**BLOB, "size": 2**63},
    {**BLOB, "sha256": SHA.upper()},
    {**BLOB, "key": ""},
    {**BLOB, "key": "k" * 1025},
    {**BLOB, "version_id": 7},
    {**BLOB, "extra": 1},
    {k: v for k, v in BLOB.items() if k != "size"},
    "not a blob",
]


@pytest.mark.parametrize("bad", [None, *BAD_BLOBS])
def test_the_fast_path_for_many_blobs_agrees_with_the_published_schema(bad: Any) -> None:
    blobs: list[Any] = [{**BLOB, "key": f"k{n}"} for n in range(MANY)]
    if bad is not None:
        blobs[MANY // 2] = bad
    for body in ({"metadata": {}, "blobs": blobs}, {"metadata": [], "blobs": blobs}):
        expected = _published_validator("PublishVersion").is_valid(body)
        assert _accepted("PublishVersion", body) == expected, (bad, body["metadata"])


def test_the_fast_path_refuses_a_trailing_newline_as_ecma_262_does() -> None:
    blobs = [{**BLOB, "key": f"k{n}"} for n in range(MANY)]
    blobs[3] = {**BLOB, "sha256": SHA + "\n"}
    assert not _accepted("PublishVersion", {"metadata": {}, "blobs": blobs})
