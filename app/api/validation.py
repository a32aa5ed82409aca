"""Request bodies: parsed strictly, every field checked, each error naming its field.

Checks happen before any transaction opens, so a refused request changes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from flask import request

from app.api.errors import ApiError
from app.services.errors import InvalidInputError

Check = Callable[[str, Any], Any]

SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_TEXT = 1024  # the width of the blob key and version id columns
MAX_SIZE = 2**63 - 1  # a Postgres bigint
MAX_DEPTH = 64  # deeper documents are refused before they reach the JSON encoder
BLOB_FIELDS = ("key", "version_id", "sha256", "size")


def read_body(
    required: Mapping[str, Check],
    optional: Mapping[str, Check] | None = None,
    *,
    may_be_empty: bool = False,
) -> dict[str, Any]:
    """The request body's JSON object, fields checked; absent optional fields stay absent."""
    optional = optional or {}
    body = _parse_json(may_be_empty=may_be_empty)
    if not isinstance(body, dict):
        raise InvalidInputError(
            f"the request body must be a JSON object, not {_kind(body)}", {"field": None}
        )
    unknown = sorted(set(body) - set(required) - set(optional))
    if unknown:
        allowed = ", ".join(repr(name) for name in [*required, *optional])
        raise InvalidInputError(
            f"unknown field(s) {', '.join(map(repr, unknown))}; allowed: {allowed}",
            {"fields": unknown},
        )
    for name in required:
        if name not in body:
            raise InvalidInputError(f"field {name!r} is required", {"field": name})
    checks = {**required, **optional}
    return {name: checks[name](name, value) for name, value in body.items()}


def path_text(field: str, value: str) -> str:
    """A URL segment Postgres can compare (no NUL, valid UTF-8), else 400."""
    if "\x00" in value or not _encodable(value):
        raise InvalidInputError(
            f"{field} contains characters that cannot be stored", {"field": field}
        )
    return value


def text(field: str, value: Any) -> str:
    """A JSON string."""
    if not isinstance(value, str):
        raise _wrong_type(field, "a string", value)
    return value


def optional_text(field: str, value: Any) -> str | None:
    """A JSON string, or null meaning absent."""
    return None if value is None else text(field, value)


def boolean(field: str, value: Any) -> bool:
    """true or false."""
    if not isinstance(value, bool):
        raise _wrong_type(field, "true or false", value)
    return value


def json_object(field: str, value: Any) -> dict[str, Any]:
    """A JSON object (DataCite attributes)."""
    if not isinstance(value, dict):
        raise _wrong_type(field, "a JSON object", value)
    return value


def blob_list(field: str, value: Any) -> list[dict[str, Any]]:
    """A list of `{"key", "version_id", "sha256", "size"}` objects, no S3 object version twice."""
    if not isinstance(value, list):
        raise _wrong_type(field, "a list of blob objects", value)
    blobs = [_blob(f"{field}[{index}]", item) for index, item in enumerate(value)]
    seen: set[tuple[str, str]] = set()
    for index, blob in enumerate(blobs):
        identity = (blob["key"], blob["version_id"])
        if identity in seen:
            raise InvalidInputError(
                f"{field}[{index}] repeats key {blob['key']!r} version {blob['version_id']!r}",
                {"field": f"{field}[{index}]"},
            )
        seen.add(identity)
    return blobs


def _blob(field: str, item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise _wrong_type(field, "a blob object", item)
    unknown = sorted(set(item) - set(BLOB_FIELDS))
    if unknown:
        names = ", ".join(map(repr, unknown))
        raise InvalidInputError(
            f"{field} has unknown field(s) {names}; allowed: {', '.join(BLOB_FIELDS)}",
            {"field": field, "fields": unknown},
        )
    for name in BLOB_FIELDS:
        if name not in item:
            raise InvalidInputError(f"{field}.{name} is required", {"field": f"{field}.{name}"})
    return {
        "key": _bounded_text(f"{field}.key", item["key"]),
        "version_id": _bounded_text(f"{field}.version_id", item["version_id"]),
        "sha256": _sha256(f"{field}.sha256", item["sha256"]),
        "size": _size(f"{field}.size", item["size"]),
    }


def _bounded_text(field: str, value: Any) -> str:
    value = text(field, value)
    if not 0 < len(value) <= MAX_TEXT:
        raise InvalidInputError(
            f"{field} must be 1 to {MAX_TEXT} characters long", {"field": field}
        )
    return value


def _sha256(field: str, value: Any) -> str:
    if not isinstance(value, str) or not SHA256.fullmatch(value):
        raise InvalidInputError(
            f"{field} must be 64 lowercase hexadecimal digits", {"field": field}
        )
    return value


def _size(field: str, value: Any) -> int:
    # bool is an int in Python; `true` is not a size.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SIZE:
        raise InvalidInputError(f"{field} must be a non-negative integer (bytes)", {"field": field})
    return value


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


def _wrong_type(field: str, expected: str, value: Any) -> InvalidInputError:
    return InvalidInputError(
        f"field {field!r} must be {expected}, not {_kind(value)}", {"field": field}
    )


def _kind(value: Any) -> str:
    names = {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
    }
    if isinstance(value, bool):
        return "a boolean"
    return names.get(type(value), "a number")
