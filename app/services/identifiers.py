"""Dataset and version names, and the deterministic DOI strings built from them."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import unquote

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# Version names a DOI cannot end in: `{doi}/retry` is the API's re-drive path.
RESERVED_VERSION_NAMES = frozenset({"retry"})
DOI_PATTERN = re.compile(r"^10\.\d{4,9}/[-._;()/:a-z0-9*~$=]+$")
DOI_FORMS = (
    "https://doi.org/",
    "http://doi.org/",
    "https://dx.doi.org/",
    "http://dx.doi.org/",
    "doi:",
)


def is_valid_name(name: str) -> bool:
    """Dataset identifiers and version names share one pattern."""
    return bool(NAME_PATTERN.fullmatch(name))


def default_version_name(now: datetime) -> str:
    """`0.YYMMDD.HHMM` in UTC, as DANDI names its versions."""
    return now.strftime("0.%y%m%d.%H%M")


def concept_doi(prefix: str, instance: str, dataset_id: str) -> str:
    """`{prefix}/{instance}.{dataset}`, canonical lowercase."""
    return f"{prefix}/{instance}.{dataset_id}".lower()


def version_doi(prefix: str, instance: str, dataset_id: str, version: str) -> str:
    """`{prefix}/{instance}.{dataset}/{version}`, canonical lowercase."""
    return f"{concept_doi(prefix, instance, dataset_id)}/{version}".lower()


def normalise_doi(text: str) -> str | None:
    """Canonical form of a DOI given as `10.x/y`, `doi:10.x/y` or a doi.org URL; None if not one."""
    candidate = unquote(text.strip())
    for form in DOI_FORMS:
        if candidate.lower().startswith(form):
            candidate = candidate[len(form) :]
            break
    candidate = candidate.lower()
    return candidate if DOI_PATTERN.fullmatch(candidate) else None
