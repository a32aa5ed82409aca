"""The checks DataCite runs before saving a DOI.

Shape checks (`ops.sandbox.shapes`) and the URL format run in every state; presence of
the kernel-4 properties and the repository's domain list only outside draft.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

from ops.sandbox import doi as doi_strings
from ops.sandbox import shapes
from ops.sandbox.store import DRAFT, DoiRecord

# DataCite Metadata Schema 4.5, resourceTypeGeneral.
RESOURCE_TYPES_GENERAL = frozenset(
    {
        "Audiovisual",
        "Award",
        "Book",
        "BookChapter",
        "Collection",
        "ComputationalNotebook",
        "ConferencePaper",
        "ConferenceProceeding",
        "DataPaper",
        "Dataset",
        "Dissertation",
        "Event",
        "Image",
        "Instrument",
        "InteractiveResource",
        "Journal",
        "JournalArticle",
        "Model",
        "OutputManagementPlan",
        "PeerReview",
        "PhysicalObject",
        "Preprint",
        "Project",
        "Report",
        "Service",
        "Software",
        "Sound",
        "Standard",
        "StudyRegistration",
        "Text",
        "Workflow",
        "Other",
    }
)

BLANK = "Can't be blank"
INVALID = "Is invalid"
# lupo's own wording for a URL that fails its format check.
URL_INVALID = "URL is not valid"
_URL_FORMAT = re.compile(r"(ftp|http|https)://\S+")
_YEAR = re.compile(r"\d{4}")


def check(
    record: DoiRecord, *, created: bool, domains: Iterable[str] | None, client: str
) -> list[dict]:
    """Return DataCite-style errors for `record`, the first one per source."""
    found = list(_doi_errors(record.doi, created))
    found += _url_errors(record, domains, client)
    # Before the kernel checks: their titles only approximate lupo's XML-schema errors,
    # while a shape error's title is lupo's own, so it should be the one reported.
    found += shapes.shape_errors(record.metadata, _schema_version(record.metadata, created))
    if record.state != DRAFT:
        found += _kernel_errors(record.metadata)
    return _first_per_source(found)


def _schema_version(metadata: dict, created: bool) -> str | None:
    # DataciteDoisController#update validates an existing DOI sent without schemaVersion
    # as its stored one or LAST_SCHEMA_VERSION (kernel-4); a new DOI has none by default.
    sent = metadata.get("schemaVersion")
    if sent or created:
        return sent
    return shapes.KERNEL_4


def _doi_errors(doi: str, created: bool) -> Iterator[tuple[str, str]]:
    # DataCite checks the format on create only; existing DOIs are grandfathered.
    if created and not doi_strings.is_well_formed(doi):
        yield "doi", INVALID


def _url_errors(
    record: DoiRecord, domains: Iterable[str] | None, client: str
) -> Iterator[tuple[str, str]]:
    url = record.metadata.get("url")
    if _blank(url):
        if record.state != DRAFT:
            yield "url", BLANK
        return
    if not isinstance(url, str) or not _URL_FORMAT.match(url):
        yield "url", URL_INVALID
        return
    # Repository domain settings are enforced only once the DOI resolves.
    if record.state != DRAFT and not host_allowed(url, domains):
        yield "url", f"URL {url} is not allowed by repository {client} domain settings."


def host_allowed(url: str, domains: Iterable[str] | None) -> bool:
    """Tell whether the URL's host matches the repository's domain list (None = any)."""
    if domains is None:
        return True
    patterns = [domain.strip().lower() for domain in domains if domain.strip()]
    if not patterns or "*" in patterns:
        return True
    host = (urlsplit(url).hostname or "").lower()
    return any(fnmatch.fnmatchcase(host, pattern) for pattern in patterns)


def _kernel_errors(metadata: dict) -> list[tuple[str, str]]:
    return [
        *_list_errors(metadata.get("creators"), "creators", _creator_named),
        *_list_errors(metadata.get("titles"), "titles", _title_present),
        *_publisher_errors(metadata.get("publisher")),
        *_year_errors(metadata.get("publicationYear")),
        *_types_errors(metadata.get("types")),
    ]


def _list_errors(value: object, source: str, item_ok) -> Iterator[tuple[str, str]]:
    if _blank(value):
        yield source, BLANK
    elif not isinstance(value, list) or not all(item_ok(item) for item in value):
        yield source, INVALID


def _creator_named(creator: object) -> bool:
    if not isinstance(creator, dict):
        return False
    return not _blank(creator.get("name")) or not _blank(creator.get("familyName"))


def _title_present(title: object) -> bool:
    return isinstance(title, dict) and not _blank(title.get("title"))


def _publisher_errors(publisher: object) -> Iterator[tuple[str, str]]:
    if isinstance(publisher, dict):
        publisher = publisher.get("name")
    if _blank(publisher):
        yield "publisher", BLANK
    elif not isinstance(publisher, str):
        yield "publisher", INVALID


def _year_errors(year: object) -> Iterator[tuple[str, str]]:
    # DataCite reports this under its column name, publication_year.
    if _blank(year):
        yield "publication_year", BLANK
    elif isinstance(year, bool) or not _YEAR.fullmatch(str(year)):
        yield "publication_year", INVALID


def _types_errors(types: object) -> Iterator[tuple[str, str]]:
    general = types.get("resourceTypeGeneral") if isinstance(types, dict) else None
    if _blank(general):
        yield "types", BLANK
    elif general not in RESOURCE_TYPES_GENERAL:
        yield "types", INVALID


def _blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | dict):
        return not value
    return False


def _first_per_source(found: list[tuple[str, str]]) -> list[dict]:
    seen: dict[str, dict] = {}
    for source, title in found:
        seen.setdefault(source, {"source": source, "title": title})
    return list(seen.values())
