"""lupo's per-attribute shape checks, which run in every state, draft included.

Each is `validate :check_<name>, if: :<name>?` in lupo's app/models/doi.rb: it runs
whenever the attribute is present, whatever the DOI's state, and adds one error per bad
item under the attribute's column name. Only the checks a client can actually trip are
here: `check_subjects` and the object test of `check_rights_list` and
`check_identifiers` never fire, because `before_validation` normalizers turn or drop the
offending items first (see `ops.sandbox.params`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

KERNEL_4 = "http://datacite.org/schema/kernel-4"
OBJECT_EXPECTED = "should be an object instead of a string."

# JSON name → (error source, how lupo names one item in its message); every item must
# be an object. lupo's Doi#check_dates is the one message without quotes.
_ITEM_CHECKS = {
    "dates": ("dates", "Date {}"),
    "titles": ("titles", "Title '{}'"),
    "descriptions": ("descriptions", "Description '{}'"),
    "creators": ("creators", "Creator '{}'"),
    "contributors": ("contributors", "Contributor '{}'"),
    "identifiers": ("identifiers", "Identifier '{}'"),
    "relatedIdentifiers": ("related_identifiers", "Related identifier '{}'"),
    "relatedItems": ("related_items", "Related item '{}'"),
    "fundingReferences": ("funding_references", "Funding reference '{}'"),
    "geoLocations": ("geo_locations", "Geolocation '{}'"),
}
# The same test for attributes that are one object, not a list of them.
_OBJECT_CHECKS = {
    "types": ("types", "Types '{}'"),
    "container": ("container", "Container '{}'"),
    "landingPage": ("landing_page", "Landing page '{}'"),
}
# Doi#check_contributors' list, enforced only when schema_version is exactly kernel-4.
CONTRIBUTOR_TYPES = frozenset(
    {
        "ContactPerson",
        "DataCollector",
        "DataCurator",
        "DataManager",
        "Distributor",
        "Editor",
        "HostingInstitution",
        "Other",
        "Producer",
        "ProjectLeader",
        "ProjectManager",
        "ProjectMember",
        "RegistrationAgency",
        "RegistrationAuthority",
        "RelatedPerson",
        "ResearchGroup",
        "RightsHolder",
        "Researcher",
        "Sponsor",
        "Supervisor",
        "Translator",
        "WorkPackageLeader",
    }
)
RIGHTS_MAX = 2000
# The order of lupo's `validate :check_*` lines, which is the order of its errors.
_CHECKED_BEFORE_CONTRIBUTORS = (
    "dates",
    "rightsList",
    "titles",
    "descriptions",
    "types",
    "container",
    "creators",
)
_CHECKED_AFTER_CONTRIBUTORS = (
    "landingPage",
    "identifiers",
    "relatedIdentifiers",
    "relatedItems",
    "fundingReferences",
    "geoLocations",
)


def shape_errors(metadata: dict, schema_version: str | None) -> Iterator[tuple[str, str]]:
    """Yield (source, title) for every shape lupo refuses, in lupo's order of checks."""
    for name in _CHECKED_BEFORE_CONTRIBUTORS:
        yield from _check(name, metadata.get(name))
    yield from _contributor_errors(metadata.get("contributors"), schema_version)
    for name in _CHECKED_AFTER_CONTRIBUTORS:
        yield from _check(name, metadata.get(name))


def _check(name: str, value: object) -> Iterator[tuple[str, str]]:
    if not present(value):
        return
    if name == "rightsList":
        yield from _rights_errors(value)
    elif name in _OBJECT_CHECKS:
        source, item = _OBJECT_CHECKS[name]
        if not isinstance(value, dict):
            yield source, f"{item.format(ruby_s(value))} {OBJECT_EXPECTED}"
    else:
        source, item = _ITEM_CHECKS[name]
        for bad in (v for v in wrap(value) if not isinstance(v, dict)):
            yield source, f"{item.format(ruby_s(bad))} {OBJECT_EXPECTED}"


def _contributor_errors(value: object, schema_version: str | None) -> Iterator[tuple[str, str]]:
    if not present(value):
        return
    for contributor in wrap(value):
        if not isinstance(contributor, dict):
            yield "contributors", f"Contributor '{ruby_s(contributor)}' {OBJECT_EXPECTED}"
        elif schema_version == KERNEL_4:
            yield from _contributor_type_errors(contributor)


def _contributor_type_errors(contributor: dict) -> Iterator[tuple[str, str]]:
    # Doi#check_contributors interpolates the whole (permitted) hash, as Ruby prints it.
    kind = contributor.get("contributorType")
    if blank(kind):
        missing = "is missing a required element: contributor type."
        yield "contributors", f"Contributor '{ruby_s(contributor)}' {missing}"
    elif not isinstance(kind, str) or kind not in CONTRIBUTOR_TYPES:
        unsupported = f"has a contributor type that is not supported in schema 4: '{ruby_s(kind)}'."
        yield "contributors", f"Contributor '{ruby_s(contributor)}' {unsupported}"


def _rights_errors(value: object) -> Iterator[tuple[str, str]]:
    # Doi#check_rights_list's length limit; its object test is unreachable (see above).
    for rights in wrap(value):
        if isinstance(rights, dict) and len(ruby_s(rights.get("rights"))) > RIGHTS_MAX:
            yield "rights_list", "Rights should not have a length of more than 2000 characters."


def present(value: object) -> bool:
    """Rails' `attribute?` for a JSON column: not nil, false, blank or zero."""
    if value is None or value is False:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | dict):
        return bool(value)
    return not (isinstance(value, int | float) and value == 0)


def blank(value: object) -> bool:
    """Rails' `blank?`: nil, false, an empty or whitespace string, an empty list or hash."""
    if value is None or value is False:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | dict) and not value


def wrap(value: object) -> list:
    """Ruby's Array.wrap: a list as is, nil as empty, anything else in a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def ruby_s(value: object) -> str:
    """What Ruby's string interpolation (`"#{value}"`) makes of a JSON value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return _inspect(value) if isinstance(value, list | dict) else str(value)


def _inspect(value: object) -> str:
    # Array#to_s and Hash#to_s are #inspect. lupo runs Ruby 4.0 (.ruby-version), whose
    # Hash#inspect has spaces around `=>` for string keys (changed in Ruby 3.4).
    if isinstance(value, dict):
        pairs = (f"{_inspect(key)} => {_inspect(item)}" for key, item in value.items())
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_inspect(item) for item in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return "nil" if value is None else ruby_s(value)
