"""What DataCite's kernel-4 XML schema refuses once a DOI leaves draft.

lupo checks the XML it generates from the attributes against bolognese's copy of the
schema (XmlSchemaValidator); the sandbox checks the attributes themselves. Sources are
the attributes' column names; titles approximate the XML errors, which name a line of
XML the client never sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ops.sandbox.shapes import ruby_s

BLANK = "Can't be blank"
INVALID = "Is invalid"
_YEAR = re.compile(r"\d{4}")

# The schemaVersion values XmlSchemaValidator#get_valid_kernel maps to kernel-4; with
# any other (or none) it checks nothing itself.
SCHEMAS = frozenset(
    f"http://datacite.org/schema/kernel-{version}" for version in ("4", "4.0", "4.1", "4.2", "4.3")
)
# DataCite Metadata Schema 4.7, relationType, in the schema's order (libxml2 lists the
# allowed values that way in its error).
RELATION_TYPES = (
    "IsCitedBy",
    "Cites",
    "IsSupplementTo",
    "IsSupplementedBy",
    "IsContinuedBy",
    "Continues",
    "IsNewVersionOf",
    "IsPreviousVersionOf",
    "IsPartOf",
    "HasPart",
    "IsPublishedIn",
    "IsReferencedBy",
    "References",
    "IsDocumentedBy",
    "Documents",
    "IsCompiledBy",
    "Compiles",
    "IsVariantFormOf",
    "IsOriginalFormOf",
    "IsIdenticalTo",
    "HasMetadata",
    "IsMetadataFor",
    "Reviews",
    "IsReviewedBy",
    "IsDerivedFrom",
    "IsSourceOf",
    "Describes",
    "IsDescribedBy",
    "HasVersion",
    "IsVersionOf",
    "Requires",
    "IsRequiredBy",
    "Obsoletes",
    "IsObsoletedBy",
    "Collects",
    "IsCollectedBy",
    "HasTranslation",
    "IsTranslationOf",
    "Other",
)
# XmlSchemaValidator's sources for an attribute error: the element name up to the
# attribute's closing quote, cut one character short ("creatorName', attribute 'nameType").
RELATION_SOURCE = "relatedIdentifier', attribute 'relationType"

# DataCite Metadata Schema 4.7, resourceTypeGeneral.
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
        "Poster",
        "Preprint",
        "Presentation",
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


def errors(metadata: dict, uid: str) -> list[tuple[str, str]]:
    """(source, title) for each kernel-4 property a registered or findable DOI lacks."""
    return [
        *_list_errors(metadata.get("creators"), "creators", _creator_named),
        *_list_errors(metadata.get("titles"), "titles", _title_given),
        *_publisher_errors(metadata.get("publisher")),
        *_year_errors(metadata.get("publicationYear")),
        *_types_errors(metadata.get("types")),
        *_relation_errors(metadata.get("relatedIdentifiers"), uid),
    ]


def _list_errors(value: object, source: str, item_ok) -> Iterator[tuple[str, str]]:
    if _blank(value):
        yield source, BLANK
    elif not isinstance(value, list) or not all(item_ok(item) for item in value):
        yield source, INVALID


def _creator_named(creator: object) -> bool:
    # creatorName is a plain xs:string: an empty or blank name passes the schema, and
    # lupo's check_creators looks at the shape only. A creator with no name at all is
    # still refused: that bolognese 2.7 writes an empty creatorName for it is unverified.
    if not isinstance(creator, dict):
        return False
    return creator.get("name") is not None or not _blank(creator.get("familyName"))


def _title_given(title: object) -> bool:
    # title is a plain xs:string too, so "" and " " are titles as far as DataCite goes.
    return isinstance(title, dict) and title.get("title") is not None


def _publisher_errors(publisher: object) -> Iterator[tuple[str, str]]:
    # publisher is a nonemptycontentStringType (minLength 1): only "" is empty, " " is not.
    if isinstance(publisher, dict):
        publisher = publisher.get("name")
    if publisher is None or publisher == "":
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


def _relation_errors(related: object, uid: str) -> Iterator[tuple[str, str]]:
    # bolognese writes relationType as an attribute the schema requires and enumerates;
    # lupo's titles are "DOI <uid>: <libxml2 message> at line …" (the line is left out).
    for item in related if isinstance(related, list) else []:
        kind = item.get("relationType") if isinstance(item, dict) else None
        if kind is None:
            message = "The attribute 'relationType' is required but missing."
            yield "relatedIdentifier", f"DOI {uid}: {message}"
        elif ruby_s(kind) not in RELATION_TYPES:
            allowed = ", ".join(f"'{name}'" for name in RELATION_TYPES)
            message = f"The value '{ruby_s(kind)}' is not an element of the set {{{allowed}}}."
            yield RELATION_SOURCE, f"DOI {uid}: [facet 'enumeration'] {message}"


def _blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | dict):
        return not value
    return False
