"""JSON:API documents shaped like DataCite's: DOI resources and error bodies."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from http import HTTPStatus

from werkzeug.wrappers import Response

from ops.sandbox.store import FINDABLE, DoiRecord

JSONAPI = "application/vnd.api+json; charset=utf-8"
DEFAULT_SCHEMA = "http://datacite.org/schema/kernel-4"

# lupo's fixed error titles.
BAD_CREDENTIALS = "Bad credentials."
FORBIDDEN = "You are not authorized to access this resource."
NOT_FOUND = "The resource you are looking for doesn't exist."
NO_PAYLOAD = "You need to provide a payload following the JSONAPI spec"
TAKEN = "This DOI has already been taken"

_LISTS = (
    "identifiers",
    "creators",
    "titles",
    "subjects",
    "contributors",
    "dates",
    "relatedIdentifiers",
    "relatedItems",
    "sizes",
    "formats",
    "rightsList",
    "descriptions",
    "geoLocations",
    "fundingReferences",
)
_COUNTS = (
    "viewCount",
    "downloadCount",
    "referenceCount",
    "citationCount",
    "partCount",
    "partOfCount",
    "versionCount",
    "versionOfCount",
)
_RELATIONS = ("media", "references", "citations", "parts", "partOf", "versions", "versionOf")
# What DataCite derives into `types` from resourceTypeGeneral (bolognese's mapping).
_DERIVED_TYPES = {
    "Dataset": ("Dataset", "dataset", "misc", "DATA"),
    "Software": ("SoftwareSourceCode", "article", "misc", "COMP"),
    "Text": ("ScholarlyArticle", "article-journal", "article", "RPRT"),
    "JournalArticle": ("ScholarlyArticle", "article-journal", "article", "JOUR"),
    "Collection": ("Collection", "article", "misc", "GEN"),
    "Image": ("ImageObject", "graphic", "misc", "FIGURE"),
}
_OTHER_TYPES = ("CreativeWork", "article", "misc", "GEN")


def json_response(body: object, status: int = 200, headers: dict | None = None) -> Response:
    """Serialize `body` as a JSON:API answer."""
    return Response(json.dumps(body), status=status, headers=headers, content_type=JSONAPI)


def error_response(status: int, title: str, headers: dict | None = None) -> Response:
    """Answer with DataCite's plain error shape: status and title."""
    body = {"errors": [{"status": str(status), "title": title}]}
    return json_response(body, status, headers)


def validation_response(errors: list[dict], uid: str | None) -> Response:
    """Answer 422 with lupo's serialize_errors shape: source, title, uid (never status)."""
    extra = {"uid": uid} if uid is not None else {}
    body = {"errors": [{"source": e["source"], "title": e["title"], **extra} for e in errors]}
    return json_response(body, 422)


def taken_response(uid: str) -> Response:
    """Answer 422 for a DOI that already exists: a model error, so no `status` member."""
    # lupo's `validates_uniqueness_of :doi` goes through serialize_errors like any other.
    return validation_response([{"source": "doi", "title": TAKEN}], uid)


def canned_response(respond: dict) -> Response:
    """Build the answer a `respond` fault rule describes."""
    status = respond["status"]
    body = respond.get("body")
    content_type = respond.get("content_type")
    if body is None and status >= 400:
        body = {"errors": [{"status": str(status), "title": status_title(status)}]}
    if isinstance(body, dict | list):
        text, content_type = json.dumps(body), content_type or JSONAPI
    else:
        text = "" if body is None else str(body)
        content_type = content_type or "text/plain; charset=utf-8"
    headers = {name: str(value) for name, value in (respond.get("headers") or {}).items()}
    return Response(text, status=status, headers=headers, content_type=content_type)


def gateway_timeout() -> Response:
    """What a load balancer answers when the app behind it never did."""
    html = "<html><body><h1>504 Gateway Time-out</h1></body></html>"
    return Response(html, status=504, content_type="text/html")


def status_title(status: int) -> str:
    """Return the HTTP reason phrase for `status`."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def doi_resource(record: DoiRecord, *, publisher_object: bool = False) -> dict:
    """Return the JSON:API resource object DataCite serves for one DOI."""
    return {
        "id": record.doi,
        "type": "dois",
        "attributes": _attributes(record, publisher_object),
        "relationships": _relationships(record),
    }


def _attributes(record: DoiRecord, publisher_object: bool) -> dict:
    meta = copy.deepcopy(record.metadata)
    attributes: dict = {"doi": record.doi, "prefix": record.prefix, "suffix": record.suffix}
    for name in _LISTS:
        attributes[name] = meta.pop(name, [])
    for name in ("creators", "contributors"):
        attributes[name] = [_with_person_lists(person) for person in attributes[name]]
    attributes["publisher"] = _publisher(meta.pop("publisher", None), publisher_object)
    attributes["publicationYear"] = _year(meta.pop("publicationYear", None))
    attributes["container"] = meta.pop("container", {})
    attributes["types"] = _types(meta.pop("types", {}))
    attributes["schemaVersion"] = meta.pop("schemaVersion", DEFAULT_SCHEMA)
    attributes.update(meta)
    for name in ("url", "contentUrl", "language", "version", "source", "reason", "xml"):
        attributes.setdefault(name, None)
    attributes.update(_bookkeeping(record))
    return attributes


def _bookkeeping(record: DoiRecord) -> dict:
    year = record.metadata.get("publicationYear")
    counts = dict.fromkeys(_COUNTS, 0)
    return {
        "metadataVersion": record.metadata_version,
        "isActive": record.state == FINDABLE,
        "state": record.state,
        **counts,
        "viewsOverTime": [],
        "downloadsOverTime": [],
        "citationsOverTime": [],
        "created": timestamp(record.created),
        "registered": timestamp(record.registered),
        "published": str(year) if year is not None else None,
        "updated": timestamp(record.updated),
    }


def _relationships(record: DoiRecord) -> dict:
    client = record.owner.lower()
    relationships: dict = {
        "client": {"data": {"id": client, "type": "clients"}},
        "provider": {"data": {"id": client.split(".", 1)[0], "type": "providers"}},
    }
    for name in _RELATIONS:
        relationships[name] = {"data": []}
    return relationships


def _with_person_lists(person: object) -> object:
    # DataCite always answers these two as lists, even when they were never sent.
    if isinstance(person, dict):
        person = {**person}
        person.setdefault("nameIdentifiers", [])
        person.setdefault("affiliation", [])
    return person


def _publisher(value: object, as_object: bool) -> object:
    # DataCite answers the name alone unless the client asks with ?publisher=true.
    if as_object:
        return value if isinstance(value, dict) or value is None else {"name": value}
    return value.get("name") if isinstance(value, dict) else value


def _year(value: object) -> object:
    # Stored in an integer column, so a string year comes back as a number.
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def _types(value: object) -> object:
    if not isinstance(value, dict) or "resourceTypeGeneral" not in value:
        return value
    schema_org, citeproc, bibtex, ris = _DERIVED_TYPES.get(
        value["resourceTypeGeneral"], _OTHER_TYPES
    )
    derived = {"ris": ris, "bibtex": bibtex, "citeproc": citeproc, "schemaOrg": schema_org}
    return {**derived, **value}


def timestamp(moment: datetime | None) -> str | None:
    """Format a time the way DataCite does (`2024-01-02T03:04:05.000Z`)."""
    if moment is None:
        return None
    # DataCite keeps whole seconds, so two writes in one second share a timestamp.
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
