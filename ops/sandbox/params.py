"""What lupo does to a payload's attributes before it validates them.

Three steps change what DataCite stores without ever answering an error, so a client
that relies on the sandbox keeping them would be surprised by the real service:
Rails' strong parameters, the `alternateIdentifiers` alias, and two of the model's
`before_validation` normalizers (`update_identifiers`, `update_language`).
"""

from __future__ import annotations

import re

# The attributes ParamsSanitizer::ATTRIBUTES_MAP permits as lists of objects
# (`{ titles: %i[title titleType lang] }` and alike). For such a filter Rails keeps only
# the objects of a list (ActionController::Parameters#each_element:
# `object.grep(Parameters)`), so a string inside the list vanishes silently. A bare
# scalar passes the matching scalar filter (`:titles`) and reaches the model's
# `check_*` validation instead.
OBJECT_LISTS = frozenset(
    {
        "titles",
        "descriptions",
        "creators",
        "contributors",
        "subjects",
        "dates",
        "rightsList",
        "identifiers",
        "relatedIdentifiers",
        "relatedItems",
        "fundingReferences",
        "geoLocations",
    }
)

# ParamsSanitizer::ATTRIBUTES_MAP's filters for one creator or contributor. Rails'
# `permit` keeps these keys only, in this order (the order lupo's error messages print a
# contributor in); a scalar key keeps scalars, a nested one objects.
_NAME_IDENTIFIER = ("nameIdentifier", "nameIdentifierScheme", "schemeUri")
_AFFILIATION = ("name", "affiliationIdentifier", "affiliationIdentifierScheme", "schemeUri")
_PERSON: tuple = (
    "nameType",
    ("nameIdentifiers", _NAME_IDENTIFIER),
    "name",
    "givenName",
    "familyName",
    ("affiliation", _AFFILIATION),
)
PEOPLE = {"creators": (*_PERSON, "lang"), "contributors": (*_PERSON, "contributorType", "lang")}
_SCALARS = (str, int, float, bool, type(None))

# lupo's Doi#update_language keeps a language only in this form (or an ISO 639 match).
# Ruby's ^ and $ anchor at line breaks, hence MULTILINE.
_LANGUAGE = re.compile(r"^[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*$", re.MULTILINE)


def sanitize(attributes: dict) -> dict:
    """Return the attributes as lupo's model sees them before its validations run."""
    attributes = _with_identifiers_alias(attributes)
    attributes = _permitted_lists(attributes)
    attributes = _permitted_people(attributes)
    attributes = _without_doi_identifiers(attributes)
    return _with_language_checked(attributes)


def _with_identifiers_alias(attributes: dict) -> dict:
    # DataciteDoisController#safe_params still maps the kernel-4.0 name onto `identifiers`.
    legacy = attributes.get("alternateIdentifiers")
    if "identifiers" in attributes or not isinstance(legacy, list) or not legacy:
        return attributes
    identifiers = [
        {
            "identifier": item.get("alternateIdentifier"),
            "identifierType": item.get("alternateIdentifierType"),
        }
        for item in legacy
        if isinstance(item, dict)
    ]
    return {**attributes, "identifiers": identifiers}


def _permitted_lists(attributes: dict) -> dict:
    permitted = dict(attributes)
    for name in OBJECT_LISTS & permitted.keys():
        value = permitted[name]
        if isinstance(value, list):
            permitted[name] = [item for item in value if isinstance(item, dict)]
    return permitted


def _permitted_people(attributes: dict) -> dict:
    permitted = dict(attributes)
    for name, keys in PEOPLE.items():
        if isinstance(permitted.get(name), list):
            permitted[name] = [permit(person, keys) for person in permitted[name]]
    return permitted


def permit(item: dict, keys: tuple) -> dict:
    """Rails' `permit(*keys)` on one object: declared keys only, in declaration order."""
    kept: dict = {}
    for key in keys:
        if isinstance(key, str):
            if key in item and isinstance(item[key], _SCALARS):
                kept[key] = item[key]
            continue
        name, nested = key
        value = item.get(name)
        if isinstance(value, list):
            kept[name] = [permit(entry, nested) for entry in value if isinstance(entry, dict)]
        elif isinstance(value, dict):
            kept[name] = permit(value, nested)
    return kept


def _without_doi_identifiers(attributes: dict) -> dict:
    # Doi#update_identifiers drops these before `check_identifiers` could complain, so
    # its "IdentifierType DOI not supported" error never reaches a client.
    identifiers = attributes.get("identifiers")
    if not isinstance(identifiers, list):
        return attributes
    kept = [item for item in identifiers if item.get("identifierType") != "DOI"]
    return {**attributes, "identifiers": kept}


def _with_language_checked(attributes: dict) -> dict:
    value = attributes.get("language")
    if isinstance(value, list | dict):
        # Permitted as a scalar only, so strong parameters drop it: nothing changes.
        return {key: item for key, item in attributes.items() if key != "language"}
    if _language_kept(value):
        return attributes
    # Doi#update_language sets an unrecognised form to nil, so `check_language` never
    # fails: DataCite stores no language rather than answering 422. (Recognised names
    # and codes are rewritten to ISO 639-1, e.g. "English" and "en-GB" become "en"; the
    # sandbox has no ISO table and keeps them as sent.)
    return {**attributes, "language": None}


def _language_kept(value: object) -> bool:
    # Blank skips the normalizer (`if: :language?`); a well-formed tag survives it.
    if value is None:
        return True
    if not isinstance(value, str):
        return False
    return not value.strip() or _LANGUAGE.search(value) is not None
