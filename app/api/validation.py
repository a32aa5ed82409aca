"""Request bodies, checked against the JSON Schemas the OpenAPI document publishes.

One source of truth: `app.api.schemas.REQUESTS` is both what `/api/openapi.json`
describes and what a body must satisfy here. The first error is turned into one
message naming its field, in the API's error envelope. Checks happen before any
transaction opens, so a refused request changes nothing.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import Any

from flask import request
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from app.api.errors import ApiError
from app.api.schemas import REQUESTS, Schema
from app.services.errors import InvalidInputError

MAX_DEPTH = 64  # deeper documents are refused before they reach the JSON encoder
REF_PREFIX = "#/components/schemas/"
KINDS = {
    "object": "a JSON object",
    "array": "a list",
    "string": "a string",
    "boolean": "true or false",
    "integer": "an integer",
    "number": "a number",
    "null": "null",
}


def read_body(schema_name: str, *, may_be_empty: bool = False) -> dict[str, Any]:
    """The request body's JSON object, valid against REQUESTS[schema_name], else a 400."""
    body = _parse_json(may_be_empty=may_be_empty)
    if not isinstance(body, dict):
        raise InvalidInputError(
            f"the request body must be a JSON object, not {_kind(body)}", {"field": None}
        )
    error = next(_errors(schema_name, body), None)
    if error is not None:
        raise _explain(error)
    if "blobs" in body:
        _check_blob_versions_once(body["blobs"])
    return body


def path_text(field: str, value: str) -> str:
    """A URL segment Postgres can compare (no NUL, valid UTF-8), else 400."""
    if "\x00" in value or not _encodable(value):
        raise InvalidInputError(
            f"{field} contains characters that cannot be stored", {"field": field}
        )
    return value


def _errors(schema_name: str, body: dict[str, Any]) -> Iterator[ValidationError]:
    """Errors in document order: the first one a person meets is the one reported."""
    found = _validator(schema_name).iter_errors(body)
    return iter(sorted(found, key=lambda e: [str(p) for p in e.absolute_path]))


@functools.cache
def _validator(schema_name: str) -> Draft202012Validator:
    return _ECMA_VALIDATOR(_inline(REQUESTS[schema_name]))


def _inline(schema: Any) -> Any:
    """The schema with its component references replaced by the components themselves."""
    if isinstance(schema, dict):
        target = schema.get("$ref")
        if isinstance(target, str) and target.startswith(REF_PREFIX):
            return _inline(REQUESTS[target.removeprefix(REF_PREFIX)])
        return {key: _inline(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_inline(item) for item in schema]
    return schema


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Schema) -> Iterator[Any]:
    # JSON Schema patterns are ECMA-262, where `$` never matches before a trailing
    # newline; Python's does, and would let "name\n" through.
    if isinstance(instance, str) and not re.search(_ecma(pattern), instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@functools.cache
def _ecma(pattern: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"(?<!\\)\$$", r"\\Z", pattern))


_ECMA_VALIDATOR = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})


def _explain(error: ValidationError) -> InvalidInputError:
    """One message a person can act on, naming the field, as the API has always said it."""
    field = _field(error.absolute_path)
    keyword, schema = error.validator, error.schema
    if keyword == "oneOf" and error.instance is not None:
        # A nullable field given a value: what the value itself got wrong is the news.
        inner = [e for e in error.context or [] if e.validator != "type"]
        if inner:
            return _explain(inner[0])
    if keyword == "additionalProperties":
        return _unknown_fields(field, error)
    if keyword == "required":
        name = str(error.message).split("'")[1]
        path = f"{field}.{name}" if field else name
        where = f"field {name!r}" if not field else path
        return InvalidInputError(f"{where} is required", {"field": path})
    shown = field or "the body"
    if keyword == "type" or keyword == "oneOf":
        expected = schema.get("x-expected") or _expected(schema)
        return InvalidInputError(
            f"field {shown!r} must be {expected}, not {_kind(error.instance)}", {"field": field}
        )
    expected = schema.get("x-expected") or _bound(keyword, schema)
    return InvalidInputError(f"field {shown!r} must be {expected}", {"field": field})


def _unknown_fields(field: str, error: ValidationError) -> InvalidInputError:
    allowed = list(error.schema.get("properties", {}))
    unknown = sorted(set(error.instance) - set(allowed))
    names = ", ".join(map(repr, unknown))
    if not field:
        message = f"unknown field(s) {names}; allowed: {', '.join(map(repr, allowed))}"
        return InvalidInputError(message, {"fields": unknown})
    message = f"{field} has unknown field(s) {names}; allowed: {', '.join(allowed)}"
    return InvalidInputError(message, {"field": field, "fields": unknown})


def _field(path: Any) -> str:
    """`blobs[0].key` for the path ["blobs", 0, "key"]."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _expected(schema: Schema) -> str:
    if "oneOf" in schema:
        return " or ".join(_expected(option) for option in schema["oneOf"])
    kind = schema.get("type")
    return KINDS.get(kind, str(kind)) if isinstance(kind, str) else "a valid value"


def _bound(keyword: str, schema: Schema) -> str:
    if keyword in ("minLength", "maxLength"):
        return f"1 to {schema.get('maxLength')} characters long"
    if keyword in ("minimum", "maximum"):
        return f"between {schema.get('minimum')} and {schema.get('maximum')}"
    if keyword == "pattern":
        return f"text matching {schema['pattern']}"
    return f"valid ({keyword})"


def _check_blob_versions_once(blobs: list[dict[str, Any]]) -> None:
    """No S3 object version twice in one publication (not expressible in JSON Schema)."""
    seen: set[tuple[str, str]] = set()
    for index, blob in enumerate(blobs):
        identity = (blob["key"], blob["version_id"])
        if identity in seen:
            raise InvalidInputError(
                f"blobs[{index}] repeats key {blob['key']!r} version {blob['version_id']!r}",
                {"field": f"blobs[{index}]"},
            )
        seen.add(identity)


def _parse_json(*, may_be_empty: bool) -> Any:
    raw = request.get_data(cache=True)
    if not raw.strip():
        if may_be_empty:
            return {}
        raise InvalidInputError("the request body is empty; send a JSON object", {"field": None})
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:
        raise ApiError(
            400, "invalid_json", f"the request body is not valid JSON: {error}"
        ) from None
    _check_storable(body)
    return body


def _refuse_constant(name: str) -> None:
    # NaN and Infinity are not JSON, and Postgres refuses them in jsonb.
    raise ValueError(f"{name} is not a JSON number")


def _check_storable(document: Any) -> None:
    """Refuse what Postgres cannot store (NUL, lone surrogates) and absurd nesting; iterative."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ApiError(
                400, "invalid_json", f"the request body nests deeper than {MAX_DEPTH} levels"
            )
        if isinstance(node, dict):
            stack.extend((key, depth) for key in node)
            stack.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node)
        elif isinstance(node, str) and ("\x00" in node or not _encodable(node)):
            raise ApiError(
                400,
                "invalid_json",
                "the request body holds a NUL character or an unpaired surrogate",
            )


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    names = {dict: "an object", list: "a list", str: "a string", type(None): "null"}
    return names.get(type(value), "a number")
