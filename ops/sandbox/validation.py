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
from ops.sandbox import kernel, shapes
from ops.sandbox.store import DRAFT, DoiRecord

BLANK = kernel.BLANK
INVALID = kernel.INVALID
# lupo's own wording for a URL that fails its format check.
URL_INVALID = "URL is not valid"
_URL_FORMAT = re.compile(r"(ftp|http|https)://\S+")


def check(
    record: DoiRecord, *, created: bool, domains: Iterable[str] | None, client: str
) -> list[dict]:
    """Return DataCite-style errors for `record`, the first one per source."""
    schema = _schema_version(record.metadata, created)
    found = list(_doi_errors(record.doi, created))
    found += _url_errors(record, domains, client)
    # Before the kernel checks: their titles only approximate lupo's XML-schema errors,
    # while a shape error's title is lupo's own, so it should be the one reported.
    found += shapes.shape_errors(record.metadata, schema)
    if record.state != DRAFT:
        found += _kernel_errors(record, schema, model_failed=bool(found))
    return _first_per_source(found)


def _kernel_errors(record: DoiRecord, schema: str | None, *, model_failed: bool) -> list:
    errors = kernel.errors(record.metadata, record.doi)
    if not errors or schema in kernel.SCHEMAS:
        return errors
    # Without a kernel-4 schemaVersion (a new DOI sent none) XmlSchemaValidator skips
    # the DOI; the XML is first checked when its Metadata row is saved, after every model
    # check passed, and all lupo reports is that (post_spec.rb "creators no xml").
    return [] if model_failed else [("metadata", INVALID)]


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
