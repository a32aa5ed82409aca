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
    if complete:
        for field in blank_required_values(document):
            problems.setdefault(field, BLANK_MESSAGE)
    return [{"field": field, "message": message} for field, message in sorted(problems.items())]


BLANK_MESSAGE = "must not be empty or only whitespace"


def blank_required_values(document: dict[str, Any]) -> list[str]:
    """The required texts that are empty or whitespace: titles, creator names, publisher.

    DataCite's XML schema types titles and creator names as plain strings, so it accepts
    "" and " " and a findable DOI would cite them forever; a publisher of "" it refuses,
    but only once the DOI leaves draft, in a worker. Both are refused here, at publish.
    """
    fields = []
    for name, key in (("titles", "title"), ("creators", "name")):
        items = document.get(name)
        for index, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, dict) and _blank(item.get(key)):
                fields.append(f"{name}.{index}.{key}")
    publisher = document.get("publisher")
    if isinstance(publisher, dict) and _blank(publisher.get("name")):
        fields.append("publisher")
    return fields


def _blank(value: Any) -> bool:
    return isinstance(value, str) and not value.strip()


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


# DataCite answers these in its own form (schemaVersion as a URI, the DOI's case).
NOT_COMPARED = frozenset({"schemaVersion", "doi", "event"})


def remote_holds(remote: dict[str, Any], desired: dict[str, Any]) -> bool:
    """True when DataCite's record already carries every desired attribute.

    DataCite adds to what it was sent (empty `affiliation` lists, derived `types`,
    `publisher` as plain text, `publicationYear` as a number), so this is a subset
    match that knows those forms; anything else that differs means "send again".
    """
    return all(_within(remote.get(k), v) for k, v in desired.items() if k not in NOT_COMPARED)


def _within(remote: Any, wanted: Any) -> bool:
    if isinstance(wanted, dict):
        if set(wanted) == {"name"} and isinstance(remote, str):
            return remote == wanted["name"]  # publisher as text (no ?publisher=true)
        return isinstance(remote, dict) and all(
            _within(remote.get(k), v) for k, v in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(remote, list)
            and len(remote) == len(wanted)
            and all(_within(r, w) for r, w in zip(remote, wanted, strict=True))
        )
    if isinstance(wanted, str) and isinstance(remote, int) and not isinstance(remote, bool):
        return wanted == str(remote)  # publicationYear "2026" comes back as 2026
    return bool(remote == wanted)
