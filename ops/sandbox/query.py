"""The `query` parameter of GET /dois: a small model of lupo's Elasticsearch query string.

lupo (Doi.query) hands `query` to an Elasticsearch `query_string` with AND between
terms, over `uid`, related identifiers, titles, creator names and ids, publisher,
descriptions and subjects, and lets `field:value` pick one field. The sandbox matches
whole words case-insensitively (or a whole value exactly, as keyword fields do), keeps
quoted phrases in order, and knows `*` and a trailing `word*`; `OR`, ranges, fuzziness
and regular expressions are Elasticsearch's and not modelled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ops.sandbox.store import DoiRecord

# Doi.query_fields, named as the DOI's JSON attributes rather than index fields.
DEFAULT_FIELDS = (
    "doi",
    "relatedIdentifiers.relatedIdentifier",
    "titles.title",
    "creators.name",
    "creators.nameIdentifiers.nameIdentifier",
    "publisher",
    "descriptions.description",
    "subjects.subject",
)
# Index names a client may also use; the rest of lupo's renames (publicationYear →
# publication_year, …) are undone by turning snake_case back into camelCase.
_INDEX_NAMES = {"uid": "doi", "version_info": "version", "publisher_obj": "publisher"}
_TERM = re.compile(r'(?:([A-Za-z_][\w.]*):)?(?:"([^"]*)"|(\S+))')
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Term:
    """One `field:value`, bare word or quoted phrase of a query."""

    field: str | None
    text: str
    phrase: bool


def parse(query: str) -> list[Term]:
    """Split a query into terms; `AND` between them is the default and is dropped."""
    terms = []
    for match in _TERM.finditer(query):
        field, quoted, bare = match.groups()
        if field is None and bare == "AND":
            continue
        text = quoted if quoted is not None else bare
        terms.append(Term(_field(field) if field else None, text, quoted is not None))
    return terms


def matches(record: DoiRecord, query: str) -> bool:
    """Tell whether the DOI satisfies every term of `query`."""
    return all(_term_matches(record, term) for term in parse(query))


def _field(name: str) -> str:
    segments = [_INDEX_NAMES.get(part, part) for part in name.split(".")]
    return ".".join(re.sub(r"_([a-z])", lambda m: m.group(1).upper(), s) for s in segments)


def _term_matches(record: DoiRecord, term: Term) -> bool:
    if term.field is None and term.text == "*":
        return True
    fields = (term.field,) if term.field else DEFAULT_FIELDS
    return any(_value_matches(value, term) for f in fields for value in values(record, f))


def values(record: DoiRecord, path: str) -> list[str]:
    """Every string the dotted attribute path reaches in the DOI, lists flattened."""
    if path == "doi":
        return [record.doi]
    head, *rest = path.split(".")
    found: list[object] = [record.metadata.get(head)]
    if head == "publisher":
        found = [_publisher(found[0], rest)]
        rest = []
    for key in rest:
        found = [item.get(key) for item in _flat(found) if isinstance(item, dict)]
    return [str(item) for item in _flat(found) if item is not None and not isinstance(item, dict)]


def _publisher(value: object, rest: list[str]) -> object:
    # The index keeps the name as `publisher` and the whole object as `publisher_obj`.
    key = rest[0] if rest else "name"
    if isinstance(value, dict):
        return value.get(key)
    return value if key == "name" else None


def _flat(items: list[object]) -> list[object]:
    flat: list[object] = []
    for item in items:
        flat.extend(item if isinstance(item, list) else [item])
    return flat


def _value_matches(value: str, term: Term) -> bool:
    text, value = term.text.lower(), value.lower()
    if text == "*" or text == value:
        return True
    wanted, have = _WORD.findall(text), _WORD.findall(value)
    if not wanted:
        return False
    if term.phrase:
        width = len(wanted)
        return any(have[i : i + width] == wanted for i in range(len(have) - width + 1))
    prefix = text.endswith("*")
    return all(_word_found(word, have, prefix and word == wanted[-1]) for word in wanted)


def _word_found(word: str, have: list[str], prefix: bool) -> bool:
    return any(item.startswith(word) if prefix else item == word for item in have)
