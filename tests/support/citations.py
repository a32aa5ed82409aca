"""The invariant every lifecycle test checks at the end: no DOI cites one that does not resolve."""

from __future__ import annotations

from typing import Any

import requests

# DataCite resolves registered (hidden) and findable DOIs; drafts and deleted DOIs do not.
RESOLVING = ("findable", "registered")


def dangling_citations(sandbox_url: str, auth: tuple[str, str]) -> list[tuple[str, str, str]]:
    """(citing DOI, relation, cited DOI) for every citation of a DOI that does not resolve."""
    listing = requests.get(f"{sandbox_url}/__sandbox/dois", timeout=5).json()
    states = {item["doi"].lower(): item["state"] for item in listing}
    dangling = []
    for doi in states:
        for relation in _related_dois(sandbox_url, auth, doi):
            cited = relation["relatedIdentifier"].lower()
            if states.get(cited) not in RESOLVING:
                dangling.append((doi, relation["relationType"], cited))
    return dangling


def _related_dois(sandbox_url: str, auth: tuple[str, str], doi: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{sandbox_url}/dois/{doi}", auth=auth, timeout=5)
    answer.raise_for_status()
    related = answer.json()["data"]["attributes"].get("relatedIdentifiers") or []
    return [r for r in related if r.get("relatedIdentifierType") == "DOI"]
