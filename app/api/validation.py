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

from flask import current_app, request
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

from app.api.context import EXTENSION
from app.api.errors import ApiError
from app.api.schemas import QUERIES, REQUESTS, Schema
from app.config import Settings
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
    _check_limits(body)
    if "blobs" in body:
        _check_blob_versions_once(body["blobs"])
    return body


def is_json_mimetype(mimetype: str) -> bool:
    """`application/json`, or a `+json` type such as `application/vnd.api+json`."""
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def _check_limits(body: dict[str, Any]) -> None:
    """METADATA_MAX_BYTES and VERSION_MAX_BLOBS: a 413 naming the limit and the variable."""
    runtime = current_app.extensions.get(EXTENSION)
    # Outside an app create_app built (the schema's own unit tests): the defaults.
    settings = runtime.settings if runtime is not None else Settings(database_url="")
    blobs = body.get("blobs")
    if isinstance(blobs, list) and len(blobs) > settings.version_max_blobs:
        raise too_large(
            f"a version may reference at most {settings.version_max_blobs} blobs, "
            f"not {len(blobs)} (VERSION_MAX_BLOBS)",
            {"field": "blobs", "limit": settings.version_max_blobs},
        )
    if "metadata" in body:
        size = len(json.dumps(body["metadata"], separators=(",", ":"), ensure_ascii=False).encode())
        if size > settings.metadata_max_bytes:
            raise too_large(
                f"the metadata is {size} bytes of JSON, more than the "
                f"{settings.metadata_max_bytes} allowed (METADATA_MAX_BYTES)",
                {"field": "metadata", "limit": settings.metadata_max_bytes},
            )


def too_large(message: str, details: Any) -> ApiError:
    """A 413 in the API's envelope."""
    return ApiError(413, "request_entity_too_large", message, details)


def read_query(name: str) -> dict[str, Any]:
    """The query string's parameters, typed and valid against QUERIES[name], else a 400.

    An unknown parameter is refused too: a misspelt filter must not silently list everything.
    """
    schemas = QUERIES[name]
    unknown = sorted(set(request.args) - set(schemas))
    if unknown:
        raise InvalidInputError(
            f"unknown query parameter(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(map(repr, schemas))}",
            {"fields": unknown},
        )
    values: dict[str, Any] = {}
    for field, schema in schemas.items():
        texts = request.args.getlist(field)
        if not texts:
            continue
        if len(texts) > 1:
            raise InvalidInputError(f"query parameter {field!r} is given twice", {"field": field})
        value = _typed(field, texts[0], schema)
        error = next(iter(_ECMA_VALIDATOR(schema).iter_errors(value)), None)
        if error is not None:
            expected = schema.get("x-expected") or _bound(str(error.validator), schema)
            if error.validator == "enum":
                expected = "one of " + ", ".join(schema["enum"])
            raise InvalidInputError(
                f"query parameter {field!r} must be {expected}", {"field": field}
            )
        values[field] = value
    return values


def _typed(field: str, text: str, schema: Schema) -> Any:
    path_text(field, text)
    kind = schema.get("type")
    if kind == "boolean":
        if text not in ("true", "false"):
            raise InvalidInputError(
                f"query parameter {field!r} must be true or false", {"field": field}
            )
        return text == "true"
    if kind == "integer":
        if not re.fullmatch(r"-?[0-9]{1,18}", text):
            expected = schema.get("x-expected", "an integer")
            raise InvalidInputError(
                f"query parameter {field!r} must be {expected}", {"field": field}
            )
        return int(text)
    return text


def path_text(field: str, value: str) -> str:
    """A URL segment Postgres can compare (no NUL, valid UTF-8), else 400."""
    if "\x00" in value or not _encodable(value):
        raise InvalidInputError(
            f"{field} contains characters that cannot be stored", {"field": field}
        )
    return value


def _errors(schema_name: str, body: dict[str, Any]) -> Iterator[ValidationError]:
    """Errors in document order: the first one a person meets is the one reported."""
    if _plainly_valid(schema_name, body):
        return iter(())
    found = _validator(schema_name).iter_errors(body)
    return iter(sorted(found, key=lambda e: [str(p) for p in e.absolute_path]))


def _plainly_valid(schema_name: str, body: dict[str, Any]) -> bool:
    """A fast verdict for a body with many blobs: True only when the schema accepts it.

    jsonschema takes a second over 10,000 blob references; each blob is checked here by
    a plain predicate built from the same Blob schema, and the rest of the body (the list
    emptied) by jsonschema. Anything the predicate doubts goes to the full validation,
    which decides and explains, so the verdict never differs from the schema's.
    """
    blobs = body.get("blobs")
    blob_check = _blob_check()
    if not isinstance(blobs, list) or len(blobs) < FAST_FROM or blob_check is None:
        return False
    if not all(blob_check(blob) for blob in blobs):
        return False
    return next(iter(_validator(schema_name).iter_errors({**body, "blobs": []})), None) is None


FAST_FROM = 100  # fewer blobs are quick enough through jsonschema itself
PLAIN_KEYWORDS = {"type", "minLength", "maxLength", "pattern", "minimum", "maximum"}
NOTES = {"description", "x-expected"}


@functools.cache
def _blob_check() -> Any:
    """A predicate equivalent to (or stricter than) REQUESTS["Blob"], or None if it cannot be."""
    schema = REQUESTS["Blob"]
    properties: dict[str, Schema] = schema["properties"]
    if (
        set(schema) - {"type", "properties", "required", "additionalProperties"}
        or set(schema.get("required", [])) != set(properties)
        or schema.get("additionalProperties") is not False
    ):
        return None
    checks = []
    for name, rule in properties.items():
        if set(rule) - PLAIN_KEYWORDS - NOTES or rule.get("type") not in ("string", "integer"):
            return None
        checks.append((name, rule, _ecma(rule["pattern"]) if "pattern" in rule else None))
    names = set(properties)

    def check(blob: Any) -> bool:
        if type(blob) is not dict or blob.keys() != names:
            return False
        for name, rule, pattern in checks:
            value = blob[name]
            if rule["type"] == "string":
                if type(value) is not str:
                    return False
                if not rule.get("minLength", 0) <= len(value) <= rule.get("maxLength", len(value)):
                    return False
                if pattern is not None and not pattern.search(value):
                    return False
            elif type(value) is not int or not (
                rule.get("minimum", value) <= value <= rule.get("maximum", value)
            ):
                return False
        return True

    return check


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
    if not raw.strip() and may_be_empty:
        return {}
    if not is_json_mimetype(request.mimetype):
        shown = request.mimetype or "none"
        raise ApiError(
            415,
            "unsupported_media_type",
            f"the request body must be sent as Content-Type: application/json, not {shown}",
            {"content_type": request.mimetype or None},
        )
    if not raw.strip():
        raise InvalidInputError("the request body is empty; send a JSON object", {"field": None})
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:
        raise ApiError(
            400, "invalid_json", f"the request body is not valid JSON: {error}"
        ) from None
    _check_storable(body, strings=bool(SUSPECT_ESCAPE.search(raw)))
    return body


# A NUL or a surrogate can only reach a parsed string through a \u escape (raw control
# bytes and invalid UTF-8 are refused by the parser), so only a body holding one of these
# escapes needs its every string checked.
SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89abcdefABCDEF])")


def _refuse_constant(name: str) -> None:
    # NaN and Infinity are not JSON, and Postgres refuses them in jsonb.
    raise ValueError(f"{name} is not a JSON number")


def _check_storable(document: Any, *, strings: bool = True) -> None:
    """Refuse what Postgres cannot store (NUL, lone surrogates) and absurd nesting; iterative.

    strings=False: the body has no escape that could make such a string; only depth counts.
    """
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ApiError(
                400, "invalid_json", f"the request body nests deeper than {MAX_DEPTH} levels"
            )
        if isinstance(node, dict):
            if strings:
                stack.extend((key, depth) for key in node)
            stack.extend((v, depth + 1) for v in node.values() if strings or _container(v))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if strings or _container(v))
        elif isinstance(node, str) and ("\x00" in node or not _encodable(node)):
            raise ApiError(
                400,
                "invalid_json",
                "the request body holds a NUL character or an unpaired surrogate",
            )


def _container(value: Any) -> bool:
    return isinstance(value, dict | list)


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
