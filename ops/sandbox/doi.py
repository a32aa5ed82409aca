"""DOI strings as DataCite reads them: loose forms in paths, a strict form on create."""

from __future__ import annotations

import re
import secrets

# The wrappers DataCite strips from a DOI in a path (lupo's `validate_doi`); anything
# else is not a DOI at all and answers 404.
_LOOSE = re.compile(
    r"(?:https?:/(?:/)?(?:dx\.)?(?:doi\.org|handle\.test\.datacite\.org)/)?(?:doi:)?"
    r"(10\.\d{4,5}/.+)",
    re.IGNORECASE,
)
# The format a new DOI must have (Crossref's recommended pattern, as DataCite uses it).
_STRICT = re.compile(r"10\.\d{4,5}/[-._;()/:A-Za-z0-9*~$=]+")
# Crockford base32, lowercase: the alphabet of DataCite's random suffixes.
_SUFFIX_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def extract(raw: str | None) -> str | None:
    """Return the lowercase DOI in `raw` (bare, `doi:` or resolver URL form), or None."""
    if not isinstance(raw, str):
        return None
    match = _LOOSE.fullmatch(raw.strip())
    return match.group(1).lower() if match else None


def is_well_formed(doi: str) -> bool:
    """Tell whether `doi` passes the format DataCite checks when a DOI is created."""
    return _STRICT.fullmatch(doi) is not None


def prefix_of(doi: str) -> str:
    """Return the prefix part (`10.1234`) of a DOI."""
    return doi.split("/", 1)[0]


def suffix_of(doi: str) -> str:
    """Return everything after the first slash of a DOI."""
    return doi.split("/", 1)[1] if "/" in doi else ""


def random_suffix() -> str:
    """Mint a suffix shaped like DataCite's (`xxxx-xxxx`)."""
    chars = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"
