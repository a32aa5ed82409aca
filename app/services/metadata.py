"""Local checks of DataCite metadata, so a bad publish fails in the API, not in a worker."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from datacite import schema45

SCHEMA_VERSION = "http://datacite.org/schema/kernel-4"
# Set by doiflow itself, or REST-only attributes the kernel-4.5 JSON schema does not
# describe (DataCite's REST API accepts `identifiers` and `contentUrl`).
NOT_VALIDATED = (
    "doi",
    "prefix",
    "suffix",
    "event",
    "url",
    "schemaVersion",
    "identifiers",
    "contentUrl",
)


def normalise(attributes: dict[str, Any]) -> dict[str, Any]:
    """Accept the older shapes DataCite still accepts: publisher as text, year as a number."""
    normal = dict(attributes)
    if isinstance(normal.get("publisher"), str):
        normal["publisher"] = {"name": normal["publisher"]}
    if isinstance(normal.get("publicationYear"), int):
        normal["publicationYear"] = str(normal["publicationYear"])
    return normal


def kernel4_problems(attributes: dict[str, Any], *, complete: bool = True) -> list[dict[str, str]]:
    """Every way `attributes` fails DataCite's kernel-4.5 JSON schema, one entry per field.

    With complete=False (draft metadata) missing top-level properties are allowed, as
    DataCite allows minimal drafts, but whatever is present must have the right shape:
    DataCite checks shapes in every state.
    """
    document = {k: v for k, v in normalise(attributes).items() if k not in NOT_VALIDATED}
    document["schemaVersion"] = SCHEMA_VERSION
    problems: dict[str, str] = {}
    for error in schema45.validator.iter_errors(document):
        if not complete and error.validator == "required" and not error.absolute_path:
            continue
        field = _field_of(error)
        problems.setdefault(field, error.message)
    return [{"field": field, "message": message} for field, message in sorted(problems.items())]


def _field_of(error: Any) -> str:
    path = [str(part) for part in error.absolute_path]
    if not path and error.validator == "required":
        # "'creators' is a required property" → creators
        return str(error.message).split("'")[1]
    return ".".join(path) or "(document)"


def metadata_hash(attributes: dict[str, Any]) -> str:
    """A stable fingerprint of what we would send, to skip calls that change nothing."""
    canonical = json.dumps(attributes, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
